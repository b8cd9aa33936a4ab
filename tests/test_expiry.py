"""The expiry job: lots past their date lose what they hold, once, traced to their issuer, and members see what is coming."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select

from gateway.core import Core, build_host, open_core
from gateway.ledger.expiry import expire_points, expiring_by_month
from gateway.ledger.postings import MemberRef
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.verify import verify_ledger
from gateway.member_status import freeze_member
from gateway.persistence.models import (
    entry_table,
    lot_consumption_table,
    lot_table,
    member_table,
    posting_table,
)
from gateway.settings import Settings
from tests.helpers import earn, enrol_phone, retail_purchase
from tests.pending_plugin import BoutiquePlugin, BoutiqueSaleInput

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
"""The tests' clock: every earn and run passes its own time, so months are fixed."""


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    return [("boutique", BoutiquePlugin())]


def _purchase(yuan: int, at: datetime) -> object:
    return retail_purchase([("SKU1", "grocery", 1, f"{yuan}.00")], purchased_at=at)


async def _member(core: Core, phone: str = "13800138000") -> int:
    return await enrol_phone(core, phone, T0 - timedelta(days=400))


async def _balances(core: Core, member_id: int) -> tuple[int, int]:
    async with core.db.read() as conn:
        row = (
            await conn.execute(
                select(member_table.c.points_balance, member_table.c.pending_balance).where(member_table.c.id == member_id)
            )
        ).one()
    return int(row[0]), int(row[1])


async def _count(core: Core, kind: str) -> int:
    async with core.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(posting_table).where(posting_table.c.kind == kind)))


async def _verified(core: Core) -> bool:
    async with core.db.read() as conn:
        return await verify_ledger(conn) == []


async def test_a_lot_past_its_date_loses_what_it_holds_to_the_expiry_account(core: Core) -> None:
    member_id = await _member(core)
    old = await earn(core, member_id, "R-OLD", _purchase(100, T0 - relativedelta(months=25)), T0)
    await earn(core, member_id, "R-NEW", _purchase(300, T0), T0)

    report = await expire_points(core, now=T0)

    assert [(m.member_id, m.points, m.pending_points, m.lots) for m in report.members] == [(member_id, 100, 0, 1)]
    assert await _balances(core, member_id) == (300, 0)
    posting_id = report.members[0].posting_id
    async with core.db.read() as conn:
        posting = (await conn.execute(select(posting_table).where(posting_table.c.id == posting_id))).mappings().one()
        entries = set((await conn.execute(select(entry_table.c.account, entry_table.c.member_id, entry_table.c.amount).where(entry_table.c.posting_id == posting_id))).all())
        lot_id, remaining = (await conn.execute(select(lot_table.c.id, lot_table.c.remaining).where(lot_table.c.posting_id == old.id))).one()
        traced = (await conn.execute(select(lot_consumption_table.c.lot_id, lot_consumption_table.c.points).where(lot_consumption_table.c.posting_id == posting_id))).all()
    assert (posting["kind"], posting["format"], posting["points"], posting["balance_after"]) == ("expire", "retail", -100, 300)
    assert entries == {("member.wallet", member_id, -100), ("group.expiry", None, 100)}
    assert remaining == 0
    assert [tuple(t) for t in traced] == [(lot_id, 100)]
    assert await _verified(core)


async def test_only_what_is_left_of_a_partly_spent_lot_expires(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _purchase(1000, T0 - relativedelta(months=23)), T0)
    await redeem(core, RedeemRequest(MemberRef(member_id=member_id), "dining", "dessert_voucher", 1, "RD-1"), now=T0)

    report = await expire_points(core, now=T0 + relativedelta(months=2))

    assert report.points == 200
    assert await _balances(core, member_id) == (0, 0)
    assert await _verified(core)


async def test_a_second_run_expires_nothing(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _purchase(100, T0 - relativedelta(months=25)), T0)
    await expire_points(core, now=T0)

    again = await expire_points(core, now=T0 + timedelta(hours=1))

    assert again.members == []
    assert await _count(core, "expire") == 1


