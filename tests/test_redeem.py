"""Redemption: points from any format buy any format's reward, first-expiring lots first, never overdrawn."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.identity import link_identity
from gateway.ledger.postings import MemberRef, PostingResult
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.verify import verify_ledger
from gateway.persistence.models import (
    entry_table,
    lot_consumption_table,
    lot_table,
    posting_table,
)
from tests.helpers import (
    customer_id_key,
    dining_bill,
    earn,
    enrol_phone,
    member_state,
    retail_purchase,
    snapshot,
)

PHONE = "13800138000"


def _dessert(member: MemberRef | int, key: str, quantity: int = 1) -> RedeemRequest:
    ref = MemberRef(member_id=member) if isinstance(member, int) else member
    return RedeemRequest(member=ref, format="dining", reward="dessert_voucher", quantity=quantity, idempotency_key=key)


async def _lot_consumption(core: Core, posting_id: int) -> list[tuple[int, int]]:
    async with core.db.read() as conn:
        rows = await conn.execute(
            select(lot_consumption_table.c.lot_id, lot_consumption_table.c.points)
            .where(lot_consumption_table.c.posting_id == posting_id)
            .order_by(lot_consumption_table.c.id)
        )
        return [(int(lot_id), int(points)) for lot_id, points in rows.all()]


async def _lot_of(core: Core, posting: PostingResult) -> tuple[int, str, int]:
    """``(id, format, remaining)`` of the lot an earn created."""
    async with core.db.read() as conn:
        row = (
            await conn.execute(
                select(lot_table.c.id, lot_table.c.format, lot_table.c.remaining).where(
                    lot_table.c.posting_id == posting.id
                )
            )
        ).one()
    return int(row[0]), row[1], int(row[2])


async def _verify(core: Core) -> list[object]:
    async with core.db.read() as conn:
        return list(await verify_ledger(conn))


async def test_points_earned_at_retail_redeem_a_dining_dessert(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    earned = await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "1000.00")]), now)
    dining_id = customer_id_key(core, "dining", "D-1001")
    await link_identity(core.db, member_id=member_id, identity=dining_id, now=now)

    result = await redeem(core, _dessert(MemberRef(identity=dining_id), "DIN-REDEEM-1"), now=now)

    assert (result.kind, result.format, result.reward_code, result.quantity) == ("redeem", "dining", "dessert_voucher", 1)
    assert (result.member_id, result.points, result.growth, result.balance_after) == (member_id, -800, 0, 200)
    assert len(result.details["couponCodes"]) == 1
    assert await member_state(core, member_id) == (200, 1000, "member")

    retail_lot, lot_format, remaining = await _lot_of(core, earned)
    assert (lot_format, remaining) == ("retail", 200)
    assert await _lot_consumption(core, result.id) == [(retail_lot, 800)]
    async with core.db.read() as conn:
        entries = (
            await conn.execute(
                select(entry_table.c.account, entry_table.c.member_id, entry_table.c.amount).where(
                    entry_table.c.posting_id == result.id
                )
            )
        ).all()
    assert sorted(tuple(e) for e in entries) == sorted(  # type: ignore[misc]
        [("member.wallet", member_id, -800), ("format.dining.redemption", None, 800)], key=str
    )
    assert await _verify(core) == []


async def test_lots_are_consumed_first_expiring_first(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    # Earned first (lower lot id) but expires last: a dining bill paid just now.
    recent = await earn(core, member_id, "D-1", dining_bill("1000.00"), now, format_code="dining", kind="bill")
    # Recorded later but paid 90 days ago, so it expires first.
    older = await earn(
        core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "500.00")], purchased_at=now - timedelta(days=90)), now
    )
    recent_lot, _, _ = await _lot_of(core, recent)
    older_lot, _, _ = await _lot_of(core, older)
    assert recent_lot < older_lot

    result = await redeem(core, _dessert(member_id, "RD-1"), now=now)

    assert await _lot_consumption(core, result.id) == [(older_lot, 500), (recent_lot, 300)]
    assert (await _lot_of(core, older))[2] == 0
    assert (await _lot_of(core, recent))[2] == 700
    assert await _verify(core) == []


async def test_insufficient_points_is_refused_and_moves_no_points_only_remembering_the_failed_key(
    core: Core, now: datetime
) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "799.99")]), now)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await redeem(core, _dessert(member_id, "RD-1"), now=now)

    assert raised.value.code is ErrorCode.INSUFFICIENT_POINTS
    assert "800" in raised.value.message and "799" in raised.value.message
    after = await snapshot(core)
    assert after["members"] == before["members"]
    assert after["counts"] == {**before["counts"], "idempotency_failure": 1}  # type: ignore[dict-item]


@pytest.mark.parametrize("quantity", [0, -1, 5])
async def test_quantity_outside_the_reward_limit_is_invalid_quantity(core: Core, now: datetime, quantity: int) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "9000.00")]), now)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await redeem(core, _dessert(member_id, "RD-1", quantity=quantity), now=now)

    assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_QUANTITY, "quantity")
    assert "4" in raised.value.message
    assert await snapshot(core) == before


async def test_unknown_reward_is_unknown_reward_and_writes_nothing(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "900.00")]), now)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await redeem(
            core,
            RedeemRequest(MemberRef(member_id=member_id), "dining", "free_lunch", 1, "RD-1"),
            now=now,
        )

    assert (raised.value.code, raised.value.field) == (ErrorCode.UNKNOWN_REWARD, "reward")
    assert await snapshot(core) == before


async def test_fifty_concurrent_redemptions_never_overdraw(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "8000.00")]), now)
    assert (await member_state(core, member_id))[0] == 8000  # exactly 10 desserts of 800

    outcomes = await asyncio.gather(
        *(redeem(core, _dessert(member_id, f"RACE-{n:02d}"), now=now) for n in range(50)),
        return_exceptions=True,
    )

    succeeded = [o for o in outcomes if isinstance(o, PostingResult)]
    refused = [o for o in outcomes if isinstance(o, AtriumError) and o.code is ErrorCode.INSUFFICIENT_POINTS]
    unexpected = [o for o in outcomes if o not in succeeded and o not in refused]
    assert unexpected == []
    assert (len(succeeded), len(refused)) == (10, 40)
    assert sorted(o.balance_after for o in succeeded) == list(range(0, 8000, 800))
    assert (await member_state(core, member_id))[0] == 0
    async with core.db.read() as conn:
        redemptions = await conn.scalar(select(func.count()).select_from(posting_table).where(posting_table.c.kind == "redeem"))
        drawn = await conn.scalar(select(func.sum(lot_consumption_table.c.points)))
    assert (redemptions, drawn) == (10, 8000)
    assert await _verify(core) == []


async def test_replaying_a_redemption_after_the_balance_is_spent_returns_the_original(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "800.00")]), now)
    original = await redeem(core, _dessert(member_id, "RD-1"), now=now)
    assert original.balance_after == 0
    after = await snapshot(core)

    replay = await redeem(core, _dessert(member_id, "RD-1"), now=now)

    assert replay.replayed is True
    assert replay.id == original.id
    assert replay == original
    assert replay.details["couponCodes"] == original.details["couponCodes"]
    assert await snapshot(core) == after


async def test_same_redemption_key_for_another_reward_is_idempotency_key_reused(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "3000.00")]), now)
    await redeem(core, _dessert(member_id, "RD-1"), now=now)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await redeem(core, _dessert(member_id, "RD-1", quantity=2), now=now)

    assert (raised.value.code, raised.value.field) == (ErrorCode.IDEMPOTENCY_KEY_REUSED, "idempotencyKey")
    assert await snapshot(core) == before


async def test_points_from_a_till_whose_clock_runs_slightly_ahead_can_be_redeemed_at_once(
    core: Core, now: datetime
) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    ahead = now + timedelta(minutes=2)  # within the accepted clock skew
    await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "900.00")], purchased_at=ahead), now)

    result = await redeem(core, _dessert(member_id, "RD-1"), now=now)

    assert result.balance_after == 100
    assert await _verify(core) == []
