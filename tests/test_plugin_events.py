"""Plugins hear of every committed posting, coupon change and benefit use: once each, after the commit.

A recording plugin is registered after one that raises in every notification hook, so each test
also shows that a raising plugin neither stops the others nor undoes anything. What the recorder
is told is compared with what the database holds afterwards: the posting table, row for row.
"""

from __future__ import annotations

import asyncio
import sqlite3
import typing
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
from atrium_retail.refunds import RetailPurchaseRefundInput, RetailReturnedLineInput
from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from sqlalchemy.engine import make_url

from gateway.benefits.use import UseRequest, cancel_benefit_use, use_benefit
from gateway.core import Core
from gateway.coupons import (
    CancelCouponRequest,
    UseCouponRequest,
    cancel_coupon,
    expire_coupons,
    use_coupon,
)
from gateway.errors import AtriumError, ErrorCode
from gateway.graphql.enums import PostingKindEnum
from gateway.ledger.adjust import AdjustRequest, adjust_points
from gateway.ledger.cancel import CancelRequest, cancel_redemption
from gateway.ledger.cash import OffsetRequest, apply_points_offset
from gateway.ledger.expiry import EXPIRE_SCOPE, expire_points
from gateway.ledger.holds import (
    LAPSE_SCOPE,
    CaptureRequest,
    HoldRequest,
    VoidRequest,
    capture_hold,
    place_hold,
    void_hold,
)
from gateway.ledger.part_refund import PartRefundRequest, refund_parts
from gateway.ledger.pending import RELEASE_SCOPE
from gateway.ledger.postings import MemberRef, PostingResult
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.reverse import RefundRequest, refund_activity
from gateway.member_status import freeze_member
from gateway.merge import MERGE_SCOPE, merge_members
from gateway.money import Money
from gateway.notices import GATEWAY_SCOPES
from gateway.persistence.models import posting_table
from gateway.plugin_api import (
    Benefit,
    BenefitUseEvent,
    CouponEvent,
    PostingEvent,
    PostingKind,
    Quota,
    hookimpl,
)
from tests.conftest import Backend, _asyncpg_dsn, _in_thread
from tests.helpers import earn, enrol_phone, retail_purchase
from tests.pending_plugin import BoutiquePlugin, BoutiqueSaleInput

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
PHONE = "13800138000"
GIFT_BAG = "retail.gift_bag"


class Raising:
    """Raises in every notification hook, as a plugin whose message bus is down would."""

    @hookimpl
    def atrium_posting_committed(self, event: PostingEvent) -> None:
        raise ConnectionError("bus is down")

    @hookimpl
    def atrium_coupon_changed(self, event: CouponEvent) -> None:
        raise ConnectionError("bus is down")

    @hookimpl
    def atrium_benefit_use_changed(self, event: BenefitUseEvent) -> None:
        raise ConnectionError("bus is down")


class Recorder:
    """Records every notification; offers a retail benefit anybody may use once a month."""

    def __init__(self) -> None:
        self.postings: list[PostingEvent] = []
        self.coupons: list[CouponEvent] = []
        self.benefit_uses: list[BenefitUseEvent] = []
        self.visible: list[bool] = []
        self.database_url: str | None = None

    @hookimpl
    def atrium_register_benefits(self, register: Callable[[Benefit], None]) -> None:
        register(Benefit(format="retail", code="gift_bag", name="Gift bag", description="", min_tier="member", quota=Quota(1, "month")))

    @hookimpl
    def atrium_posting_committed(self, event: PostingEvent) -> None:
        self.postings.append(event)
        if self.database_url is not None:
            self.visible.append(_visible_elsewhere(self.database_url, event.posting_id))

    @hookimpl
    def atrium_coupon_changed(self, event: CouponEvent) -> None:
        self.coupons.append(event)

    @hookimpl
    def atrium_benefit_use_changed(self, event: BenefitUseEvent) -> None:
        self.benefit_uses.append(event)

    def told(self) -> int:
        return len(self.postings) + len(self.coupons) + len(self.benefit_uses)


