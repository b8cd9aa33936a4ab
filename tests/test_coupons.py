"""Coupons: issued by a redemption, looked up and used once by a till of the issuing format,
cancelled with their points returned, or expired without."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select
from typer.testing import CliRunner

from gateway.cli import app as cli
from gateway.core import Core, build_host, open_core
from gateway.coupons import (
    CancelCouponRequest,
    UseCouponRequest,
    cancel_coupon,
    expire_coupons,
    lookup_coupon,
    use_coupon,
)
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.cancel import CancelRequest, cancel_redemption
from gateway.ledger.coupons import CouponRow
from gateway.ledger.postings import MemberRef, PostingResult
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.verify import verify_ledger
from gateway.member_status import freeze_member
from gateway.persistence.coupon_tables import coupon_table
from gateway.persistence.models import lot_table
from gateway.plugin_api import CouponSpec, Fulfilment, Money, RedemptionType, hookimpl
from gateway.settings import Settings
from tests.conftest import Backend
from tests.helpers import earn, enrol_phone, member_state, retail_purchase, snapshot

PHONE = "13800138000"
T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)


class BrokenCoupons:
    """A throwaway plugin whose coupon reward writes a details key the gateway reserves for codes."""

    @staticmethod
    @hookimpl
    def atrium_register_redemption_types(register):  # type: ignore[no-untyped-def]
        register(
            RedemptionType(
                format="retail",
                code="bad_voucher",
                name="Bad voucher",
                description="Claims the gateway's details key.",
                points=10,
                fulfil=lambda request: Fulfilment("bad", {"couponCodes": ["MINE"]}),
                coupon=CouponSpec(item="Nothing"),
            )
        )


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    return [("broken_coupons", BrokenCoupons())]


async def _member(core: Core, points: str = "5000.00") -> int:
    member_id = await enrol_phone(core, PHONE, T0 - relativedelta(months=1))
    await earn(core, member_id, "R-EARN", retail_purchase([("SKU1", "grocery", 1, points)], purchased_at=T0), T0)
    return member_id


async def _redeem(
    core: Core, member_id: int, key: str = "RD-1", *, reward: str = "dessert_voucher", fmt: str = "dining", quantity: int = 1
) -> PostingResult:
    return await redeem(core, RedeemRequest(MemberRef(member_id=member_id), fmt, reward, quantity, key), now=T0)


def _use(code: str, key: str = "TILL-1", fmt: str | None = "dining", till: str | None = None) -> UseCouponRequest:
    return UseCouponRequest(code=code, idempotency_key=key, used_by=f"service:{fmt}" if fmt else "admin", format_code=fmt, till=till)


async def _coupon(core: Core, code: str) -> CouponRow:
    return await lookup_coupon(core, code)


async def _refused(work) -> AtriumError:  # type: ignore[no-untyped-def]
    with pytest.raises(AtriumError) as raised:
        await work
    return raised.value


async def _balance(core: Core, member_id: int) -> int:
    return (await member_state(core, member_id))[0]


async def _verify(core: Core) -> list[object]:
    async with core.db.read() as conn:
        return list(await verify_ledger(conn))


# --- issuing --------------------------------------------------------------------------------------


async def test_redeeming_a_coupon_reward_issues_one_coupon_per_unit_with_its_value_and_expiry(core: Core) -> None:
    member_id = await _member(core)

    posting = await _redeem(core, member_id, reward="voucher_10", fmt="retail", quantity=3)

    codes = posting.details["couponCodes"]
    assert len(set(codes)) == 3 and all(code.startswith("RET-") and len(code) == 16 for code in codes)
    assert posting.details["couponsExpireAt"] == (T0 + timedelta(days=90)).isoformat()
    for code in codes:
        coupon = await _coupon(core, code)
        assert (coupon.member_id, coupon.format, coupon.reward_code, coupon.redemption_posting_id) == (
            member_id, "retail", "voucher_10", posting.id
        )
        assert (coupon.status_at(T0), coupon.value_minor, coupon.currency, coupon.item) == ("issued", 1000, "CNY", None)
        assert (coupon.issued_at, coupon.expires_at) == (T0, T0 + timedelta(days=90))


async def test_an_item_coupon_names_its_item_and_has_no_face_value(core: Core) -> None:
    member_id = await _member(core)
    posting = await _redeem(core, member_id)

    coupon = await _coupon(core, posting.details["couponCodes"][0])

    assert (coupon.item, coupon.value_minor, coupon.currency) == ("Dessert of the day", None, None)
    assert coupon.expires_at == T0 + timedelta(days=30)


async def test_a_replayed_redemption_returns_the_same_codes_and_issues_no_more(core: Core) -> None:
    member_id = await _member(core)
    original = await _redeem(core, member_id, reward="parking_hour", fmt="property", quantity=2)
    after = await snapshot(core)

    replay = await _redeem(core, member_id, reward="parking_hour", fmt="property", quantity=2)

    assert replay.replayed and replay.details == original.details
    assert await snapshot(core) == after
    assert after["counts"]["coupon"] == 2  # type: ignore[index]


async def test_a_fulfilment_writing_the_gateways_coupon_keys_fails_and_writes_nothing(core: Core) -> None:
    member_id = await _member(core)
    before = await snapshot(core)

    error = await _refused(_redeem(core, member_id, reward="bad_voucher", fmt="retail"))

    assert error.code is ErrorCode.PLUGIN_FAILED and "couponCodes" in error.message
    assert await snapshot(core) == before


def test_a_coupon_spec_must_say_what_a_coupon_is_worth() -> None:
    with pytest.raises(ValueError, match="face_value, an item"):
        CouponSpec(valid_days=30)
    with pytest.raises(ValueError, match="valid_days"):
        CouponSpec(valid_days=0, item="Popcorn")
    with pytest.raises(ValueError, match="prefix"):
        CouponSpec(item="Popcorn", prefix="cin-")
    with pytest.raises(ValueError, match="positive Money"):
        CouponSpec(face_value=Money(0, "CNY"))


# --- looking up and using ------------------------------------------------------------------------


async def test_a_till_finds_its_formats_coupon_typed_loosely_and_other_formats_get_not_found(core: Core) -> None:
    member_id = await _member(core)
    code = (await _redeem(core, member_id)).details["couponCodes"][0]
    typed = f"  {code[:8].lower()} {code[8:]} "

    found = await lookup_coupon(core, typed, format_code="dining")
    other = await _refused(lookup_coupon(core, code, format_code="retail"))
    missing = await _refused(lookup_coupon(core, "DIN-NOSUCHCODE00", format_code="dining"))

    assert found.code == code
    assert (other.code, other.field) == (ErrorCode.COUPON_NOT_FOUND, "code")
    assert missing.code is ErrorCode.COUPON_NOT_FOUND
    assert other.message == f"There is no coupon {code!r} here."  # no hint that another format issued it


async def test_a_member_finds_only_its_own_coupons(core: Core) -> None:
    member_id = await _member(core)
    code = (await _redeem(core, member_id)).details["couponCodes"][0]

    assert (await lookup_coupon(core, code, member_id=member_id)).code == code
    assert (await _refused(lookup_coupon(core, code, member_id=member_id + 1))).code is ErrorCode.COUPON_NOT_FOUND


async def test_using_a_coupon_records_when_who_and_which_till(core: Core) -> None:
    member_id = await _member(core)
    code = (await _redeem(core, member_id)).details["couponCodes"][0]
    at = T0 + timedelta(days=3)

    used = await use_coupon(core, _use(code, till="RST-JADE-T12"), now=at)

    assert not used.replayed
    assert (used.coupon.status_at(at), used.coupon.used_at, used.coupon.used_by, used.coupon.used_till) == (
        "used", at, "service:dining", "RST-JADE-T12"
    )
    assert await _balance(core, member_id) == 4200  # a use moves no points


async def test_a_coupon_is_used_once_and_a_second_use_says_it_was_used(core: Core) -> None:
    member_id = await _member(core)
    code = (await _redeem(core, member_id)).details["couponCodes"][0]
    await use_coupon(core, _use(code, "TILL-1"), now=T0)

    error = await _refused(use_coupon(core, _use(code, "TILL-2"), now=T0 + timedelta(minutes=1)))

    assert (error.code, error.field) == (ErrorCode.COUPON_NOT_USABLE, "code")
    assert error.message == f"Coupon {code} was already used at {T0.isoformat()}."


async def test_a_retry_of_the_winning_use_returns_the_same_success(core: Core) -> None:
    member_id = await _member(core)
    code = (await _redeem(core, member_id)).details["couponCodes"][0]
    first = await use_coupon(core, _use(code, "TILL-1"), now=T0)
    after = await snapshot(core)

    again = await use_coupon(core, _use(code, "TILL-1"), now=T0 + timedelta(minutes=5))

    assert again.replayed and again.coupon == first.coupon
    assert await snapshot(core) == after


async def test_the_use_key_on_another_coupon_is_idempotency_key_reused(core: Core) -> None:
    member_id = await _member(core)
    first, second = (await _redeem(core, member_id, quantity=2)).details["couponCodes"]
    await use_coupon(core, _use(first, "TILL-1"), now=T0)

    error = await _refused(use_coupon(core, _use(second, "TILL-1"), now=T0))

    assert (error.code, error.field) == (ErrorCode.IDEMPOTENCY_KEY_REUSED, "idempotencyKey")
    assert (await _coupon(core, second)).status_at(T0) == "issued"


async def test_another_formats_till_cannot_use_the_coupon(core: Core) -> None:
    member_id = await _member(core)
    code = (await _redeem(core, member_id)).details["couponCodes"][0]

    error = await _refused(use_coupon(core, _use(code, fmt="retail"), now=T0))

    assert error.code is ErrorCode.COUPON_NOT_FOUND
    assert (await _coupon(core, code)).status_at(T0) == "issued"


async def test_an_admin_may_use_any_formats_coupon(core: Core) -> None:
    member_id = await _member(core)
    code = (await _redeem(core, member_id)).details["couponCodes"][0]

    used = await use_coupon(core, _use(code, fmt=None), now=T0)

    assert (used.coupon.status_at(T0), used.coupon.used_by) == ("used", "admin")


async def test_a_frozen_members_coupon_cannot_be_used(core: Core) -> None:
    member_id = await _member(core)
    code = (await _redeem(core, member_id)).details["couponCodes"][0]
    await freeze_member(core.db, MemberRef(member_id=member_id), actor="admin", reason="fraud check", now=T0)

    error = await _refused(use_coupon(core, _use(code), now=T0))

    assert error.code is ErrorCode.MEMBER_FROZEN
    assert (await _coupon(core, code)).status_at(T0) == "issued"


async def test_a_hundred_concurrent_uses_from_two_gateways_let_exactly_one_win(core: Core, settings: Settings) -> None:
    member_id = await _member(core)
    code = (await _redeem(core, member_id)).details["couponCodes"][0]
    other = await open_core(settings, build_host(settings))  # a second gateway process on the same database
    try:
        attempts = [use_coupon((core, other)[n % 2], _use(code, f"TILL-{n}"), now=T0) for n in range(100)]
        results = await asyncio.gather(*attempts, return_exceptions=True)
    finally:
        await other.close()

    wins = [result for result in results if not isinstance(result, BaseException)]
    refusals = [result for result in results if isinstance(result, AtriumError)]
    assert len(wins) == 1 and len(refusals) == 99
    assert {(error.code, error.message.split(" at ")[0]) for error in refusals} == {
        (ErrorCode.COUPON_NOT_USABLE, f"Coupon {code} was already used")
    }
    coupon = await _coupon(core, code)
    assert (coupon.status_at(T0), coupon.use_key) == ("used", wins[0].coupon.use_key)


# --- expiry ---------------------------------------------------------------------------------------


async def test_a_coupon_past_its_expiry_reads_expired_and_cannot_be_used(core: Core) -> None:
    member_id = await _member(core)
    code = (await _redeem(core, member_id)).details["couponCodes"][0]
    expiry = T0 + timedelta(days=30)
    assert (await _coupon(core, code)).status_at(expiry - timedelta(seconds=1)) == "issued"

    error = await _refused(use_coupon(core, _use(code), now=expiry))

    assert (await _coupon(core, code)).status_at(expiry) == "expired"
    assert (error.code, error.message) == (ErrorCode.COUPON_NOT_USABLE, f"Coupon {code} expired at {expiry.isoformat()}.")


async def test_the_expiry_job_marks_expired_coupons_once_and_returns_no_points(core: Core) -> None:
    member_id = await _member(core)
    dessert = (await _redeem(core, member_id)).details["couponCodes"][0]
    voucher = (await _redeem(core, member_id, "RD-2", reward="voucher_10", fmt="retail")).details["couponCodes"][0]
    between = T0 + timedelta(days=31)  # the dessert (30 days) has expired, the voucher (90 days) not

    assert await expire_coupons(core, now=between) == 1
    assert await expire_coupons(core, now=between) == 0

    assert (await _coupon(core, dessert)).stored_status == "expired"
    assert (await _coupon(core, voucher)).stored_status == "issued"
    assert await _balance(core, member_id) == 5000 - 800 - 1000
    assert await _verify(core) == []


async def test_the_ledger_expire_command_marks_expired_coupons(
    backend: Backend, core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATRIUM_DATABASE_URL", backend.url)
    member_id = await _member(core)
    code = (await _redeem(core, member_id)).details["couponCodes"][0]
    as_of = (T0 + timedelta(days=31)).isoformat()

    result = await asyncio.to_thread(CliRunner().invoke, cli, ["ledger", "expire", "--now", as_of])

    assert result.exit_code == 0, result.output
    assert "Marked 1 unused coupon expired (no points return)." in result.output
    assert (await _coupon(core, code)).stored_status == "expired"


# --- cancelling -----------------------------------------------------------------------------------


async def test_cancelling_an_unused_coupon_returns_its_points_to_their_lots(core: Core) -> None:
    member_id = await _member(core)
    redemption = await _redeem(core, member_id)
    code = redemption.details["couponCodes"][0]

    done = await cancel_coupon(core, CancelCouponRequest(code, "CX-1", "dining"), now=T0 + timedelta(days=1))

    assert (done.posting.kind, done.posting.points, done.posting.balance_after) == ("cancel", 800, 5000)
    assert [(c.code, c.stored_status, c.cancel_posting_id) for c in done.coupons] == [(code, "cancelled", done.posting.id)]
    async with core.db.read() as conn:
        assert await conn.scalar(select(func.sum(lot_table.c.remaining)).where(lot_table.c.member_id == member_id)) == 5000
    assert await _balance(core, member_id) == 5000
    assert await _verify(core) == []


async def test_a_cancelled_coupon_cannot_be_used(core: Core) -> None:
    member_id = await _member(core)
    code = (await _redeem(core, member_id)).details["couponCodes"][0]
    await cancel_coupon(core, CancelCouponRequest(code, "CX-1", "dining"), now=T0)

    error = await _refused(use_coupon(core, _use(code), now=T0))

    assert error.code is ErrorCode.COUPON_NOT_USABLE and f"Coupon {code} was cancelled at" in error.message


async def test_cancelling_a_coupon_again_replays_by_key_and_is_already_cancelled_by_another(core: Core) -> None:
    member_id = await _member(core)
    code = (await _redeem(core, member_id)).details["couponCodes"][0]
    first = await cancel_coupon(core, CancelCouponRequest(code, "CX-1", "dining"), now=T0)

    again = await cancel_coupon(core, CancelCouponRequest(code, "CX-1", "dining"), now=T0)
    other = await _refused(cancel_coupon(core, CancelCouponRequest(code, "CX-2", "dining"), now=T0))

    assert again.posting.replayed and again.posting.id == first.posting.id
    assert (other.code, other.field) == (ErrorCode.ALREADY_CANCELLED, "code")


async def test_a_used_coupon_cannot_be_cancelled_and_nothing_is_written(core: Core) -> None:
    member_id = await _member(core)
    code = (await _redeem(core, member_id)).details["couponCodes"][0]
    await use_coupon(core, _use(code), now=T0)
    before = await snapshot(core)

    error = await _refused(cancel_coupon(core, CancelCouponRequest(code, "CX-1", "dining"), now=T0))

    assert (error.code, error.field) == (ErrorCode.COUPON_NOT_USABLE, "code")
    assert error.message == f"Coupon {code} was already used at {T0.isoformat()}: a used coupon cannot be cancelled."
    assert await snapshot(core) == before


async def test_an_expired_coupon_cannot_be_cancelled_for_its_points(core: Core) -> None:
    member_id = await _member(core)
    code = (await _redeem(core, member_id)).details["couponCodes"][0]

    error = await _refused(cancel_coupon(core, CancelCouponRequest(code, "CX-1", "dining"), now=T0 + timedelta(days=30)))

    assert error.code is ErrorCode.COUPON_NOT_USABLE and "returns no points" in error.message
    assert await _balance(core, member_id) == 4200


async def test_cancelling_a_redemption_cancels_all_its_coupons(core: Core) -> None:
    member_id = await _member(core)
    redemption = await _redeem(core, member_id, reward="voucher_10", fmt="retail", quantity=3)

    cancel = await cancel_redemption(core, CancelRequest("retail", "CX-1", redemption_key="RD-1"), now=T0)

    assert cancel.points == 3000
    statuses = [(await _coupon(core, code)).stored_status for code in redemption.details["couponCodes"]]
    assert statuses == ["cancelled"] * 3


async def test_one_coupon_used_keeps_its_whole_redemption_from_being_cancelled(core: Core) -> None:
    member_id = await _member(core)
    redemption = await _redeem(core, member_id, reward="voucher_10", fmt="retail", quantity=3)
    first, second, third = redemption.details["couponCodes"]
    await use_coupon(core, _use(second, fmt="retail"), now=T0)
    before = await snapshot(core)

    by_coupon = await _refused(cancel_coupon(core, CancelCouponRequest(first, "CX-1", "retail"), now=T0))
    by_redemption = await _refused(
        cancel_redemption(core, CancelRequest("retail", "CX-2", redemption_key="RD-1"), now=T0)
    )

    assert (by_coupon.code, by_coupon.field) == (ErrorCode.COUPON_NOT_USABLE, "code")
    assert (by_redemption.code, by_redemption.field) == (ErrorCode.COUPON_NOT_USABLE, "redemption")
    assert by_coupon.message.startswith(f"Coupon {second} was already used at")
    assert await snapshot(core) == before
    assert [(await _coupon(core, code)).stored_status for code in (first, third)] == ["issued", "issued"]


async def test_a_use_racing_a_cancellation_leaves_exactly_one_of_them_done(core: Core) -> None:
    member_id = await _member(core)
    code = (await _redeem(core, member_id)).details["couponCodes"][0]

    used, cancelled = await asyncio.gather(
        use_coupon(core, _use(code), now=T0),
        cancel_coupon(core, CancelCouponRequest(code, "CX-1", "dining"), now=T0),
        return_exceptions=True,
    )

    outcomes = [not isinstance(used, BaseException), not isinstance(cancelled, BaseException)]
    assert outcomes.count(True) == 1
    status = (await _coupon(core, code)).stored_status
    assert status == ("used" if outcomes[0] else "cancelled")
    balance = (await member_state(core, member_id))[0]
    assert balance == (4200 if outcomes[0] else 5000)
    assert await _verify(core) == []


async def test_coupon_rows_belong_to_the_redemptions_member_and_format(core: Core) -> None:
    member_id = await _member(core)
    await _redeem(core, member_id, quantity=2)

    async with core.db.read() as conn:
        rows = (await conn.execute(select(coupon_table.c.member_id, coupon_table.c.format))).all()

    assert [tuple(row) for row in rows] == [(member_id, "dining"), (member_id, "dining")]
