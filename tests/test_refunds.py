"""Refunds: points and growth go back in proportion, exactly over partial refunds, once per key, by policy when spent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import select, update

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.expiry import expire_points
from gateway.ledger.postings import MemberRef, PostingResult
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.reverse import RefundRequest, prorate, refund_activity
from gateway.ledger.verify import Discrepancy, verify_ledger
from gateway.member_status import freeze_member
from gateway.money import Money
from gateway.persistence.models import (
    entry_table,
    lot_consumption_table,
    lot_table,
    member_table,
    posting_table,
)
from gateway.settings import Settings
from tests.conftest import Backend
from tests.helpers import (
    dining_bill,
    earn,
    enrol_phone,
    member_state,
    retail_purchase,
    snapshot,
)
from tests.pending_plugin import BoutiquePlugin, BoutiqueSaleInput

PHONE = "13800138000"
T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def refund_policy() -> str:
    """The policy under test; tests that need the other one parametrize this fixture."""
    return "claw_back_available"


@pytest.fixture
def settings(backend: Backend, refund_policy: str) -> Settings:
    return Settings(database_url=backend.url, plugins=None, refund_policy=refund_policy, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    return [("boutique", BoutiquePlugin())]


allow_negative = pytest.mark.parametrize("refund_policy", ["allow_negative"])


def _refund(key: str, yuan: str, *, original: str = "R-1", format_code: str = "retail", posting_id: int | None = None) -> RefundRequest:
    minor = int(yuan.replace(".", ""))
    if posting_id is not None:
        return RefundRequest(format=format_code, amount=Money(minor, "CNY"), idempotency_key=key, original_posting_id=posting_id)
    return RefundRequest(format=format_code, amount=Money(minor, "CNY"), idempotency_key=key, original_key=original)


def _receipt(yuan: str, at: datetime = T0) -> object:
    return retail_purchase([("SKU1", "grocery", 1, yuan)], purchased_at=at)


async def _member(core: Core) -> int:
    return await enrol_phone(core, PHONE, T0 - relativedelta(months=30))


async def _verify(core: Core) -> list[Discrepancy]:
    async with core.db.read() as conn:
        return list(await verify_ledger(conn))


async def _entries(core: Core, posting_id: int) -> set[tuple[str, int | None, int]]:
    async with core.db.read() as conn:
        rows = await conn.execute(
            select(entry_table.c.account, entry_table.c.member_id, entry_table.c.amount).where(entry_table.c.posting_id == posting_id)
        )
        return {tuple(row) for row in rows.all()}  # type: ignore[misc]


async def _balances(core: Core, member_id: int) -> tuple[int, int]:
    """``(points_balance, pending_balance)`` as stored."""
    async with core.db.read() as conn:
        row = (
            await conn.execute(
                select(member_table.c.points_balance, member_table.c.pending_balance).where(member_table.c.id == member_id)
            )
        ).one()
    return int(row[0]), int(row[1])


async def _remaining(core: Core, earned: PostingResult) -> int:
    async with core.db.read() as conn:
        return int(await conn.scalar(select(lot_table.c.remaining).where(lot_table.c.posting_id == earned.id)))


async def _spend_retail_points_on_a_dessert(core: Core) -> int:
    """A member who earned 1000 pts at retail (R-1) and 300 at dining (D-1), then spent 800 on a dessert.

    The dessert drew the retail lot first (same expiry, lower id): 200 pts are left of it, 300 of the dining lot.
    """
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("1000.00"), T0)
    await earn(core, member_id, "D-1", dining_bill("300.00", closed_at=T0), T0, format_code="dining", kind="bill")
    await redeem(core, RedeemRequest(MemberRef(member_id=member_id), "dining", "dessert_voucher", 1, "RD-1"), now=T0)
    return member_id


def test_prorating_rounds_down_and_gives_everything_back_for_the_whole() -> None:
    assert [prorate(100, part, 10000) for part in (3333, 6666, 10000)] == [33, 66, 100]
    assert prorate(10**12, 10**12 - 1, 10**12) == 10**12 - 1


async def test_a_full_refund_claws_back_every_point_and_all_growth(core: Core) -> None:
    member_id = await _member(core)
    earned = await earn(core, member_id, "R-1", _receipt("120.00"), T0)

    refund = await refund_activity(core, _refund("RF-1", "120.00"), now=T0)

    assert (refund.kind, refund.format, refund.points, refund.growth, refund.balance_after) == ("reverse", "retail", -120, -120, 0)
    assert (refund.amount_minor, refund.currency) == (12000, "CNY")
    assert await member_state(core, member_id) == (0, 0, "member")
    assert await _entries(core, refund.id) == {("member.wallet", member_id, -120), ("format.retail.issuance", None, 120)}
    async with core.db.read() as conn:
        reverses = await conn.scalar(select(posting_table.c.reverses_posting_id).where(posting_table.c.id == refund.id))
    assert reverses == earned.id
    assert await _remaining(core, earned) == 0
    assert await _verify(core) == []


async def test_a_refund_lowers_growth_but_leaves_the_tier_until_evaluation(core: Core) -> None:
    member_id = await _member(core)
    earned = await earn(core, member_id, "R-1", _receipt("2500.00"), T0)
    assert earned.tier_after == "silver"

    refund = await refund_activity(core, _refund("RF-1", "2500.00"), now=T0)

    assert (refund.tier_before, refund.tier_after) == ("silver", "silver")
    assert await member_state(core, member_id) == (0, 0, "silver")
    assert await _verify(core) == []


async def test_partial_refunds_add_up_to_exactly_the_points_and_growth_earned(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("100.00"), T0)

    refunds = [
        await refund_activity(core, _refund(f"RF-{n}", yuan), now=T0)
        for n, yuan in enumerate(("33.33", "33.33", "33.34"), 1)
    ]

    # Rounded down one by one, each would take 33: the cumulative share takes 33, 33, then 34.
    assert [r.points for r in refunds] == [-33, -33, -34]
    assert [r.growth for r in refunds] == [-33, -33, -34]
    assert await member_state(core, member_id) == (0, 0, "member")
    assert await _verify(core) == []


async def test_two_partial_refunds_of_a_tier_boosted_activity_sum_to_its_points(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-0", _receipt("2000.00"), T0)  # silver: ×1.2 from now on
    earned = await earn(core, member_id, "R-1", _receipt("99.99"), T0)
    assert (earned.points, earned.growth) == (118, 99)

    first = await refund_activity(core, _refund("RF-1", "50.00"), now=T0)
    second = await refund_activity(core, _refund("RF-2", "49.99"), now=T0)

    assert (first.points, first.growth) == (-59, -49)  # floor(118 × 5000 / 9999), floor(99 × 5000 / 9999)
    assert (first.points + second.points, first.growth + second.growth) == (-118, -99)
    assert await _remaining(core, earned) == 0
    assert await _verify(core) == []


async def test_a_refund_takes_pending_points_of_the_activity_first(core: Core) -> None:
    member_id = await _member(core)
    sale = BoutiqueSaleInput(points_now=10, points_later=100, pending_days=14, sold_at=T0)
    await earn(core, member_id, "B-1", sale, T0, format_code="boutique", kind="sale")

    refund = await refund_activity(core, _refund("RF-1", "50.00", original="B-1", format_code="boutique"), now=T0)

    assert refund.points == -55  # half of 110, all of it from the 100 still pending
    assert await _balances(core, member_id) == (10, 45)
    assert await _entries(core, refund.id) == {("member.pending", member_id, -55), ("format.boutique.issuance", None, 55)}
    assert await _verify(core) == []


async def test_spent_points_are_taken_back_only_as_far_as_the_wallet_goes_by_default(core: Core) -> None:
    member_id = await _spend_retail_points_on_a_dessert(core)

    refund = await refund_activity(core, _refund("RF-1", "1000.00"), now=T0)

    assert (refund.points, refund.balance_after) == (-500, 0)
    assert refund.details["unrecovered"] == 500
    assert (refund.details["fromActivityLots"], refund.details["fromOtherPoints"], refund.details["debt"]) == (200, 300, 0)
    assert "500 pts already spent could not be taken back" in refund.reason
    assert await _entries(core, refund.id) == {("member.wallet", member_id, -500), ("format.retail.issuance", None, 500)}
    assert await _verify(core) == []


@allow_negative
async def test_spent_points_leave_a_negative_balance_when_the_policy_allows_it(core: Core) -> None:
    member_id = await _spend_retail_points_on_a_dessert(core)

    refund = await refund_activity(core, _refund("RF-1", "1000.00"), now=T0)

    assert (refund.points, refund.balance_after) == (-1000, -500)
    assert (refund.details["debt"], refund.details["unrecovered"]) == (500, 0)
    assert await _entries(core, refund.id) == {("member.wallet", member_id, -1000), ("format.retail.issuance", None, 1000)}
    async with core.db.read() as conn:
        lots = (await conn.execute(select(lot_table.c.remaining).where(lot_table.c.member_id == member_id))).scalars().all()
    assert lots == [0, 0]  # the debt is in no lot
    assert await _verify(core) == []


@allow_negative
async def test_a_debt_is_repaid_from_the_next_points_earned(core: Core) -> None:
    member_id = await _spend_retail_points_on_a_dessert(core)
    await refund_activity(core, _refund("RF-1", "1000.00"), now=T0)

    partly = await earn(core, member_id, "R-2", _receipt("300.00"), T0)
    assert (partly.balance_after, await _remaining(core, partly)) == (-200, 0)
    assert await _verify(core) == []
    repaid = await earn(core, member_id, "R-3", _receipt("500.00"), T0)

    assert (repaid.balance_after, await _remaining(core, repaid)) == (300, 300)
    async with core.db.read() as conn:
        traced = (
            await conn.execute(select(lot_consumption_table.c.posting_id, lot_consumption_table.c.points).where(
                lot_consumption_table.c.posting_id.in_([partly.id, repaid.id])
            ).order_by(lot_consumption_table.c.id))
        ).all()
    assert [tuple(row) for row in traced] == [(partly.id, 300), (repaid.id, 200)]
    assert await _verify(core) == []


@allow_negative
async def test_verify_still_flags_a_negative_balance_no_refund_made(core: Core) -> None:
    indebted = await _spend_retail_points_on_a_dessert(core)
    await refund_activity(core, _refund("RF-1", "1000.00"), now=T0)
    other = await enrol_phone(core, "13900139000", T0)
    async with core.db.write() as conn:
        await conn.execute(update(member_table).where(member_table.c.id == other).values(points_balance=-5))

    found = await _verify(core)

    assert {d.member_id for d in found} == {other}
    assert indebted != other


async def test_refund_of_points_that_expired_takes_them_from_the_expiry_account(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("100.00", T0 - relativedelta(months=25)), T0)
    await earn(core, member_id, "R-2", _receipt("300.00"), T0)
    await expire_points(core, now=T0)

    refund = await refund_activity(core, _refund("RF-1", "100.00"), now=T0)

    assert (refund.points, refund.balance_after, refund.details["fromExpiry"]) == (0, 300, 100)
    assert await _entries(core, refund.id) == {("group.expiry", None, -100), ("format.retail.issuance", None, 100)}
    assert await _verify(core) == []


async def test_replaying_a_refund_returns_the_original_and_writes_nothing(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("120.00"), T0)
    original = await refund_activity(core, _refund("RF-1", "120.00"), now=T0)
    before = await snapshot(core)

    replay = await refund_activity(core, _refund("RF-1", "120.00"), now=T0)

    assert replay.replayed is True
    assert replay == original
    assert await snapshot(core) == before
    assert await _verify(core) == []


async def test_naming_the_activity_by_posting_id_is_the_same_refund_as_by_its_key(core: Core) -> None:
    member_id = await _member(core)
    earned = await earn(core, member_id, "R-1", _receipt("120.00"), T0)
    original = await refund_activity(core, _refund("RF-1", "60.00", posting_id=earned.id), now=T0)

    replay = await refund_activity(core, _refund("RF-1", "60.00"), now=T0)

    assert (replay.id, replay.replayed, replay.points) == (original.id, True, -60)
    assert await _verify(core) == []


async def test_a_refund_key_reused_for_another_amount_is_idempotency_key_reused(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("120.00"), T0)
    await refund_activity(core, _refund("RF-1", "20.00"), now=T0)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await refund_activity(core, _refund("RF-1", "30.00"), now=T0)

    assert (raised.value.code, raised.value.field) == (ErrorCode.IDEMPOTENCY_KEY_REUSED, "idempotencyKey")
    assert await snapshot(core) == before


async def test_refunding_more_than_is_left_is_refund_exceeds_activity(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("120.00"), T0)
    await refund_activity(core, _refund("RF-1", "80.00"), now=T0)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await refund_activity(core, _refund("RF-2", "40.01"), now=T0)

    assert (raised.value.code, raised.value.field) == (ErrorCode.REFUND_EXCEEDS_ACTIVITY, "amount")
    assert "40.00" in raised.value.message
    after = await snapshot(core)
    assert after["members"] == before["members"]
    assert after["counts"] == {**before["counts"], "idempotency_failure": 1}  # type: ignore[dict-item]
    assert await _verify(core) == []


async def test_a_refused_refund_key_stays_failed(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("120.00"), T0)
    with pytest.raises(AtriumError):
        await refund_activity(core, _refund("RF-1", "150.00"), now=T0)

    with pytest.raises(AtriumError) as raised:
        await refund_activity(core, _refund("RF-1", "150.00"), now=T0)

    assert raised.value.code is ErrorCode.REFUND_EXCEEDS_ACTIVITY
    assert await member_state(core, member_id) == (120, 120, "member")
    assert await _verify(core) == []


async def test_a_frozen_members_activity_can_still_be_refunded(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("120.00"), T0)
    await freeze_member(core.db, MemberRef(member_id=member_id), actor="admin", reason="under investigation", now=T0)

    refund = await refund_activity(core, _refund("RF-1", "120.00"), now=T0)

    assert (refund.points, refund.balance_after) == (-120, 0)
    assert await _verify(core) == []


async def test_refunding_an_unknown_receipt_is_posting_not_found(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("120.00"), T0)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await refund_activity(core, _refund("RF-1", "10.00", original="R-404"), now=T0)

    assert (raised.value.code, raised.value.field) == (ErrorCode.POSTING_NOT_FOUND, "original")
    assert await snapshot(core) == before


async def test_another_formats_activity_is_not_found_by_posting_id(core: Core) -> None:
    member_id = await _member(core)
    earned = await earn(core, member_id, "R-1", _receipt("120.00"), T0)

    with pytest.raises(AtriumError) as raised:
        await refund_activity(core, _refund("RF-1", "10.00", format_code="dining", posting_id=earned.id), now=T0)

    assert raised.value.code is ErrorCode.POSTING_NOT_FOUND


@pytest.mark.parametrize(
    ("amount", "code", "field"),
    [
        (Money(0, "CNY"), ErrorCode.INVALID_AMOUNT, "amount.amount"),
        (Money(-100, "CNY"), ErrorCode.INVALID_AMOUNT, "amount.amount"),
        (Money(100, "USD"), ErrorCode.UNSUPPORTED_CURRENCY, "amount.currency"),
    ],
)
async def test_a_refund_amount_that_is_not_a_positive_amount_in_the_activitys_currency_is_refused(
    core: Core, amount: Money, code: ErrorCode, field: str
) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("120.00"), T0)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await refund_activity(core, RefundRequest(format="retail", amount=amount, idempotency_key="RF-1", original_key="R-1"), now=T0)

    assert (raised.value.code, raised.value.field) == (code, field)
    assert await snapshot(core) == before


async def test_refund_keys_are_scoped_to_their_format(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("120.00"), T0)
    await earn(core, member_id, "D-1", dining_bill("100.00", closed_at=T0), T0, format_code="dining", kind="bill")

    retail = await refund_activity(core, _refund("REFUND-1", "120.00"), now=T0)
    dining = await refund_activity(core, _refund("REFUND-1", "100.00", original="D-1", format_code="dining"), now=T0)

    assert (retail.replayed, dining.replayed, retail.points, dining.points) == (False, False, -120, -100)
    assert await _verify(core) == []


async def test_concurrent_partial_refunds_claw_back_the_activity_once_in_total(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("100.00"), T0)
    await earn(core, member_id, "R-2", _receipt("500.00"), T0)

    outcomes = await asyncio.gather(
        *(refund_activity(core, _refund(f"RF-{n}", "30.00"), now=T0) for n in range(5)), return_exceptions=True
    )

    done = [o for o in outcomes if isinstance(o, PostingResult)]
    refused = [o for o in outcomes if isinstance(o, AtriumError) and o.code is ErrorCode.REFUND_EXCEEDS_ACTIVITY]
    assert (len(done), len(refused)) == (3, 2)
    assert sorted(o.points for o in done) == [-30, -30, -30]
    assert (await member_state(core, member_id))[0] == 510
    assert await _verify(core) == []