def _visible_elsewhere(url: str, posting_id: int) -> bool:
    """Whether another connection to the database sees posting ``posting_id``: only once it is committed."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        with closing(sqlite3.connect(str(parsed.database))) as conn:
            return conn.execute("SELECT count(*) FROM posting WHERE id = ?", (posting_id,)).fetchone()[0] == 1

    async def read() -> bool:
        import asyncpg

        conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=10)
        try:
            return await conn.fetchval("SELECT count(*) FROM posting WHERE id = $1", posting_id) == 1
        finally:
            await conn.close()

    return bool(_in_thread(asyncio.run, read()))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def extra_plugins(recorder: Recorder) -> list[tuple[str, object]]:
    # "a-raising" sorts first: the recorder after it must still be told.
    return [("a-raising", Raising()), ("boutique", BoutiquePlugin()), ("z-recorder", recorder)]


# --- helpers -------------------------------------------------------------------------------------


async def _stored_postings(core: Core) -> list[PostingEvent]:
    """Every posting in the table, as the event a plugin should have been told of it."""
    columns = posting_table.c
    async with core.db.read() as conn:
        rows = (await conn.execute(select(posting_table).order_by(columns.id))).all()
    return [
        PostingEvent(
            posting_id=row.id,
            member_id=row.member_id,
            kind=row.kind,
            format=row.format,
            points=row.points,
            growth=row.growth,
            balance_after=row.balance_after,
            reason=row.reason,
            occurred_at=row.occurred_at,
            reference=None if row.idempotency_scope in GATEWAY_SCOPES else row.idempotency_key,
        )
        for row in rows
    ]


async def _member(core: Core, phone: str = PHONE) -> int:
    return await enrol_phone(core, phone, T0 - relativedelta(years=1))


async def _sale(core: Core, member_id: int, key: str, now: datetime, *, now_points: int = 3000, later: int = 0) -> PostingResult:
    sale = BoutiqueSaleInput(points_now=now_points, points_later=later, pending_days=14)
    return await earn(core, member_id, key, sale, now, format_code="boutique", kind="sale")


def _ref(member_id: int) -> MemberRef:
    return MemberRef(member_id=member_id)


def _coupon_codes(posting: PostingResult) -> list[str]:
    return list(posting.details["couponCodes"])


async def _refusal(call: typing.Awaitable[object]) -> ErrorCode:
    with pytest.raises(AtriumError) as refused:
        await call
    return refused.value.code


# --- postings ------------------------------------------------------------------------------------


async def test_every_committed_posting_is_told_once_with_its_stored_facts(core: Core, recorder: Recorder) -> None:
    member_id = await _member(core)
    await _sale(core, member_id, "S-1", T0, later=100)
    receipt = retail_purchase([("SKU1", "grocery", 2, "1000.00"), ("SKU2", "grocery", 1, "500.00")], purchased_at=T0)
    await earn(core, member_id, "R-1", receipt, T0)
    dessert = await redeem(core, RedeemRequest(_ref(member_id), "dining", "dessert_voucher", 1, "RD-1"), now=T0)
    vouchers = await redeem(core, RedeemRequest(_ref(member_id), "retail", "voucher_10", 2, "RD-2"), now=T0)
    await use_coupon(core, UseCouponRequest(_coupon_codes(dessert)[0], "TILL-1", "service:dining", "dining"), now=T0)
    await cancel_coupon(core, CancelCouponRequest(_coupon_codes(vouchers)[0], "CX-1", "retail"), now=T0)
    await place_hold(core, HoldRequest(_ref(member_id), "dining", 100, "H-1"), now=T0)
    await capture_hold(core, CaptureRequest("dining", "H-1", "C-1", 60), now=T0)
    await place_hold(core, HoldRequest(_ref(member_id), "dining", 50, "H-2"), now=T0)
    await void_hold(core, VoidRequest("dining", "H-2", "V-1"), now=T0)
    await place_hold(core, HoldRequest(_ref(member_id), "dining", 20, "H-3"), now=T0)
    later = T0 + timedelta(hours=1)  # H-3 has lapsed: the offset's write voids it first
    await apply_points_offset(core, OffsetRequest(_ref(member_id), "dining", Money(100_00, "CNY"), 100, "O-1"), now=later)
    await adjust_points(core, AdjustRequest(_ref(member_id), 10, "Goodwill", "A-1", "admin"), now=later)
    await refund_activity(core, RefundRequest("retail", Money(100_00, "CNY"), "F-1", original_key="R-1"), now=later)
    returned = RetailPurchaseRefundInput(lines=[RetailReturnedLineInput(line=2, quantity=1)])
    await refund_parts(core, PartRefundRequest("retail", "purchase", "R-1", "F-2", returned), now=later)
    weeks_later = T0 + timedelta(days=15)  # the pending points have matured: this write releases them first
    await redeem(core, RedeemRequest(_ref(member_id), "dining", "dessert_voucher", 1, "RD-3"), now=weeks_later)
    years_later = T0 + relativedelta(years=10)
    await expire_coupons(core, now=years_later)
    await expire_points(core, now=years_later)

    stored = await _stored_postings(core)
    assert recorder.postings == stored
    assert {event.kind for event in stored} == set(typing.get_args(PostingKind)) - {"merge"}
    assert len({event.posting_id for event in recorder.postings}) == len(recorder.postings)


async def test_postings_a_write_makes_on_the_way_are_told_before_its_own_and_carry_no_reference(
    core: Core, recorder: Recorder
) -> None:
    member_id = await _member(core)
    await _sale(core, member_id, "S-1", T0, now_points=200, later=100)
    await place_hold(core, HoldRequest(_ref(member_id), "boutique", 50, "H-1", timedelta(minutes=5)), now=T0)
    recorder.postings.clear()

    await _sale(core, member_id, "S-2", T0 + timedelta(days=15), now_points=10)

    assert [(event.kind, event.reference, event.points) for event in recorder.postings] == [
        ("release", None, 100),
        ("void", None, 50),
        ("earn", "S-2", 10),
    ]
    assert recorder.postings == (await _stored_postings(core))[-3:]


async def test_plugins_are_told_only_once_the_posting_is_committed(
    core: Core, recorder: Recorder, backend: Backend
) -> None:
    member_id = await _member(core)
    recorder.database_url = backend.url

    await _sale(core, member_id, "S-1", T0, now_points=200)
    await redeem(core, RedeemRequest(_ref(member_id), "boutique", "gift_wrap", 1, "G-1"), now=T0)

    assert [event.kind for event in recorder.postings] == ["earn", "redeem"]
    assert recorder.visible == [True, True]


async def test_a_replayed_request_is_not_told_again(core: Core, recorder: Recorder) -> None:
    member_id = await _member(core)
    await _sale(core, member_id, "S-1", T0)
    await redeem(core, RedeemRequest(_ref(member_id), "boutique", "gift_wrap", 1, "G-1"), now=T0)
    await place_hold(core, HoldRequest(_ref(member_id), "dining", 100, "H-1"), now=T0)
    await capture_hold(core, CaptureRequest("dining", "H-1", "C-1"), now=T0)
    await apply_points_offset(core, OffsetRequest(_ref(member_id), "dining", Money(100_00, "CNY"), 100, "O-1"), now=T0)
    await adjust_points(core, AdjustRequest(_ref(member_id), 10, "Goodwill", "A-1", "admin"), now=T0)
    await refund_activity(core, RefundRequest("boutique", Money(10_00, "CNY"), "F-1", original_key="S-1"), now=T0)
    await cancel_redemption(core, CancelRequest("boutique", "CX-1", redemption_key="G-1"), now=T0)
    told = list(recorder.postings)

    replays = [
        await _sale(core, member_id, "S-1", T0),
        await redeem(core, RedeemRequest(_ref(member_id), "boutique", "gift_wrap", 1, "G-1"), now=T0),
        (await place_hold(core, HoldRequest(_ref(member_id), "dining", 100, "H-1"), now=T0)).posting,
        (await capture_hold(core, CaptureRequest("dining", "H-1", "C-1"), now=T0)).posting,
        await apply_points_offset(core, OffsetRequest(_ref(member_id), "dining", Money(100_00, "CNY"), 100, "O-1"), now=T0),
        await adjust_points(core, AdjustRequest(_ref(member_id), 10, "Goodwill", "A-1", "admin"), now=T0),
        await refund_activity(core, RefundRequest("boutique", Money(10_00, "CNY"), "F-1", original_key="S-1"), now=T0),
        await cancel_redemption(core, CancelRequest("boutique", "CX-1", redemption_key="G-1"), now=T0),
    ]

    assert all(posting.replayed for posting in replays)
    assert [event.kind for event in told] == ["earn", "redeem", "hold", "capture", "offset", "adjust", "reverse", "cancel"]
    assert recorder.postings == told


async def test_a_refused_request_tells_nothing_not_even_what_its_rolled_back_catch_up_wrote(
    core: Core, recorder: Recorder
) -> None:
    member_id = await _member(core)
    await _sale(core, member_id, "S-1", T0, now_points=100, later=100)
    await place_hold(core, HoldRequest(_ref(member_id), "dining", 50, "H-1", timedelta(minutes=5)), now=T0)
    told = recorder.told()
    later = T0 + timedelta(days=15)  # points to release and a hold to void, were the write to commit

    too_much = RedeemRequest(_ref(member_id), "boutique", "gift_wrap", 10, "G-1")
    assert await _refusal(redeem(core, too_much, now=later)) == ErrorCode.INSUFFICIENT_POINTS
    await freeze_member(core.db, _ref(member_id), actor="admin", reason="Fraud check", now=later)
    assert await _refusal(_sale(core, member_id, "S-2", later)) == ErrorCode.MEMBER_FROZEN

    assert recorder.told() == told
    assert [event.kind for event in await _stored_postings(core)] == ["earn", "hold"]


async def test_a_posting_written_and_then_rolled_back_is_not_told(core: Core, recorder: Recorder) -> None:
    member_id = await _member(core)
    await _sale(core, member_id, "S-1", T0)
    vouchers = await redeem(core, RedeemRequest(_ref(member_id), "retail", "voucher_10", 2, "RD-1"), now=T0)
    await use_coupon(core, UseCouponRequest(_coupon_codes(vouchers)[1], "TILL-1", "service:retail", "retail"), now=T0)
    told = recorder.told()

    # The cancellation's posting is written before its coupons are found used; then it all rolls back.
    cancel = CancelRequest("retail", "CX-1", redemption_key="RD-1")
    assert await _refusal(cancel_redemption(core, cancel, now=T0)) == ErrorCode.COUPON_NOT_USABLE

    assert recorder.told() == told
    assert "cancel" not in [event.kind for event in await _stored_postings(core)]


async def test_a_raising_plugin_is_logged_and_the_postings_and_the_other_plugins_are_unaffected(
    core: Core, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = await _member(core), await _member(core, "13900139000")
    await _sale(core, first, "S-1", T0, now_points=100)
    await _sale(core, second, "S-2", T0, now_points=200)

    report = await expire_points(core, now=T0 + relativedelta(years=10))

    assert [(event.kind, event.member_id, event.points) for event in recorder.postings[-2:]] == [
        ("expire", first, -100),
        ("expire", second, -200),
    ]
    assert [expired.member_id for expired in report.members] == [first, second]
    assert "plugin 'a-raising' raised in atrium_posting_committed; the posting stands" in caplog.text
    assert recorder.postings == await _stored_postings(core)


async def test_a_merge_is_told_as_a_posting_of_the_survivor(core: Core, recorder: Recorder) -> None:
    keep, gone = await _member(core), await _member(core, "13900139000")
    await _sale(core, gone, "S-1", T0, now_points=300)

    merged = await merge_members(core, _ref(keep), _ref(gone), actor="admin", reason="Same person", now=T0)

    [event] = [event for event in recorder.postings if event.kind == "merge"]
    assert (event.posting_id, event.member_id, event.points, event.reference) == (merged.posting_id, keep, 300, None)


# --- coupons -------------------------------------------------------------------------------------


async def test_each_coupon_is_told_when_issued_used_cancelled_and_expired(core: Core, recorder: Recorder) -> None:
    member_id = await _member(core)
    await _sale(core, member_id, "S-1", T0, now_points=4000)
    dessert = await redeem(core, RedeemRequest(_ref(member_id), "dining", "dessert_voucher", 1, "RD-1"), now=T0)
    vouchers = await redeem(core, RedeemRequest(_ref(member_id), "retail", "voucher_10", 2, "RD-2"), now=T0)
    kept = await redeem(core, RedeemRequest(_ref(member_id), "dining", "dessert_voucher", 1, "RD-3"), now=T0)
    [dessert_code], [kept_code] = _coupon_codes(dessert), _coupon_codes(kept)
    use = UseCouponRequest(dessert_code, "TILL-1", "service:dining", "dining", till="Counter 2")
    used_at = T0 + timedelta(hours=2)

    await use_coupon(core, use, now=used_at)
    cancelled = await cancel_coupon(core, CancelCouponRequest(_coupon_codes(vouchers)[1], "CX-1", "retail"), now=used_at)
    await expire_coupons(core, now=T0 + relativedelta(years=1))

    assert [(event.kind, event.code, event.reward, event.redemption_posting_id) for event in recorder.coupons] == [
        ("issued", dessert_code, "dessert_voucher", dessert.id),
        *[("issued", code, "voucher_10", vouchers.id) for code in _coupon_codes(vouchers)],
        ("issued", kept_code, "dessert_voucher", kept.id),
        ("used", dessert_code, "dessert_voucher", dessert.id),
        *[("cancelled", code, "voucher_10", vouchers.id) for code in _coupon_codes(vouchers)],
        ("expired", kept_code, "dessert_voucher", kept.id),
    ]
    used = recorder.coupons[4]
    assert (used.member_id, used.format, used.at, used.till) == (member_id, "dining", used_at, "Counter 2")
    assert {event.cancel_posting_id for event in recorder.coupons if event.kind == "cancelled"} == {cancelled.posting.id}
    assert len({event.coupon_id for event in recorder.coupons if event.kind == "issued"}) == 4


async def test_a_replayed_or_refused_coupon_use_is_not_told(core: Core, recorder: Recorder) -> None:
    member_id = await _member(core)
    await _sale(core, member_id, "S-1", T0)
    [code] = _coupon_codes(await redeem(core, RedeemRequest(_ref(member_id), "dining", "dessert_voucher", 1, "RD-1"), now=T0))
    await use_coupon(core, UseCouponRequest(code, "TILL-1", "service:dining", "dining"), now=T0)
    told = list(recorder.coupons)

    replay = await use_coupon(core, UseCouponRequest(code, "TILL-1", "service:dining", "dining"), now=T0)
    again = UseCouponRequest(code, "TILL-2", "service:dining", "dining")

    assert replay.replayed
    assert await _refusal(use_coupon(core, again, now=T0)) == ErrorCode.COUPON_NOT_USABLE
    assert [event.kind for event in told] == ["issued", "used"]
    assert recorder.coupons == told


# --- benefits ------------------------------------------------------------------------------------


def _gift_bag(member_id: int, key: str) -> UseRequest:
    return UseRequest(_ref(member_id), GIFT_BAG, 1, key, scope="service:retail", actor="service:retail", where="retail")


async def test_a_benefit_use_and_its_cancellation_are_told_once_each(core: Core, recorder: Recorder) -> None:
    member_id = await _member(core)

    used = await use_benefit(core, _gift_bag(member_id, "B-1"), now=T0)
    await use_benefit(core, _gift_bag(member_id, "B-1"), now=T0)
    assert await _refusal(use_benefit(core, _gift_bag(member_id, "B-2"), now=T0)) == ErrorCode.QUOTA_EXCEEDED
    cancelled_at = T0 + timedelta(minutes=5)
    await cancel_benefit_use(core, scope="service:retail", idempotency_key="B-1", now=cancelled_at)
    await cancel_benefit_use(core, scope="service:retail", idempotency_key="B-1", now=cancelled_at)

    assert recorder.benefit_uses == [
        BenefitUseEvent(used.id, member_id, GIFT_BAG, "retail", 1, "use", T0, "B-1", remaining_in_period=0),
        BenefitUseEvent(used.id, member_id, GIFT_BAG, "retail", 1, "cancel", cancelled_at, "B-1"),
    ]


# --- the contract, without a database --------------------------------------------------------------


def test_the_posting_kinds_plugins_are_told_are_the_kinds_the_schema_shows() -> None:
    assert set(typing.get_args(PostingKind)) == {kind.value for kind in PostingKindEnum}


def test_the_postings_without_a_reference_are_those_the_gateway_makes_by_itself() -> None:
    assert GATEWAY_SCOPES == {RELEASE_SCOPE, LAPSE_SCOPE, EXPIRE_SCOPE, MERGE_SCOPE}


def test_a_plugin_built_for_the_first_four_kinds_still_builds_events_positionally() -> None:
    event = PostingEvent(7, 1, "earn", "retail", 10, 10, 10, "test")

    assert (event.occurred_at, event.reference) == (None, None)
