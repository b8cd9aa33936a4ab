"""Dining earn rule: points on food and beverage only; service charge and tips earn nothing."""

from __future__ import annotations

from decimal import Decimal

from gateway.plugin_api import (
    Activity,
    EarnLine,
    MemberContext,
    Money,
    points_for,
    whole_units,
)

FOOD_AND_BEVERAGE_RATE = Decimal("1")
"""Points (and growth value) per major unit of food and beverage."""


def food_and_beverage(activity: Activity, member: MemberContext) -> EarnLine:
    """1 point and 1 growth per major unit of food and beverage, rounded down.

    Service charge and tips pass through to staff and the house, so they earn nothing; the reason
    says so, because the member sees a bill total larger than the base.
    """
    currency = activity.amount.currency
    base = Money(int(activity.details["foodAndBeverageMinor"]), currency)
    points = points_for(base, FOOD_AND_BEVERAGE_RATE)
    return EarnLine(
        points=points,
        growth=points,
        reason=f"1 pt per {whole_units(currency)} on {base.format()} of food and beverage "
        "(service charge and tips earn nothing)",
    )
