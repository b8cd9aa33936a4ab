"""Admin adjustments: credits and debits with a reason, balanced, traced through lots, audited, exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.adjust import AdjustRequest, adjust_points
from gateway.ledger.postings import MemberRef, PostingResult
from gateway.ledger.verify import verify_ledger
from gateway.member_status import freeze_member
from gateway.persistence.models import (
    audit_log_table,
    entry_table,
    lot_consumption_table,
    lot_table,
)
from tests.helpers import earn, enrol_phone, member_state, retail_purchase, snapshot

PHONE = "13800138000"


def _adjust(member_id: int, points: int, key: str = "ADJ-1", reason: str = "goodwill: late delivery") -> AdjustRequest:
    return AdjustRequest(MemberRef(member_id=member_id), points, reason, key, actor="admin")


async def _entries(core: Core, posting_id: int) -> set[tuple[str, int | None, int]]:
    async with core.db.read() as conn:
        rows = await conn.execute(
            select(entry_table.c.account, entry_table.c.member_id, entry_table.c.amount).where(
                entry_table.c.posting_id == posting_id
            )
        )
        return {tuple(row) for row in rows.all()}  # type: ignore[misc]


async def _verified(core: Core) -> bool:
    async with core.db.read() as conn:
        return await verify_ledger(conn) == []


async def test_a_credit_adds_points_in_a_group_lot_against_the_adjustment_account(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)

    result = await adjust_points(core, _adjust(member_id, 250), now=now)

    assert (result.kind, result.format, result.points, result.balance_after) == ("adjust", "group", 250, 250)
    assert "goodwill: late delivery" in result.reason
    assert await _entries(core, result.id) == {("member.wallet", member_id, 250), ("group.adjustment", None, -250)}
    async with core.db.read() as conn:
        lot = (await conn.execute(select(lot_table).where(lot_table.c.posting_id == result.id))).mappings().one()
    assert (lot["format"], lot["points"], lot["remaining"], lot["pending"]) == ("group", 250, 250, False)
    assert await member_state(core, member_id) == (250, 0, "member")
    assert await _verified(core)


async def test_a_debit_draws_lots_first_expiring_first_and_records_each_draw(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    recent = await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "300.00")]), now)
    older = await earn(
        core, member_id, "R-2", retail_purchase([("SKU1", "grocery", 1, "100.00")], purchased_at=now - timedelta(days=60)), now
    )

    result = await adjust_points(core, _adjust(member_id, -150, reason="duplicate receipt credited twice"), now=now)

    assert (result.points, result.balance_after) == (-150, 250)
    assert await _entries(core, result.id) == {("member.wallet", member_id, -150), ("group.adjustment", None, 150)}
    async with core.db.read() as conn:
        lots = dict((await conn.execute(select(lot_table.c.posting_id, lot_table.c.id))).all())
        draws = (
            await conn.execute(
                select(lot_consumption_table.c.lot_id, lot_consumption_table.c.points)
                .where(lot_consumption_table.c.posting_id == result.id)
                .order_by(lot_consumption_table.c.id)
            )
        ).all()
    assert [tuple(d) for d in draws] == [(lots[older.id], 100), (lots[recent.id], 50)]
    assert await _verified(core)


async def test_a_debit_beyond_the_balance_is_refused_and_stays_refused_after_a_credit(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await adjust_points(core, _adjust(member_id, 100, key="ADJ-CREDIT-1"), now=now)

    with pytest.raises(AtriumError) as first:
        await adjust_points(core, _adjust(member_id, -500, key="ADJ-DEBIT"), now=now)
    await adjust_points(core, _adjust(member_id, 1000, key="ADJ-CREDIT-2"), now=now)
    with pytest.raises(AtriumError) as again:
        await adjust_points(core, _adjust(member_id, -500, key="ADJ-DEBIT"), now=now)

    assert (first.value.code, first.value.field) == (ErrorCode.INSUFFICIENT_POINTS, None)
    assert (again.value.code, again.value.message) == (first.value.code, first.value.message)
    assert (await member_state(core, member_id))[0] == 1100


async def test_a_replayed_adjustment_returns_the_original_and_a_changed_one_is_key_reused(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    original = await adjust_points(core, _adjust(member_id, 250), now=now)
    after = await snapshot(core)

    replay = await adjust_points(core, _adjust(member_id, 250), now=now)
    with pytest.raises(AtriumError) as reused:
        await adjust_points(core, _adjust(member_id, 300), now=now)

    assert isinstance(replay, PostingResult) and replay.replayed and replay.id == original.id
    assert reused.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert await snapshot(core) == after


async def test_an_adjustment_is_audited_with_actor_reason_and_balances(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)

    result = await adjust_points(core, _adjust(member_id, 250), now=now)

    async with core.db.read() as conn:
        row = (await conn.execute(select(audit_log_table))).mappings().one()
    assert (row["actor"], row["action"], row["member_id"], row["reason"]) == (
        "admin", "adjust_points", member_id, "goodwill: late delivery"
    )
    assert row["details"] == {
        "points": 250, "posting_id": result.id, "idempotency_key": "ADJ-1", "balance_before": 0, "balance_after": 250
    }


async def test_a_frozen_member_can_still_be_adjusted(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await adjust_points(core, _adjust(member_id, 500, key="ADJ-1"), now=now)
    await freeze_member(core.db, MemberRef(member_id=member_id), actor="admin", reason="fraud review", now=now)

    result = await adjust_points(core, _adjust(member_id, -500, key="ADJ-2", reason="fraudulent credit"), now=now)

    assert result.balance_after == 0


@pytest.mark.parametrize(
    ("points", "reason", "field"),
    [(0, "why", "points"), (10_000_001, "why", "points"), (-10_000_001, "why", "points"), (100, " ", "reason"), (100, "x" * 501, "reason")],
    ids=["zero", "too-large-credit", "too-large-debit", "blank-reason", "long-reason"],
)
async def test_a_bad_adjustment_is_invalid_input_and_writes_nothing(
    core: Core, now: datetime, points: int, reason: str, field: str
) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await adjust_points(core, _adjust(member_id, points, reason=reason), now=now)

    assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_INPUT, field)
    assert await snapshot(core) == before