async def test_two_concurrent_runs_expire_the_points_once(core: Core) -> None:
    members = [await _member(core, f"1380013800{n}") for n in range(5)]
    for n, member_id in enumerate(members):
        await earn(core, member_id, f"R-{n}", _purchase(100 + n, T0 - relativedelta(months=25)), T0)
        await earn(core, member_id, f"R-KEEP-{n}", _purchase(50, T0), T0)

    first, second = await asyncio.gather(expire_points(core, now=T0), expire_points(core, now=T0 + timedelta(seconds=1)))

    assert first.points + second.points == sum(100 + n for n in range(5))
    assert await _count(core, "expire") == 5
    assert [await _balances(core, member_id) for member_id in members] == [(50, 0)] * 5
    assert await _verified(core)


async def test_pending_points_that_expire_while_still_pending_leave_the_pending_account(
    core: Core, settings: Settings, extra_plugins: list[tuple[str, object]]
) -> None:
    six_months = settings.model_copy(update={"points_expiry_n": 6})
    short = await open_core(six_months, build_host(six_months, extra_plugins))
    try:
        member_id = await _member(short)
        sold = T0 - relativedelta(months=8)  # expired two months ago, pending for four more
        sale = BoutiqueSaleInput(points_now=10, points_later=100, pending_days=366, sold_at=sold)
        await earn(short, member_id, "B-1", sale, sold + timedelta(minutes=1), format_code="boutique", kind="sale")
        assert await _balances(short, member_id) == (10, 100)

        report = await expire_points(short, now=T0)
    finally:
        await short.close()

    assert [(m.points, m.pending_points) for m in report.members] == [(10, 100)]
    assert await _balances(core, member_id) == (0, 0)
    async with core.db.read() as conn:
        posting_id = report.members[0].posting_id
        entries = set((await conn.execute(select(entry_table.c.account, entry_table.c.amount).where(entry_table.c.posting_id == posting_id))).all())
    assert entries == {("member.wallet", -10), ("member.pending", -100), ("group.expiry", 110)}
    assert await _count(core, "release") == 0
    assert await _verified(core)


async def test_a_frozen_members_points_expire_too(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _purchase(100, T0 - relativedelta(months=25)), T0)
    await freeze_member(core.db, MemberRef(member_id=member_id), actor="admin", reason="fraud review", now=T0)

    assert (await expire_points(core, now=T0)).points == 100


async def test_points_expiring_are_grouped_by_month_over_the_next_months(core: Core) -> None:
    member_id = await _member(core)
    for key, yuan, earned in [("A", 100, datetime(2026, 9, 2, tzinfo=UTC)), ("B", 200, datetime(2026, 10, 5, tzinfo=UTC)),
                              ("C", 300, datetime(2026, 10, 25, tzinfo=UTC)), ("D", 400, T0)]:
        await earn(core, member_id, key, _purchase(yuan, earned), T0)

    async with core.db.read() as conn:
        august = await expiring_by_month(conn, core.settings, member_id, now=datetime(2028, 8, 15, tzinfo=UTC), months=3)
        wider = await expiring_by_month(conn, core.settings, member_id, now=datetime(2028, 8, 15, tzinfo=UTC), months=4)
        late = await expiring_by_month(conn, core.settings, member_id, now=datetime(2028, 10, 10, tzinfo=UTC), months=1)

    assert august == [("2028-09", 100), ("2028-10", 500)]
    assert wider == [("2028-09", 100), ("2028-10", 500), ("2028-11", 400)]
    assert late == [("2028-10", 600)]  # September's lot is past its date but not yet expired by the job


async def test_points_kept_to_the_end_of_a_month_are_shown_expiring_in_that_month(
    core: Core, settings: Settings, extra_plugins: list[tuple[str, object]]
) -> None:
    month_end = settings.model_copy(update={"points_expiry_policy": "end_of_month", "points_expiry_n": 0, "timezone": "Asia/Shanghai"})
    monthly = await open_core(month_end, build_host(month_end, extra_plugins))
    try:
        member_id = await _member(monthly)
        await earn(monthly, member_id, "R-1", _purchase(100, datetime(2026, 11, 3, tzinfo=UTC)), T0)
        async with monthly.db.read() as conn:
            coming = await expiring_by_month(conn, monthly.settings, member_id, now=T0, months=1)
    finally:
        await monthly.close()

    assert coming == [("2026-11", 100)]  # expires at midnight starting December 1 in Shanghai
