"""Retail plugin: member prices checked against the percentage, and returns by line worked out from the receipt."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from atrium_retail.inputs import (
    RetailLineItemInput,
    RetailPurchaseInput,
    purchase_to_activity,
)
from atrium_retail.refunds import (
    RetailPurchaseRefundInput,
    RetailReturnedLineInput,
    refund_lines,
)
from atrium_retail.rules import base_rate
from atrium_retail.settings import RetailSettings

from gateway.errors import ErrorCode
from gateway.plugin_api import (
    Activity,
    ActivityRejected,
    EarlierRefund,
    MemberContext,
    Money,
    TierInfo,
)

SILVER = MemberContext(
    member_id=1,
    tier=TierInfo(code="silver", name="Silver", rank=1, threshold=2000, multiplier=Decimal("1.2")),
    growth_value=2000,
    points_balance=0,
    enrolled_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def line(sku: str, category: str, quantity: int, price: str, discount: str = "0", member: str = "0") -> RetailLineItemInput:
    return RetailLineItemInput(
        sku=sku, category=category, quantity=quantity, unit_price=Decimal(price),
        line_discount=Decimal(discount), member_discount=Decimal(member),
    )


def receipt(*lines: RetailLineItemInput, settings: RetailSettings | None = None) -> Activity:
    draft = purchase_to_activity(RetailPurchaseInput(store_code="SH-01", currency="CNY", items=list(lines)))
    return Activity(
        format="retail", kind="purchase", reference="R-1", amount=draft.amount, occurred_at=datetime(2026, 11, 3, tzinfo=UTC),
        store=draft.store, details=draft.details, settings=settings,
    )


def returning(*lines: tuple[int, int]) -> RetailPurchaseRefundInput:
    return RetailPurchaseRefundInput(lines=[RetailReturnedLineInput(line=n, quantity=q) for n, q in lines])


BASKET = (
    line("TEA", "grocery", 1, "128.00"),
    line("TSHIRT", "apparel", 3, "99.00", discount="10.00"),
    line("SALMON", "fresh", 1, "60.00", member="3.00"),
    line("GIFT", "gift_card", 1, "100.00"),
)
"""Nets: 12800, 28700 (3 × 99.00 − 10.00), 5700, 10000."""

FRESH_DOUBLE = RetailSettings(category_multipliers={"fresh": Decimal("2")})


# --- member prices --------------------------------------------------------------------------------


def test_a_member_price_line_keeps_its_gross_and_discount_and_earns_on_what_was_paid() -> None:
    activity = receipt(line("SALMON", "fresh", 2, "60.00", discount="5.00", member="6.00"))

    earned = base_rate(activity, SILVER)

    assert activity.details["items"] == [
        {"sku": "SALMON", "category": "fresh", "quantity": 2, "netMinor": 10900, "grossMinor": 12000, "memberDiscountMinor": 600}
    ]
    assert earned is not None and not isinstance(earned, list)
    assert (earned.points, earned.reason) == (109, "1 pt per CN¥1 on CN¥109.00 of eligible items (CN¥6.00 saved at member price)")


def test_a_line_without_member_price_keeps_the_facts_it_always_kept() -> None:
    assert receipt(line("TEA", "grocery", 1, "128.00")).details["items"] == [
        {"sku": "TEA", "category": "grocery", "quantity": 1, "netMinor": 12800}
    ]


@pytest.mark.parametrize(("percent", "most"), [(5, "3.01"), (10, "6.01")])
def test_a_member_discount_may_reach_the_percentage_rounded_up_to_the_fen(percent: int, most: str) -> None:
    settings = RetailSettings(member_price_percent=percent)
    # 5% of 60.10 is 3.005: a till rounding per unit up to 3.01 is not refused.
    allowed = receipt(line("SALMON", "fresh", 1, "60.10", member=most), settings=settings)
    deeper = receipt(line("SALMON", "fresh", 1, "60.10", member=str(Decimal(most) + Decimal("0.01"))), settings=settings)

    assert base_rate(allowed, SILVER) is not None
    with pytest.raises(ActivityRejected) as raised:
        base_rate(deeper, SILVER)
    assert raised.value.field == "items.0.memberDiscount"


def test_member_and_line_discounts_together_cannot_exceed_the_line() -> None:
    with pytest.raises(ActivityRejected) as raised:
        receipt(line("SALMON", "fresh", 1, "60.00", discount="58.00", member="3.00"))

    assert raised.value.field == "items.0.memberDiscount"


def test_the_member_price_percentage_is_one_to_fifty() -> None:
    for bad in (0, 51):
        with pytest.raises(ValueError):
            RetailSettings(member_price_percent=bad)


# --- returns by line ------------------------------------------------------------------------------


def test_returning_the_gift_card_refunds_its_money_and_no_points() -> None:
    draft = refund_lines(receipt(*BASKET), returning((4, 1)), ())

    assert (draft.amount, draft.share, draft.summary) == (Money(10000, "CNY"), Fraction(0), "1 × GIFT returned")


def test_a_lines_weight_is_its_net_at_its_rate() -> None:
    # Weights: 12800 + 28700 + 5700 × 2 = 52900; the salmon weighs 11400 of them.
    draft = refund_lines(receipt(*BASKET, settings=FRESH_DOUBLE), returning((3, 1)), ())

    assert (draft.amount, draft.share) == (Money(5700, "CNY"), Fraction(11400, 52900))


def test_units_of_a_line_are_refunded_cumulatively_to_exactly_its_net() -> None:
    activity = receipt(*BASKET)

    first = refund_lines(activity, returning((2, 1)), ())
    second = refund_lines(activity, returning((2, 1)), (EarlierRefund(first.amount, first.details),))
    earlier = (EarlierRefund(first.amount, first.details), EarlierRefund(second.amount, second.details))
    third = refund_lines(activity, returning((2, 1)), earlier)

    # 28700 / 3 = 9566.67: 9566, then floor(19133.33) − 9566 = 9567, then the rest: 9567.
    assert [first.amount.minor, second.amount.minor, third.amount.minor] == [9566, 9567, 9567]
    assert first.share + second.share + third.share == Fraction(28700, 47200)
    assert third.details == {"lines": [{"line": 2, "sku": "TSHIRT", "quantity": 1, "amountMinor": 9567}]}


def test_a_return_cannot_take_back_more_units_than_are_left() -> None:
    activity = receipt(*BASKET)
    first = refund_lines(activity, returning((2, 2)), ())

    with pytest.raises(ActivityRejected) as raised:
        refund_lines(activity, returning((2, 2)), (EarlierRefund(first.amount, first.details),))

    assert (raised.value.code, raised.value.field) == (ErrorCode.REFUND_EXCEEDS_ACTIVITY, "lines.0.quantity")
    assert raised.value.message == "Line 2 (TSHIRT) has 1 of 3 units left to return; got 2."


def test_a_refund_by_amount_names_no_line_and_leaves_every_unit_returnable() -> None:
    by_amount = EarlierRefund(Money(5000, "CNY"), {})

    draft = refund_lines(receipt(*BASKET), returning((2, 3)), (by_amount,))

    assert draft.amount == Money(28700, "CNY")


@pytest.mark.parametrize(
    ("lines", "field"),
    [((), "lines"), (((0, 1),), "lines.0.line"), (((5, 1),), "lines.0.line"), (((1, 1), (1, 1)), "lines.1.line"), (((1, 0),), "lines.0.quantity")],
)
def test_a_return_must_name_each_existing_line_once_with_at_least_one_unit(lines: tuple[tuple[int, int], ...], field: str) -> None:
    with pytest.raises(ActivityRejected) as raised:
        refund_lines(receipt(*BASKET), returning(*lines), ())

    assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_INPUT, field)


def test_a_receipt_that_earned_nothing_refunds_a_share_of_nothing() -> None:
    draft = refund_lines(receipt(line("GIFT", "gift_card", 2, "100.00")), returning((1, 1)), ())

    assert (draft.amount, draft.share) == (Money(10000, "CNY"), Fraction(0))
