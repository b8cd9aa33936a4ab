"""Points of a refunded purchase do not come back through a hold's settlement or a cancelled redemption.

Under ``claw_back_available`` a refund records what it could not take as ``unrecovered``: points of
the purchase that a hold held or a redemption had spent. When they come back to the purchase's
lots they are reclaimed for the refund instead (``gateway.ledger.reclaim``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from gateway.core import Core
from gateway.ledger.cancel import CancelRequest, cancel_redemption
from gateway.ledger.holds import (
    CaptureRequest,
    HoldRequest,
    HoldResult,
    VoidRequest,
    capture_hold,
    place_hold,
    sweep_holds,
    void_hold,
)
from gateway.ledger.postings import MemberRef, PostingResult
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.reverse import RefundRequest, refund_activity
from gateway.ledger.verify import verify_ledger
from gateway.members import get_members
from gateway.merge import merge_members
from gateway.money import Money
from gateway.persistence.models import (
    entry_table,
    lot_consumption_table,
    lot_table,
    member_table,
)
from gateway.settings import Settings
from tests.conftest import Backend
from tests.helpers import earn, enrol_phone, retail_purchase, snapshot

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
PHONE = "13800138000"


@pytest.fixture
def refund_policy() -> str:
    return "claw_back_available"


@pytest.fixture
def settings(backend: Backend, refund_policy: str) -> Settings:
    return Settings(database_url=backend.url, plugins=None, refund_policy=refund_policy, _env_file=None)  # type: ignore[call-arg]


# --- helpers -------------------------------------------------------------------------------------


async def _member(core: Core, phone: str = PHONE) -> int:
    return await enrol_phone(core, phone, T0 - relativedelta(years=3))


async def _buy(core: Core, member_id: int, key: str, yuan: int) -> PostingResult:
    """A retail purchase of ``yuan`` (1 pt per ¥1 below Silver)."""
    purchase = retail_purchase([("SKU1", "grocery", 1, f"{yuan}.00")], purchased_at=T0 - timedelta(hours=1))
    return await earn(core, member_id, key, purchase, T0 - timedelta(hours=1))


async def _refund(core: Core, key: str, original: str, yuan: int, at: datetime = T0) -> PostingResult:
    return await refund_activity(
        core, RefundRequest(format="retail", amount=Money(yuan * 100, "CNY"), idempotency_key=key, original_key=original), now=at
    )


async def _hold(core: Core, member_id: int, key: str, points: int, at: datetime = T0) -> HoldResult:
    return await place_hold(core, HoldRequest(MemberRef(member_id=member_id), "dining", points, key), now=at)


async def _void(core: Core, hold: str, key: str, at: datetime) -> HoldResult:
    return await void_hold(core, VoidRequest("dining", hold, key), now=at)


async def _dessert(core: Core, member_id: int, key: str) -> PostingResult:
    """An 800-point dessert voucher at dining."""
    return await redeem(core, RedeemRequest(MemberRef(member_id=member_id), "dining", "dessert_voucher", 1, key), now=T0)


async def _cancel(core: Core, redemption: str, key: str, at: datetime) -> PostingResult:
    return await cancel_redemption(core, CancelRequest(format="dining", idempotency_key=key, redemption_key=redemption), now=at)


async def _balance(core: Core, member_id: int) -> int:
    async with core.db.read() as conn:
        return int(await conn.scalar(select(member_table.c.points_balance).where(member_table.c.id == member_id)))


async def _remaining(core: Core, earned: PostingResult) -> int:
    async with core.db.read() as conn:
        return int(await conn.scalar(select(lot_table.c.remaining).where(lot_table.c.posting_id == earned.id)))


async def _entries(core: Core, posting_id: int) -> set[tuple[str, int | None, int]]:
    async with core.db.read() as conn:
        rows = await conn.execute(
            select(entry_table.c.account, entry_table.c.member_id, entry_table.c.amount).where(entry_table.c.posting_id == posting_id)
        )
        return {(account, member_id, int(amount)) for account, member_id, amount in rows}


async def _draws(core: Core, posting_id: int) -> list[tuple[int, int]]:
    """``(lot_id, points)`` rows the posting recorded in ``lot_consumption``, in order."""
    async with core.db.read() as conn:
        rows = await conn.execute(
            select(lot_consumption_table.c.lot_id, lot_consumption_table.c.points)
            .where(lot_consumption_table.c.posting_id == posting_id)
            .order_by(lot_consumption_table.c.id)
        )
        return [(int(lot_id), int(points)) for lot_id, points in rows]


async def _lot_id(core: Core, earned: PostingResult) -> int:
    async with core.db.read() as conn:
        return int(await conn.scalar(select(lot_table.c.id).where(lot_table.c.posting_id == earned.id)))


async def _verified(core: Core) -> bool:
    async with core.db.read() as conn:
        return list(await verify_ledger(conn)) == []


# --- holds ---------------------------------------------------------------------------------------


async def test_a_hold_voided_after_a_full_refund_gives_the_refunded_points_to_the_refund(core: Core) -> None:
    member_id = await _member(core)
    bought = await _buy(core, member_id, "R-1", 300)
    await _hold(core, member_id, "TILL-1", 300)
    refund = await _refund(core, "RF-1", "R-1", 300)
    assert (refund.points, refund.details["unrecovered"]) == (0, 300)

    voided = await _void(core, "TILL-1", "VOID-1", T0 + timedelta(minutes=5))

    assert (voided.posting.points, voided.posting.balance_after) == (0, 0)
    assert voided.posting.details["reclaimed"] == [{"originalPostingId": bought.id, "points": 300}]
    assert (voided.posting.details["returnedPoints"], voided.posting.details["reclaimedPoints"]) == (0, 300)
    assert await _entries(core, voided.posting.id) == {("member.held", member_id, -300), ("format.retail.issuance", None, 300)}
    assert await _balance(core, member_id) == 0
    assert await _remaining(core, bought) == 0
    assert await _verified(core)


async def test_the_void_gives_the_points_back_to_the_lot_and_draws_the_reclaimed_ones_again(core: Core) -> None:
    """Two ``lot_consumption`` rows: the hold's draw undone, then the reclaim's own draw (traceable by settlement)."""
    member_id = await _member(core)
    bought = await _buy(core, member_id, "R-1", 300)
    await _hold(core, member_id, "TILL-1", 300)
    await _refund(core, "RF-1", "R-1", 300)

    voided = await _void(core, "TILL-1", "VOID-1", T0 + timedelta(minutes=5))

    lot_id = await _lot_id(core, bought)
    assert await _draws(core, voided.posting.id) == [(lot_id, -300), (lot_id, 300)]
    assert voided.posting.details["lots"] == [
        {"lotId": lot_id, "format": "retail", "captured": 0, "returned": 0, "reclaimed": 300, "expired": 0}
    ]


async def test_a_hold_that_lapses_after_a_refund_does_not_give_the_points_back(core: Core) -> None:
    member_id = await _member(core)
    await _buy(core, member_id, "R-1", 300)
    await _hold(core, member_id, "TILL-1", 200)
    await _refund(core, "RF-1", "R-1", 300)  # 100 from the lot, 200 unrecovered
    assert await _balance(core, member_id) == 0

    sweep = await sweep_holds(core, now=T0 + timedelta(hours=1))

    (lapsed,) = sweep.voided
    assert (lapsed.posting.points, lapsed.posting.details["reclaimedPoints"]) == (0, 200)
    assert await _balance(core, member_id) == 0
    assert await _verified(core)


async def test_a_read_before_the_lapse_is_written_shows_the_balance_the_void_will_leave(core: Core) -> None:
    member_id = await _member(core)
    await _buy(core, member_id, "R-1", 300)
    await _buy(core, member_id, "R-2", 50)
    await _hold(core, member_id, "TILL-1", 350)
    await _refund(core, "RF-1", "R-1", 300)  # nothing left to take: 300 unrecovered
    later = T0 + timedelta(hours=1)

    async with core.db.read() as conn:
        (seen,) = await get_members(conn, [member_id], now=later)
    await sweep_holds(core, now=later)

    assert seen is not None and seen.available_points == 50 == await _balance(core, member_id)


async def test_a_partial_capture_after_a_refund_reclaims_what_it_gives_back(core: Core) -> None:
    member_id = await _member(core)
    await _buy(core, member_id, "R-1", 300)
    await _hold(core, member_id, "TILL-1", 300)
    await _refund(core, "RF-1", "R-1", 300)

    captured = await capture_hold(core, CaptureRequest("dining", "TILL-1", "PAY-1", 100), now=T0 + timedelta(minutes=5))

    assert (captured.posting.points, captured.posting.details["reclaimedPoints"]) == (0, 200)
    assert await _entries(core, captured.posting.id) == {
        ("member.held", member_id, -300),
        ("format.dining.redemption", None, 100),
        ("format.retail.issuance", None, 200),
    }
    assert await _balance(core, member_id) == 0
    assert await _verified(core)


async def test_only_the_refunded_purchases_lots_are_reclaimed(core: Core) -> None:
    member_id = await _member(core)
    refunded = await _buy(core, member_id, "R-1", 300)
    kept = await _buy(core, member_id, "R-2", 200)
    await _hold(core, member_id, "TILL-1", 500)
    await _refund(core, "RF-1", "R-1", 300)

    voided = await _void(core, "TILL-1", "VOID-1", T0 + timedelta(minutes=5))

    assert voided.posting.details["reclaimed"] == [{"originalPostingId": refunded.id, "points": 300}]
    assert (voided.posting.points, await _balance(core, member_id)) == (200, 200)
    assert (await _remaining(core, refunded), await _remaining(core, kept)) == (0, 200)
    assert await _verified(core)


async def test_a_reclaim_takes_no_more_than_the_refunds_left_unrecovered(core: Core) -> None:
    """Half refunded while 200 of 300 pts were held: 100 from the lot, 50 unrecovered; the holds then give back 200."""
    member_id = await _member(core)
    bought = await _buy(core, member_id, "R-1", 300)
    await _hold(core, member_id, "TILL-1", 100)
    await _hold(core, member_id, "TILL-2", 100)
    refund = await _refund(core, "RF-1", "R-1", 150)
    assert (refund.details["fromActivityLots"], refund.details["unrecovered"]) == (100, 50)

    first = await _void(core, "TILL-1", "VOID-1", T0 + timedelta(minutes=5))
    second = await _void(core, "TILL-2", "VOID-2", T0 + timedelta(minutes=6))

    assert (first.posting.points, first.posting.details["reclaimedPoints"]) == (50, 50)
    assert (second.posting.points, second.posting.details["reclaimedPoints"]) == (100, 0)
    assert second.posting.details["reclaimed"] == []
    assert (await _balance(core, member_id), await _remaining(core, bought)) == (150, 150)
    assert await _verified(core)


async def test_partial_refunds_before_and_after_the_void_take_exactly_the_purchase(core: Core) -> None:
    member_id = await _member(core)
    bought = await _buy(core, member_id, "R-1", 400)
    await _hold(core, member_id, "TILL-1", 400)
    await _refund(core, "RF-1", "R-1", 100)  # 100 unrecovered
    await _refund(core, "RF-2", "R-1", 100)  # 100 more

    voided = await _void(core, "TILL-1", "VOID-1", T0 + timedelta(minutes=5))
    last = await _refund(core, "RF-3", "R-1", 200, at=T0 + timedelta(minutes=6))

    assert (voided.posting.points, voided.posting.details["reclaimedPoints"]) == (200, 200)
    assert (last.points, last.details["unrecovered"]) == (-200, 0)
    assert (await _balance(core, member_id), await _remaining(core, bought)) == (0, 0)
    assert await _verified(core)


async def test_replaying_the_void_returns_the_same_reclaim_and_writes_nothing(core: Core) -> None:
    member_id = await _member(core)
    await _buy(core, member_id, "R-1", 300)
    await _hold(core, member_id, "TILL-1", 300)
    await _refund(core, "RF-1", "R-1", 300)
    voided = await _void(core, "TILL-1", "VOID-1", T0 + timedelta(minutes=5))
    before = await snapshot(core)

    replay = await _void(core, "TILL-1", "VOID-1", T0 + timedelta(minutes=9))

    assert replay.posting.replayed and replay.posting.id == voided.posting.id
    assert (replay.posting.points, replay.posting.details) == (voided.posting.points, voided.posting.details)
    assert await snapshot(core) == before


async def test_a_merge_between_the_refund_and_the_void_still_reclaims(core: Core) -> None:
    member_id = await _member(core)
    await _buy(core, member_id, "R-1", 300)
    await _hold(core, member_id, "TILL-1", 300)
    await _refund(core, "RF-1", "R-1", 300)
    survivor = await _member(core, "13900139000")
    await merge_members(
        core, MemberRef(member_id=survivor), MemberRef(member_id=member_id), actor="admin", reason="one person", now=T0
    )

    voided = await _void(core, "TILL-1", "VOID-1", T0 + timedelta(minutes=5))

    assert (voided.posting.member_id, voided.posting.details["reclaimedPoints"]) == (survivor, 300)
    assert await _balance(core, survivor) == 0
    assert await _verified(core)


# --- redemptions ---------------------------------------------------------------------------------


async def test_a_redemption_cancelled_after_a_full_refund_gives_the_refunded_points_to_the_refund(core: Core) -> None:
    member_id = await _member(core)
    bought = await _buy(core, member_id, "R-1", 1000)
    await _dessert(core, member_id, "RD-1")
    refund = await _refund(core, "RF-1", "R-1", 1000)  # 200 from the lot, 800 spent: unrecovered
    assert (refund.points, refund.details["unrecovered"]) == (-200, 800)

    cancel = await _cancel(core, "RD-1", "CX-1", T0 + timedelta(minutes=5))

    assert (cancel.points, cancel.balance_after) == (0, 0)
    assert (cancel.details["restored"], cancel.details["reclaimedPoints"]) == (0, 800)
    assert cancel.details["reclaimed"] == [{"originalPostingId": bought.id, "points": 800}]
    assert await _entries(core, cancel.id) == {("format.dining.redemption", None, -800), ("format.retail.issuance", None, 800)}
    lot_id = await _lot_id(core, bought)
    assert await _draws(core, cancel.id) == [(lot_id, -800), (lot_id, 800)]
    assert (await _balance(core, member_id), await _remaining(core, bought)) == (0, 0)
    assert await _verified(core)


async def test_a_cancel_between_partial_refunds_leaves_the_member_nothing_of_the_purchase(core: Core) -> None:
    member_id = await _member(core)
    bought = await _buy(core, member_id, "R-1", 1000)
    await _dessert(core, member_id, "RD-1")
    first = await _refund(core, "RF-1", "R-1", 500)  # 200 from the lot, 300 unrecovered
    assert first.details["unrecovered"] == 300

    cancel = await _cancel(core, "RD-1", "CX-1", T0 + timedelta(minutes=5))
    second = await _refund(core, "RF-2", "R-1", 500, at=T0 + timedelta(minutes=6))

    assert (cancel.points, cancel.details["reclaimedPoints"]) == (500, 300)
    assert (second.points, second.details["unrecovered"]) == (-500, 0)
    assert (await _balance(core, member_id), await _remaining(core, bought)) == (0, 0)
    assert await _verified(core)


async def test_replaying_the_cancel_returns_the_same_reclaim_and_writes_nothing(core: Core) -> None:
    member_id = await _member(core)
    await _buy(core, member_id, "R-1", 1000)
    await _dessert(core, member_id, "RD-1")
    await _refund(core, "RF-1", "R-1", 1000)
    cancel = await _cancel(core, "RD-1", "CX-1", T0 + timedelta(minutes=5))
    before = await snapshot(core)

    replay = await _cancel(core, "RD-1", "CX-1", T0 + timedelta(minutes=9))

    assert replay.replayed and replay.id == cancel.id
    assert (replay.points, replay.details) == (cancel.points, cancel.details)
    assert await snapshot(core) == before


async def test_a_cancel_with_nothing_refunded_restores_everything(core: Core) -> None:
    member_id = await _member(core)
    await _buy(core, member_id, "R-1", 1000)
    await _dessert(core, member_id, "RD-1")

    cancel = await _cancel(core, "RD-1", "CX-1", T0 + timedelta(minutes=5))

    assert (cancel.points, cancel.details["reclaimedPoints"], cancel.details["reclaimed"]) == (800, 0, [])
    assert await _balance(core, member_id) == 1000


# --- the other policy ----------------------------------------------------------------------------


@pytest.mark.parametrize("refund_policy", ["allow_negative"])
async def test_under_allow_negative_nothing_is_reclaimed_the_returned_points_repay_the_debt(core: Core) -> None:
    member_id = await _member(core)
    await _buy(core, member_id, "R-1", 1000)
    await _dessert(core, member_id, "RD-1")
    refund = await _refund(core, "RF-1", "R-1", 1000)
    assert (refund.details["unrecovered"], refund.details["debt"], refund.balance_after) == (0, 800, -800)

    cancel = await _cancel(core, "RD-1", "CX-1", T0 + timedelta(minutes=5))

    assert (cancel.points, cancel.balance_after, cancel.details["reclaimed"]) == (800, 0, [])
    assert await _verified(core)
