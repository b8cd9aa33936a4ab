"""Refunds on a closed bill: a dish sent back, a service charge waived, a tip returned (mutation ``refundDiningBill``).

The restaurant names how much of each part of the bill it refunds. The money is the sum; the
share of the bill's points is what the refunded parts earned: a refunded service charge or tip
(which earn nothing by default) takes no points, refunded food takes its part of them, the
off-peak bonus included, since the bonus is a share of the food's points. No part can be
refunded beyond what the bill had of it, counting earlier refunds (read under the member's lock);
asking for more is ``REFUND_EXCEEDS_ACTIVITY``.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import strawberry

from atrium_dining.rules import earning_minor
from atrium_dining.settings import DiningSettings
from gateway.plugin_api import (
    Activity,
    ActivityRejected,
    EarlierRefund,
    ErrorCode,
    Money,
    RefundDraft,
    parse_money,
)

PARTS: dict[str, tuple[str, str]] = {
    "foodAndBeverage": ("foodAndBeverageMinor", "food and beverage"),
    "serviceCharge": ("serviceChargeMinor", "service charge"),
    "tips": ("tipsMinor", "tips"),
}
"""Each refundable part: its input field, where the bill keeps it, and its name."""


@strawberry.input(description="What a restaurant refunds on a closed bill, part by part, in major units.")
class DiningBillRefundInput:
    """Amounts refunded on each part of the bill; at least one greater than zero."""

    food_and_beverage: Decimal = strawberry.field(default=Decimal("0"), description="Food and beverage refunded, e.g. a dish sent back.")
    service_charge: Decimal = strawberry.field(default=Decimal("0"), description="Service charge refunded.")
    tips: Decimal = strawberry.field(default=Decimal("0"), description="Tips refunded.")


def refund_bill(activity: Activity, data: DiningBillRefundInput, earlier: tuple[EarlierRefund, ...]) -> RefundDraft:
    """The money, share of points and details of refunding ``data``'s parts of the bill ``activity``.

    Raises :class:`ActivityRejected` naming the part: a bad amount, nothing refunded at all, or
    (``REFUND_EXCEEDS_ACTIVITY``) more of a part than is left of it.
    """
    settings = DiningSettings.of(activity)
    currency = activity.amount.currency
    values = {"foodAndBeverage": data.food_and_beverage, "serviceCharge": data.service_charge, "tips": data.tips}
    refunded: dict[str, int] = {}
    for name, value in values.items():
        key, label = PARTS[name]
        minor = parse_money(value, currency, field=name, allow_zero=True).minor
        before = sum(int(refund.details.get(key, 0)) for refund in earlier)
        left = int(activity.details.get(key, 0)) - before
        if minor > left:
            raise ActivityRejected(
                f"Only {Money(max(left, 0), currency).format()} of {label} is left to refund on bill "
                f"{activity.reference}; got {Money(minor, currency).format()}.",
                field=name,
                code=ErrorCode.REFUND_EXCEEDS_ACTIVITY,
            )
        if minor:
            refunded[key] = minor
    if not refunded:
        raise ActivityRejected("Refund more than zero of at least one part of the bill.", field="foodAndBeverage")
    whole = earning_minor(activity.details, settings)
    share = Fraction(earning_minor(refunded, settings), whole) if whole else Fraction(0)
    summary = " and ".join(
        f"{Money(refunded[key], currency).format()} of {label}" for key, label in PARTS.values() if key in refunded
    )
    return RefundDraft(amount=Money(sum(refunded.values()), currency), share=share, summary=summary, details=refunded)
