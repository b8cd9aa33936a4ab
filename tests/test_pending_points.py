"""Pending points: earned now, spendable later, released exactly once by the next write, shown truly by reads."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.adjust import AdjustRequest, adjust_points
from gateway.ledger.postings import MemberRef, PostingResult
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.verify import verify_ledger
from gateway.members import get_members
from gateway.persistence.models import (
    entry_table,
    lot_table,
    member_table,
    posting_table,
)
from tests.helpers import earn, enrol_phone, retail_purchase, snapshot
from tests.pending_plugin import BoutiquePlugin, BoutiqueSaleInput

PHONE = "13800138000"


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    return [("boutique", BoutiquePlugin())]


async def _sale(
    core: Core, member_id: int, key: str, now: datetime, *, points_now: int = 10, points_later: int = 100, days: int = 14,
    sold_at: datetime | None = None,
) -> PostingResult:
    sale = BoutiqueSaleInput(points_now=points_now, points_later=points_later, pending_days=days, sold_at=sold_at)
    return await earn(core, member_id, key, sale, now, format_code="boutique", kind="sale")


async def _balances(core: Core, member_id: int) -> tuple[int, int]:
    """``(points_balance, pending_balance)`` as stored."""
    async with core.db.read() as conn:
        row = (
            await conn.execute(
                select(member_table.c.points_balance, member_table.c.pending_balance).where(member_table.c.id == member_id)
            )
        ).one()
    return int(row[0]), int(row[1])


async def _releases(core: Core) -> int:
    async with core.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(posting_table).where(posting_table.c.kind == "release")))


async def _verified(core: Core) -> bool:
    async with core.db.read() as conn:
        return await verify_ledger(conn) == []


def _gift_wrap(member_id: int, key: str, quantity: int = 1) -> RedeemRequest:
    return RedeemRequest(MemberRef(member_id=member_id), "boutique", "gift_wrap", quantity, key)


async def test_pending_points_go_to_the_pending_account_and_a_lot_of_their_own(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)

    result = await _sale(core, member_id, "B-1", now)

    assert (result.points, result.balance_after) == (110, 10)
    assert "(available from" in result.lines[1]["reason"]
    assert await _balances(core, member_id) == (10, 100)
    async with core.db.read() as conn:
        entries = set((await conn.execute(select(entry_table.c.account, entry_table.c.member_id, entry_table.c.amount))).all())
        lots = (await conn.execute(select(lot_table.c.points, lot_table.c.pending, lot_table.c.available_at).order_by(lot_table.c.id))).all()
    assert entries == {("member.wallet", member_id, 10), ("member.pending", member_id, 100), ("format.boutique.issuance", None, -110)}
    assert [(points, pending) for points, pending, _ in lots] == [(10, False), (100, True)]
    assert lots[1][2] == now + timedelta(days=14)
    assert await _verified(core)


async def test_pending_points_cannot_be_redeemed(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await _sale(core, member_id, "B-1", now, points_now=40, points_later=100)

    with pytest.raises(AtriumError) as raised:
        await redeem(core, _gift_wrap(member_id, "GW-1"), now=now)

    assert raised.value.code is ErrorCode.INSUFFICIENT_POINTS
    assert await _balances(core, member_id) == (40, 100)


async def test_reads_count_matured_pending_points_as_available_without_writing(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await _sale(core, member_id, "B-1", now)
    before = await snapshot(core)

    async with core.db.read() as conn:
        (waiting,) = await get_members(conn, [member_id], now=now + timedelta(days=13))
        (matured,) = await get_members(conn, [member_id], now=now + timedelta(days=14))

    assert waiting is not None and (waiting.available_points, waiting.pending_points) == (10, 100)
    assert matured is not None and (matured.available_points, matured.pending_points) == (110, 0)
    assert await snapshot(core) == before


async def test_the_next_write_after_the_date_releases_the_points_in_one_posting(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await _sale(core, member_id, "B-1", now)
    later = now + timedelta(days=15)

    spent = await redeem(core, _gift_wrap(member_id, "GW-1", quantity=2), now=later)

    assert spent.balance_after == 10
    assert await _balances(core, member_id) == (10, 0)
    async with core.db.read() as conn:
        release = (await conn.execute(select(posting_table).where(posting_table.c.kind == "release"))).mappings().one()
        still_pending = await conn.scalar(select(func.count()).select_from(lot_table).where(lot_table.c.pending))
    assert (release["points"], release["balance_after"], release["format"]) == (100, 110, "boutique")
    assert still_pending == 0
    assert await _verified(core)


async def test_nothing_is_released_before_the_date(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await _sale(core, member_id, "B-1", now)

    await _sale(core, member_id, "B-2", now + timedelta(days=13), points_later=0)

    assert await _releases(core) == 0
    assert await _balances(core, member_id) == (20, 100)


@pytest.mark.parametrize("writer", ["earn", "adjust"])
async def test_two_concurrent_writers_release_the_points_once(core: Core, now: datetime, writer: str) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await _sale(core, member_id, "B-1", now)
    later = now + timedelta(days=15)

    async def write(n: int) -> PostingResult:
        if writer == "earn":
            return await _sale(core, member_id, f"B-LATER-{n}", later, points_later=0)
        return await adjust_points(core, AdjustRequest(MemberRef(member_id=member_id), 5, "goodwill", f"ADJ-{n}", "admin"), now=later)

    await asyncio.gather(*(write(n) for n in range(6)))

    assert await _releases(core) == 1
    assert await _balances(core, member_id) == (110 + (60 if writer == "earn" else 30), 0)
    assert await _verified(core)


async def test_points_of_an_activity_recorded_after_its_waiting_period_are_available_at_once(
    core: Core, now: datetime
) -> None:
    member_id = await enrol_phone(core, PHONE, now)

    result = await _sale(core, member_id, "B-1", now, sold_at=now - timedelta(days=20))

    assert result.balance_after == 110
    assert await _balances(core, member_id) == (110, 0)


async def test_the_tier_bonus_follows_its_points_and_rounds_down_per_availability_group(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "2000.00")]), now)  # silver, ×1.2

    result = await _sale(core, member_id, "B-1", now, points_now=9, points_later=9)

    # 9 × 1.2 = 10.8 → +1 in each group; on the whole, 18 × 1.2 = 21.6 would have been +3.
    assert [(line["rule"], line["points"]) for line in result.lines] == [
        ("boutique.window", 9), ("boutique.window", 9), ("tier.silver", 1), ("tier.silver", 1)
    ]
    assert "(available from" in result.lines[3]["reason"] and "(available from" not in result.lines[2]["reason"]
    assert await _balances(core, member_id) == (2000 + 10, 10)


async def test_verify_reports_a_pending_balance_that_differs_from_its_entries(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await _sale(core, member_id, "B-1", now)
    async with core.db.write() as conn:
        await conn.execute(update(member_table).where(member_table.c.id == member_id).values(pending_balance=99))

    async with core.db.read() as conn:
        found = await verify_ledger(conn)

    assert [(d.member_id, d.problem) for d in found] == [
        (member_id, "stored pending balance 99, pending entries say 100, pending lots hold 100")
    ]
