"""Merging two member records of one person: everything moves to the survivor, idempotently and audited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.identity import find_member_id
from gateway.ledger.history import history_page
from gateway.ledger.holds import CaptureRequest, HoldRequest, capture_hold, place_hold
from gateway.ledger.postings import MemberRef, PostingResult, lock_member
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.reverse import RefundRequest, refund_activity
from gateway.ledger.verify import verify_ledger
from gateway.member_status import freeze_member
from gateway.members import get_members
from gateway.merge import MergeResult, merge_members
from gateway.money import Money
from gateway.persistence.models import (
    audit_log_table,
    entry_table,
    lot_consumption_table,
    lot_table,
    member_table,
)
from gateway.settings import Settings
from tests.conftest import Backend
from tests.helpers import (
    earn,
    enrol_phone,
    member_state,
    phone_key,
    phone_ref,
    retail_purchase,
    snapshot,
)
from tests.pending_plugin import BoutiquePlugin, BoutiqueSaleInput

PHONE_A = "13800138000"
PHONE_B = "13900139000"


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    return [("boutique", BoutiquePlugin())]


@pytest.fixture
def refund_policy() -> str:
    """The refund policy; the test of a merge with a debt parametrizes it."""
    return "claw_back_available"


@pytest.fixture
def settings(backend: Backend, refund_policy: str) -> Settings:
    return Settings(database_url=backend.url, plugins=None, refund_policy=refund_policy, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture(autouse=True)
async def ledger_verifies_after_each_test(core: Core) -> AsyncIterator[None]:
    """Whatever a test did, ``atrium ledger verify`` finds nothing wrong afterwards."""
    yield
    async with core.db.read() as conn:
        assert await verify_ledger(conn) == []


def _ref(member: MemberRef | int) -> MemberRef:
    return MemberRef(member_id=member) if isinstance(member, int) else member


async def _merge(
    core: Core, survivor: MemberRef | int, merged: MemberRef | int, now: datetime, reason: str = "same person, two cards"
) -> MergeResult:
    return await merge_members(core, _ref(survivor), _ref(merged), actor="admin", reason=reason, now=now)


async def _spend(core: Core, member_id: int, amount: str, key: str, now: datetime, *, days_ago: int = 0) -> PostingResult:
    """A retail purchase of ``amount`` made ``days_ago`` days ago: 1 point and 1 growth per yuan."""
    purchase = retail_purchase([("SKU1", "grocery", 1, amount)], purchased_at=now - timedelta(days=days_ago))
    return await earn(core, member_id, key, purchase, now)


async def _two_members(core: Core, now: datetime) -> tuple[int, int]:
    """Member A with 300 points, member B with 500 points earned 60 days ago (expiring first)."""
    a = await enrol_phone(core, PHONE_A, now)
    b = await enrol_phone(core, PHONE_B, now)
    await _spend(core, a, "300.00", "A-1", now)
    await _spend(core, b, "500.00", "B-1", now, days_ago=60)
    return a, b


async def _verify(core: Core) -> list[object]:
    async with core.db.read() as conn:
        return list(await verify_ledger(conn))


async def _status(core: Core, member_id: int) -> tuple[str, int | None]:
    async with core.db.read() as conn:
        row = (
            await conn.execute(
                select(member_table.c.status, member_table.c.merged_into_id).where(member_table.c.id == member_id)
            )
        ).one()
    return row[0], row[1]


async def _audit(core: Core, action: str) -> list[tuple[int | None, dict[str, object], str | None]]:
    async with core.db.read() as conn:
        rows = await conn.execute(
            select(audit_log_table.c.member_id, audit_log_table.c.details, audit_log_table.c.reason)
            .where(audit_log_table.c.action == action)
            .order_by(audit_log_table.c.id)
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


# --- what moves -----------------------------------------------------------------------------------


async def test_merge_moves_points_to_the_survivor_and_empties_the_merged_member(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)

    result = await _merge(core, a, b, now)

    assert (result.survivor_id, result.merged_id, result.merged_now) == (a, b, True)
    assert await member_state(core, a) == (800, 800, "member")
    assert await member_state(core, b) == (0, 0, "member")
    assert await _status(core, b) == ("merged", a)
    assert await _verify(core) == []


async def test_merge_is_one_balanced_posting_between_the_two_wallets(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)

    result = await _merge(core, a, b, now)

    async with core.db.read() as conn:
        entries = (
            await conn.execute(
                select(entry_table.c.account, entry_table.c.member_id, entry_table.c.amount).where(
                    entry_table.c.posting_id == result.posting_id
                )
            )
        ).all()
    assert sorted(tuple(e) for e in entries) == [("member.wallet", a, 500), ("member.wallet", b, -500)]  # type: ignore[misc]
    assert await _verify(core) == []


async def test_merge_reassigns_every_lot_of_the_merged_member(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)

    await _merge(core, a, b, now)

    async with core.db.read() as conn:
        owners = (await conn.execute(select(lot_table.c.member_id, func.count()).group_by(lot_table.c.member_id))).all()
    assert [tuple(row) for row in owners] == [(a, 2)]
    assert await _verify(core) == []


async def test_merge_moves_pending_points_which_stay_pending(core: Core, now: datetime) -> None:
    a = await enrol_phone(core, PHONE_A, now)
    b = await enrol_phone(core, PHONE_B, now)
    sale = BoutiqueSaleInput(points_now=10, points_later=100, pending_days=14)
    await earn(core, b, "S-1", sale, now, format_code="boutique", kind="sale")

    await _merge(core, a, b, now)

    async with core.db.read() as conn:
        (survivor,) = await get_members(conn, [a], now=now)
        (later,) = await get_members(conn, [a], now=now + timedelta(days=15))
    assert survivor is not None and (survivor.available_points, survivor.pending_points) == (10, 100)
    assert later is not None and (later.available_points, later.pending_points) == (110, 0)
    assert await _verify(core) == []


async def test_merge_moves_the_identities_so_the_old_phone_finds_the_survivor(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)

    await _merge(core, a, b, now)

    async with core.db.read() as conn:
        assert await find_member_id(conn, phone_key(PHONE_B)) == a
        assert await find_member_id(conn, phone_key(PHONE_A)) == a


async def test_merge_adds_the_growth_value_and_upgrades_the_tier_it_reaches(core: Core, now: datetime) -> None:
    a = await enrol_phone(core, PHONE_A, now)
    b = await enrol_phone(core, PHONE_B, now)
    await _spend(core, a, "1500.00", "A-1", now)
    await _spend(core, b, "1000.00", "B-1", now)
    assert (await member_state(core, a))[2] == (await member_state(core, b))[2] == "member"

    result = await _merge(core, a, b, now)

    assert await member_state(core, a) == (2500, 2500, "silver")
    async with core.db.read() as conn:
        (posting,), _ = await history_page(conn, a, first=1)
    assert (posting.id, posting.kind, posting.tier_before, posting.tier_after) == (result.posting_id, "merge", "member", "silver")


async def test_merge_never_downgrades_the_survivor_and_keeps_the_merged_members_higher_tier(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)
    async with core.db.write() as conn:  # a tier reached before growth was clawed back by a refund
        await conn.execute(update(member_table).where(member_table.c.id == b).values(tier_code="gold"))

    await _merge(core, a, b, now)

    assert await member_state(core, a) == (800, 800, "gold")


# --- the merged-away record resolves to the survivor -----------------------------------------------


async def test_the_merged_id_locks_the_survivor(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)
    await _merge(core, a, b, now)

    async with core.db.write() as conn:
        locked = await lock_member(conn, MemberRef(member_id=b))

    assert (locked.id, locked.points_balance) == (a, 800)


async def test_earning_with_the_merged_id_credits_the_survivor(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)
    await _merge(core, a, b, now)

    posting = await earn(core, b, "B-2", retail_purchase([("SKU1", "grocery", 1, "50.00")]), now)

    assert (posting.member_id, posting.balance_after) == (a, 850)
    assert await member_state(core, b) == (0, 0, "member")
    assert await _verify(core) == []


async def test_the_member_loader_reads_the_survivor_for_the_merged_id(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)
    await _merge(core, a, b, now)

    async with core.db.read() as conn:
        rows = await get_members(conn, [b, a, 999], now=now)

    assert [row.id if row else None for row in rows] == [a, a, None]


async def test_replaying_an_earn_made_before_the_merge_returns_the_original_posting(core: Core, now: datetime) -> None:
    a = await enrol_phone(core, PHONE_A, now)
    b = await enrol_phone(core, PHONE_B, now)
    purchase = retail_purchase([("SKU1", "grocery", 1, "500.00")])
    original = await earn(core, b, "B-1", purchase, now)
    await _merge(core, a, b, now)

    by_old_id = await earn(core, b, "B-1", purchase, now)
    by_old_phone = await earn(core, phone_ref(PHONE_B), "B-1", purchase, now)

    assert (by_old_id.id, by_old_id.replayed, by_old_phone.id, by_old_phone.replayed) == (original.id, True, original.id, True)
    assert await member_state(core, a) == (500, 500, "member")


async def test_a_chain_of_merges_resolves_the_first_id_to_the_last_survivor(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)
    c = await enrol_phone(core, "13700137000", now)
    await _merge(core, a, b, now)

    await _merge(core, c, a, now)

    assert await _status(core, b) == ("merged", c)
    async with core.db.read() as conn:
        (row,) = await get_members(conn, [b], now=now)
        history, _ = await history_page(conn, c, first=10)
    assert row is not None and (row.id, row.points_balance) == (c, 800)
    assert {posting.idempotency_key for posting in history} >= {"A-1", "B-1"}
    assert await _verify(core) == []


# --- history and spending after a merge -------------------------------------------------------------


async def test_the_survivors_history_shows_the_postings_of_both_records_newest_first(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)

    result = await _merge(core, a, b, now)

    async with core.db.read() as conn:
        history, more = await history_page(conn, a, first=10)
    assert [(p.kind, p.member_id, p.idempotency_key) for p in history] == [
        ("merge", a, f"member:{b}"),
        ("earn", b, "B-1"),
        ("earn", a, "A-1"),
    ]
    assert (history[0].id, history[0].points, history[0].balance_after, more) == (result.posting_id, 500, 800, False)


async def test_redeeming_after_a_merge_draws_the_lots_of_both_records_first_expiring_first(core: Core, now: datetime) -> None:
    a = await enrol_phone(core, PHONE_A, now)
    b = await enrol_phone(core, PHONE_B, now)
    a_earn = await _spend(core, a, "300.00", "A-1", now)
    b_earn = await _spend(core, b, "500.00", "B-1", now, days_ago=60)
    await _merge(core, a, b, now)

    spent = await redeem(core, RedeemRequest(MemberRef(member_id=a), "dining", "dessert_voucher", 1, "RD-1"), now=now)

    async with core.db.read() as conn:
        draws = (
            await conn.execute(
                select(lot_table.c.posting_id, lot_consumption_table.c.points)
                .join(lot_table, lot_table.c.id == lot_consumption_table.c.lot_id)
                .where(lot_consumption_table.c.posting_id == spent.id)
                .order_by(lot_consumption_table.c.id)
            )
        ).all()
    assert [tuple(d) for d in draws] == [(b_earn.id, 500), (a_earn.id, 300)]  # type: ignore[misc]
    assert await member_state(core, a) == (0, 800, "member")
    assert await _verify(core) == []


# --- idempotency and refusals ---------------------------------------------------------------------------


async def test_merging_the_same_pair_again_writes_nothing_and_returns_the_survivor(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)
    await _merge(core, a, b, now)
    before = await snapshot(core)

    again = await _merge(core, a, b, now)
    by_phones = await _merge(core, phone_ref(PHONE_A), phone_ref(PHONE_B), now)

    assert (again.survivor_id, again.merged_now, by_phones.survivor_id, by_phones.merged_now) == (a, False, a, False)
    assert await snapshot(core) == before


async def test_merging_the_pair_the_other_way_round_afterwards_is_a_no_op_returning_the_survivor(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)
    await _merge(core, a, b, now)
    before = await snapshot(core)

    reverse = await _merge(core, b, a, now)

    assert (reverse.survivor_id, reverse.merged_now) == (a, False)
    assert await snapshot(core) == before


async def test_merging_into_a_merged_away_member_is_refused_with_member_merged(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)
    c = await enrol_phone(core, "13700137000", now)
    await _merge(core, a, b, now)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await _merge(core, b, c, now)

    assert (raised.value.code, raised.value.field) == (ErrorCode.MEMBER_MERGED, "survivor")
    assert f"member {a}" in raised.value.message
    assert await snapshot(core) == before


async def test_merging_away_a_member_already_merged_elsewhere_is_refused_with_member_merged(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)
    c = await enrol_phone(core, "13700137000", now)
    await _merge(core, a, b, now)

    with pytest.raises(AtriumError) as raised:
        await _merge(core, c, b, now)

    assert (raised.value.code, raised.value.field) == (ErrorCode.MEMBER_MERGED, "merged")


async def test_merging_a_member_into_itself_is_invalid_input(core: Core, now: datetime) -> None:
    a, _ = await _two_members(core, now)

    with pytest.raises(AtriumError) as raised:
        await _merge(core, a, a, now)

    assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_INPUT, "merged")


async def test_merging_without_a_reason_is_invalid_input_and_writes_nothing(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await _merge(core, a, b, now, reason="   ")

    assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_INPUT, "reason")
    assert await snapshot(core) == before


async def test_merging_a_frozen_member_is_refused_with_member_frozen(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)
    await freeze_member(core.db, MemberRef(member_id=b), actor="admin", reason="under review", now=now)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await _merge(core, a, b, now)

    assert (raised.value.code, raised.value.field) == (ErrorCode.MEMBER_FROZEN, "merged")
    assert await snapshot(core) == before


async def test_merging_an_unknown_member_is_member_not_found(core: Core, now: datetime) -> None:
    a, _ = await _two_members(core, now)

    with pytest.raises(AtriumError) as raised:
        await _merge(core, a, 999, now)

    assert (raised.value.code, raised.value.field) == (ErrorCode.MEMBER_NOT_FOUND, "merged")


# --- audit and concurrency ----------------------------------------------------------------------------


async def test_a_merge_is_audited_with_both_members_balances_before_and_after(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)

    result = await _merge(core, a, b, now, reason="duplicate enrolment, ticket 88")
    await _merge(core, a, b, now)

    [(member_id, details, reason)] = await _audit(core, "merge")
    assert (member_id, reason, details["merged_member_id"], details["posting_id"]) == (a, "duplicate enrolment, ticket 88", b, result.posting_id)
    assert details["before"] == {
        "survivor": {"status": "active", "tier": "member", "points": 300, "pending": 0, "held": 0, "growth": 300},
        "merged": {"status": "active", "tier": "member", "points": 500, "pending": 0, "held": 0, "growth": 500},
    }
    assert details["after"] == {
        "survivor": {"status": "active", "tier": "member", "points": 800, "pending": 0, "held": 0, "growth": 800},
        "merged": {"status": "merged", "tier": "member", "points": 0, "pending": 0, "held": 0, "growth": 0},
    }
    assert details["moved"] == {
        "points": 500, "pending": 0, "held": 0, "growth": 500, "lots": 1, "holds": 0, "identities": 1, "debt_repaid": 0,
        "coupons": 0, "benefit_uses": 0, "benefit_counters": 0, "campaign_usage": 0,
    }
    assert PHONE_B not in str(details) and phone_key(PHONE_B).value not in str(details)


async def test_concurrent_merges_of_a_into_b_and_b_into_a_end_as_one_member_with_a_consistent_ledger(
    core: Core, now: datetime
) -> None:
    pairs = []
    for n in range(5):
        a = await enrol_phone(core, f"1380013800{n}", now)
        b = await enrol_phone(core, f"1390013900{n}", now)
        await _spend(core, a, "300.00", f"A-{n}", now)
        await _spend(core, b, "500.00", f"B-{n}", now)
        pairs.append((a, b))

    results = await asyncio.wait_for(
        asyncio.gather(*[_merge(core, x, y, now) for a, b in pairs for x, y in ((a, b), (b, a))]), timeout=60
    )

    for n, (a, b) in enumerate(pairs):
        one, other = results[2 * n], results[2 * n + 1]
        assert one.survivor_id == other.survivor_id in (a, b)
        assert sorted([one.merged_now, other.merged_now]) == [False, True]
        gone = b if one.survivor_id == a else a
        assert await member_state(core, one.survivor_id) == (800, 800, "member")
        assert await _status(core, gone) == ("merged", one.survivor_id)
    assert len(await _audit(core, "merge")) == len(pairs)
    assert await _verify(core) == []


# --- with holds and refunds -------------------------------------------------------------------------------


async def test_an_open_hold_moves_with_the_merge_and_the_till_captures_it_on_the_survivor(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)
    await place_hold(core, HoldRequest(MemberRef(member_id=b), "dining", 200, "TILL-1"), now=now)

    await _merge(core, a, b, now)
    assert await _verify(core) == []
    captured = await capture_hold(core, CaptureRequest("dining", "TILL-1", "CAP-1"), now=now)

    assert captured.hold.member_id == a
    async with core.db.read() as conn:
        (survivor,) = await get_members(conn, [a], now=now)
    assert survivor is not None and (survivor.points_balance, survivor.held_balance) == (600, 0)


async def test_refunding_a_purchase_of_the_merged_away_record_claws_back_from_the_survivor(core: Core, now: datetime) -> None:
    a, b = await _two_members(core, now)
    await _merge(core, a, b, now)
    refund = RefundRequest(format="retail", amount=Money(500_00, "CNY"), idempotency_key="RF-1", original_key="B-1")

    refunded = await refund_activity(core, refund, now=now)
    replayed = await refund_activity(core, refund, now=now)

    assert (refunded.member_id, refunded.balance_after, replayed.id, replayed.replayed) == (a, 300, refunded.id, True)
    assert await member_state(core, a) == (300, 300, "member")


@pytest.mark.parametrize("refund_policy", ["allow_negative"])
async def test_merging_a_member_in_debt_repays_it_from_the_survivors_lots(core: Core, now: datetime) -> None:
    a = await enrol_phone(core, PHONE_A, now)
    b = await enrol_phone(core, PHONE_B, now)
    await _spend(core, a, "800.00", "A-1", now)
    await _spend(core, b, "1000.00", "B-1", now)
    await redeem(core, RedeemRequest(MemberRef(member_id=b), "dining", "dessert_voucher", 1, "RD-1"), now=now)
    refund = RefundRequest(format="retail", amount=Money(1000_00, "CNY"), idempotency_key="RF-1", original_key="B-1")
    assert (await refund_activity(core, refund, now=now)).balance_after == -800

    result = await _merge(core, a, b, now)

    assert (await member_state(core, a))[0] == 0
    async with core.db.read() as conn:
        repaid = await conn.scalar(
            select(func.sum(lot_consumption_table.c.points)).where(lot_consumption_table.c.posting_id == result.posting_id)
        )
    assert repaid == 800
