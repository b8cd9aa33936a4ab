"""Property earn rule: management fees earn at twice the rate of parking and utilities."""

from __future__ import annotations

from decimal import Decimal

from gateway.plugin_api import (
    Activity,
    EarnLine,
    MemberContext,
    points_for,
    whole_units,
)

FEE_RATES: dict[str, Decimal] = {
    "management": Decimal("0.5"),
    "parking": Decimal("0.2"),
    "utilities": Decimal("0.2"),
}
"""Points per major unit by fee type: 1 pt per CN¥2 of management fee, 1 pt per CN¥5 otherwise.
Management fees are what the group wants paid on time; parking and utilities are near cost."""

FEE_LABELS: dict[str, str] = {
    "management": "management fee",
    "parking": "parking fee",
    "utilities": "utilities",
}
"""How each fee type is named in a member's reason line."""


def fee_rate(activity: Activity, member: MemberContext) -> EarnLine:
    """Points at the fee type's rate, rounded down; growth value equals the points.

    The reason names the rate, the amount, the fee type, the unit and the month, so an owner can
    match it to the fee notice. An unknown fee type raises: the request fails and nothing is
    written, rather than silently earning nothing.
    """
    fee_type = str(activity.details["feeType"])
    rate = FEE_RATES.get(fee_type)
    if rate is None:
        raise ValueError(f"no earn rate for property fee type {fee_type!r}")
    base = activity.amount
    points = points_for(base, rate)
    per = whole_units(base.currency, int(Decimal(1) / rate))
    reason = (
        f"1 pt per {per} on {base.format()} {FEE_LABELS[fee_type]} "
        f"for unit {activity.details['unitCode']}, {activity.details['period']}"
    )
    return EarnLine(points=points, growth=points, reason=reason)
