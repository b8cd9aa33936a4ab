"""Refunds by parts: the plugin's share of the points, added up with refunds by amount, under the member's lock, or nothing written."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest
import strawberry
from atrium_retail.refunds import RetailPurchaseRefundInput, RetailReturnedLineInput

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.part_refund import PartRefundRequest, refund_parts
from gateway.ledger.postings import PostingResult
from gateway.ledger.reverse import RefundRequest, refund_activity
from gateway.money import Money
from gateway.plugin_api import (
    Activity,
    ActivityDraft,
    ActivityKind,
    BusinessFormat,
    EarlierRefund,
    EarnLine,
    EarnRule,
    RefundDraft,
    hookimpl,
)
from tests.helpers import earn, enrol_phone, member_state, retail_purchase, snapshot

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)

RECEIPT = (
    ("TEA", "grocery", 1, "100.00"),
    ("GIFT", "gift_card", 1, "100.00"),
    ("SOCKS", "apparel", 2, "10.00"),
)
"""100.00 + 20.00 = 120.00 earns 120 pts; the gift card nothing. Receipt total 220.00."""


def returned(*lines: tuple[int, int]) -> RetailPurchaseRefundInput:
    return RetailPurchaseRefundInput(lines=[RetailReturnedLineInput(line=n, quantity=q) for n, q in lines])


async def returning(core: Core, key: str, *lines: tuple[int, int], original: str = "R-1", now: datetime = T0) -> PostingResult:
    request = PartRefundRequest(format="retail", kind="purchase", original_key=original, idempotency_key=key, input=returned(*lines))
    return await refund_parts(core, request, now=now)


async def receipt(core: Core) -> int:
    member = await enrol_phone(core, "13800138000", T0)
    assert (await earn(core, member, "R-1", retail_purchase(RECEIPT), T0)).points == 120
    return member


async def test_returning_the_gift_card_takes_no_points_and_the_earning_lines_take_them_all(core: Core) -> None:
    member = await receipt(core)

    gift = await returning(core, "RF-1", (2, 1))
    rest = await returning(core, "RF-2", (1, 1), (3, 2))

    assert (gift.points, gift.amount_minor, gift.details["shareAfter"]) == (0, 10000, [0, 1])
    assert (rest.points, rest.growth, rest.amount_minor, rest.details["shareAfter"]) == (-120, -120, 12000, [1, 1])
    assert await member_state(core, member) == (0, 0, "member")


async def test_a_refund_by_amount_and_a_return_by_line_add_up_to_the_whole_receipt(core: Core) -> None:
    member = await receipt(core)

    # 55.00 of 220.00 by amount: a quarter of the receipt, floor(120 / 4) = 30 pts.
    by_amount = await refund_activity(
        core, RefundRequest(format="retail", amount=Money(5500, "CNY"), idempotency_key="RF-1", original_key="R-1"), now=T0
    )
    # The socks: 20.00 of the 120.00 that earned, a sixth: shares 1/4 + 1/6 = 5/12, floor(50) = 50, less 30.
    socks = await returning(core, "RF-2", (3, 2))
    # What is left of the money (145.00) is refunded by amount: everything is back, so the share is 1.
    rest = await refund_activity(
        core, RefundRequest(format="retail", amount=Money(14500, "CNY"), idempotency_key="RF-3", original_key="R-1"), now=T0
    )

    assert [by_amount.points, socks.points, rest.points] == [-30, -20, -70]
    assert socks.details["shareAfter"] == [5, 12]
    assert await member_state(core, member) == (0, 0, "member")


async def test_two_tills_returning_the_last_socks_at_once_only_one_refunds_them(core: Core) -> None:
    await receipt(core)

    outcomes = await asyncio.gather(
        returning(core, "TILL-1", (3, 2)), returning(core, "TILL-2", (3, 2)), return_exceptions=True
    )

    refunds = [outcome for outcome in outcomes if isinstance(outcome, PostingResult)]
    refusals = [outcome for outcome in outcomes if isinstance(outcome, AtriumError)]
    assert [refund.points for refund in refunds] == [-20]
    assert [(error.code, error.field) for error in refusals] == [(ErrorCode.REFUND_EXCEEDS_ACTIVITY, "input.lines.0.quantity")]


async def test_a_refund_asking_for_more_than_is_left_stays_refused_under_its_key(core: Core) -> None:
    await receipt(core)
    await returning(core, "RF-1", (3, 1))

    with pytest.raises(AtriumError) as first:
        await returning(core, "RF-2", (3, 2))
    with pytest.raises(AtriumError) as again:
        await returning(core, "RF-2", (3, 2))

    assert first.value.code == again.value.code == ErrorCode.REFUND_EXCEEDS_ACTIVITY


async def test_another_kinds_key_or_a_missing_receipt_is_not_found(core: Core) -> None:
    await receipt(core)

    with pytest.raises(AtriumError) as missing:
        await returning(core, "RF-1", (1, 1), original="R-404")

    assert (missing.value.code, missing.value.field) == (ErrorCode.POSTING_NOT_FOUND, "original")


# --- a plugin that gets its refund wrong ---------------------------------------------------------


@strawberry.input(name="FaultyRefundSaleInput")
class SaleInput:
    amount: str


@strawberry.input(name="FaultyRefundInput")
class RefundInput:
    what: str


class FaultyRefunds:
    """A format whose refunds raise or return a share outside 0 to 1, as ``what`` says."""

    @hookimpl
    def atrium_register_formats(self, register: Callable[[BusinessFormat], None]) -> None:
        register(BusinessFormat(code="faulty", name="Faulty"))

    @hookimpl
    def atrium_register_activity_kinds(self, register: Callable[[ActivityKind], None]) -> None:
        register(
            ActivityKind(
                format="faulty",
                name="sale",
                input_type=SaleInput,
                to_activity=lambda data: ActivityDraft(amount=Money(int(data.amount), "CNY")),
                refund_input_type=RefundInput,
                to_refund=self.to_refund,
            )
        )

    @hookimpl
    def atrium_register_earn_rules(self, register: Callable[[EarnRule], None]) -> None:
        register(EarnRule("faulty", "flat", "1 pt per fen", lambda activity, member: EarnLine(activity.amount.minor, 0, "flat")))

    @staticmethod
    def to_refund(activity: Activity, data: RefundInput, earlier: tuple[EarlierRefund, ...]) -> Any:
        if data.what == "raise":
            raise RuntimeError("the refund table is missing")
        if data.what == "share":
            return RefundDraft(amount=Money(100, "CNY"), share=Fraction(3, 2))
        return RefundDraft(amount=Money(100, "CNY"), share=Fraction(1, 2))


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    return [("faulty", FaultyRefunds())]


@pytest.mark.parametrize("what", ["raise", "share"])
async def test_a_plugin_failing_to_work_out_a_refund_fails_it_naming_the_plugin_and_writes_nothing(core: Core, what: str) -> None:
    member = await enrol_phone(core, "13800138000", T0)
    await earn(core, member, "S-1", SaleInput(amount="1000"), T0, format_code="faulty", kind="sale")
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        request = PartRefundRequest(format="faulty", kind="sale", original_key="S-1", idempotency_key="RF-1", input=RefundInput(what=what))
        await refund_parts(core, request, now=T0)

    assert raised.value.code == ErrorCode.PLUGIN_FAILED and "'faulty'" in raised.value.message
    assert await snapshot(core) == before


async def test_a_plugins_share_is_what_comes_back_whatever_the_amount(core: Core) -> None:
    member = await enrol_phone(core, "13800138000", T0)
    await earn(core, member, "S-1", SaleInput(amount="1000"), T0, format_code="faulty", kind="sale")

    request = PartRefundRequest(format="faulty", kind="sale", original_key="S-1", idempotency_key="RF-1", input=RefundInput(what="half"))
    half = await refund_parts(core, request, now=T0)

    # CN¥1.00 of CN¥10.00 refunded, but the plugin says those parts earned half: 500 of 1000 pts.
    assert (half.points, half.amount_minor) == (-500, 100)
