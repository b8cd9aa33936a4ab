"""Failure stays failure: a key refused for the member's state fails the same way on every retry.

Input errors found before any write (bad quantity, unknown reward, bad key, unknown member) are
not remembered: bad input writes nothing, and the same key may be used once the input is right.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy import select

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.failures import record_failure
from gateway.ledger.postings import MemberRef, PostingResult
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.persistence.models import idempotency_failure_table
from gateway.plugin_api import (
    BusinessFormat,
    Fulfilment,
    RedemptionRejected,
    RedemptionRequest,
    RedemptionType,
    hookimpl,
)
from tests.helpers import count_rows, earn, enrol_phone, phone_ref, retail_purchase

PHONE = "13800138000"
OTHER_PHONE = "13900139000"


class LoungePlugin:
    """A lounge pass only Gold members may redeem, and a spa day the spa refuses while closed."""

    spa: str = "closed"
    """``closed`` (the spa rejects), ``open``, or ``broken`` (its check crashes)."""

    @hookimpl
    def atrium_register_formats(self, register: Callable[[BusinessFormat], None]) -> None:
        register(BusinessFormat(code="lounge", name="Lounge"))

    @hookimpl
    def atrium_register_redemption_types(self, register: Callable[[RedemptionType], None]) -> None:
        register(
            RedemptionType(
                format="lounge", code="pass", name="Lounge pass", description="", points=100, min_tier="gold",
                fulfil=lambda request: Fulfilment("one lounge pass"),
            )
        )
        register(
            RedemptionType(
                format="lounge", code="spa", name="Spa day", description="", points=100,
                fulfil=lambda request: Fulfilment("one spa day"), validate=self._spa_open,
            )
        )

    def _spa_open(self, request: RedemptionRequest) -> None:
        if self.spa == "broken":
            raise ZeroDivisionError("the spa's booking system is down")
        if self.spa == "closed":
            raise RedemptionRejected("The spa is closed for renovation.")


@pytest.fixture
def lounge() -> LoungePlugin:
    return LoungePlugin()


@pytest.fixture
def extra_plugins(lounge: LoungePlugin) -> list[tuple[str, object]]:
    return [("lounge", lounge)]


def _dessert(member: MemberRef | int, key: str, quantity: int = 1) -> RedeemRequest:
    ref = MemberRef(member_id=member) if isinstance(member, int) else member
    return RedeemRequest(member=ref, format="dining", reward="dessert_voucher", quantity=quantity, idempotency_key=key)


async def _refusal(core: Core, request: RedeemRequest, now: datetime) -> AtriumError:
    with pytest.raises(AtriumError) as raised:
        await redeem(core, request, now=now)
    return raised.value


async def _failures(core: Core) -> int:
    async with core.db.read() as conn:
        return (await count_rows(conn, "idempotency_failure"))["idempotency_failure"]


def _same(error: AtriumError) -> tuple[ErrorCode, str | None, str]:
    return error.code, error.field, error.message


async def test_a_redemption_refused_for_lack_of_points_is_refused_again_after_the_member_earned_enough(
    core: Core, now: datetime
) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "500.00")]), now)
    first = await _refusal(core, _dessert(member_id, "RD-1"), now)
    assert first.code is ErrorCode.INSUFFICIENT_POINTS
    await earn(core, member_id, "R-2", retail_purchase([("SKU1", "grocery", 1, "5000.00")]), now)

    again = await _refusal(core, _dessert(member_id, "RD-1"), now)

    assert _same(again) == _same(first)
    fresh = await redeem(core, _dessert(member_id, "RD-2"), now=now)
    assert isinstance(fresh, PostingResult) and fresh.balance_after == 5500 - 800


async def test_a_failed_key_retried_naming_the_member_by_phone_fails_the_same_way(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    first = await _refusal(core, _dessert(member_id, "RD-1"), now)

    again = await _refusal(core, _dessert(phone_ref(PHONE), "RD-1"), now)

    assert _same(again) == _same(first)


async def test_a_failed_key_with_another_payload_is_idempotency_key_reused(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await _refusal(core, _dessert(member_id, "RD-1"), now)

    reused = await _refusal(core, _dessert(member_id, "RD-1", quantity=2), now)

    assert (reused.code, reused.field) == (ErrorCode.IDEMPOTENCY_KEY_REUSED, "idempotencyKey")


async def test_a_failed_key_for_another_member_is_idempotency_key_reused(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    other = await enrol_phone(core, OTHER_PHONE, now)
    await _refusal(core, _dessert(member_id, "RD-1"), now)

    reused = await _refusal(core, _dessert(other, "RD-1"), now)

    assert reused.code is ErrorCode.IDEMPOTENCY_KEY_REUSED


async def test_a_reward_above_the_members_tier_stays_refused_once_the_member_climbs(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    request = RedeemRequest(MemberRef(member_id=member_id), "lounge", "pass", 1, "LG-1")
    first = await _refusal(core, request, now)
    assert first.code is ErrorCode.TIER_TOO_LOW
    await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "7000.00")]), now)  # to gold

    assert _same(await _refusal(core, request, now)) == _same(first)


async def test_a_redemption_the_format_rejected_stays_rejected_once_it_would_accept(
    core: Core, now: datetime, lounge: LoungePlugin
) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "500.00")]), now)
    request = RedeemRequest(MemberRef(member_id=member_id), "lounge", "spa", 1, "SPA-1")
    first = await _refusal(core, request, now)
    assert first.code is ErrorCode.REDEMPTION_REJECTED
    lounge.spa = "open"

    assert _same(await _refusal(core, request, now)) == _same(first)
    assert (await redeem(core, RedeemRequest(MemberRef(member_id=member_id), "lounge", "spa", 1, "SPA-2"), now=now)).points == -100


@pytest.mark.parametrize(
    ("request_for", "code"),
    [
        (lambda member_id: _dessert(member_id, "RD-1", quantity=9), ErrorCode.INVALID_QUANTITY),
        (lambda member_id: RedeemRequest(MemberRef(member_id=member_id), "dining", "free_lunch", 1, "RD-1"), ErrorCode.UNKNOWN_REWARD),
        (lambda member_id: _dessert(member_id, "RD 1"), ErrorCode.INVALID_IDEMPOTENCY_KEY),
        (lambda member_id: _dessert(phone_ref(OTHER_PHONE), "RD-1"), ErrorCode.MEMBER_NOT_FOUND),
    ],
    ids=["bad-quantity", "unknown-reward", "bad-key", "unknown-member"],
)
async def test_bad_input_is_not_remembered_and_the_key_stays_free(
    core: Core, now: datetime, request_for: Callable[[int], RedeemRequest], code: ErrorCode
) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "900.00")]), now)

    refused = await _refusal(core, request_for(member_id), now)

    assert refused.code is code
    assert await _failures(core) == 0
    assert (await redeem(core, _dessert(member_id, "RD-1"), now=now)).balance_after == 100


async def test_a_plugin_crash_is_not_remembered_so_a_retry_can_succeed(
    core: Core, now: datetime, lounge: LoungePlugin
) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "500.00")]), now)
    request = RedeemRequest(MemberRef(member_id=member_id), "lounge", "spa", 1, "SPA-1")
    lounge.spa = "broken"
    assert (await _refusal(core, request, now)).code is ErrorCode.PLUGIN_FAILED
    lounge.spa = "open"

    assert (await redeem(core, request, now=now)).points == -100
    assert await _failures(core) == 0


async def test_a_key_held_by_a_posting_is_never_also_remembered_as_failed(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "900.00")]), now)
    posted = await redeem(core, _dessert(member_id, "RD-1"), now=now)
    error = AtriumError(ErrorCode.INSUFFICIENT_POINTS, "late duplicate", "quantity")

    recorded = await record_failure(
        core.db, scope="redeem:dining", key="RD-1", fingerprint="x", member_id=member_id, error=error, now=now
    )

    assert recorded is False
    async with core.db.read() as conn:
        assert (await conn.execute(select(idempotency_failure_table))).all() == []
    assert (await redeem(core, _dessert(member_id, "RD-1"), now=now)).id == posted.id
