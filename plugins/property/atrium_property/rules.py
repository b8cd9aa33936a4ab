"""Property earn rules: each fee type earns at its rate (management twice the others by default), and fees paid on time or by autopay earn a bonus."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from atrium_property.settings import PropertySettings
from gateway.plugin_api import (
    Activity,
    EarnLine,
    MemberContext,
    points_for,
    whole_units,
)

FEE_LABELS: dict[str, str] = {
    "management": "management fee",
    "parking": "parking fee",
    "utilities": "utilities",
}
"""How each fee type is named in a member's reason line."""


def rate_text(rate: Decimal, currency: str) -> str:
    """``1 pt per CN¥2`` when the rate is one point per whole units, else ``1.5 pts per CN¥1``."""
    per = Decimal(1) / rate
    if rate <= 1 and per == per.to_integral_value():
        return f"1 pt per {whole_units(currency, int(per))}"
    return f"{rate.normalize():f} pt{'' if rate == 1 else 's'} per {whole_units(currency)}"


def fee_rate(activity: Activity, member: MemberContext) -> EarnLine:
    """Points at the fee type's rate, rounded down; growth value equals the points.

    The reason names the rate, the amount, the fee type, the unit and the month, so an owner can
    match it to the fee notice. An unknown fee type raises: the request fails and nothing is
    written, rather than silently earning nothing.
    """
    fee_type = str(activity.details["feeType"])
    rate = PropertySettings.of(activity).rate_for(fee_type)
    if rate is None:
        raise ValueError(f"no earn rate for property fee type {fee_type!r}")
    base = activity.amount
    points = points_for(base, rate)
    reason = (
        f"{rate_text(rate, base.currency)} on {base.format()} {FEE_LABELS[fee_type]} "
        f"for unit {activity.details['unitCode']}, {activity.details['period']}"
    )
    return EarnLine(points=points, growth=points, reason=reason)


def fee_points(activity: Activity, settings: PropertySettings) -> int:
    """What the fee earns at its type's rate, before any bonus (0 for a fee type without a rate)."""
    rate = settings.rate_for(str(activity.details["feeType"]))
    return points_for(activity.amount, rate) if rate is not None else 0


def paid_on_time(activity: Activity, settings: PropertySettings) -> bool | None:
    """Whether the fee was paid on or before its due date on the estate's calendar; ``None`` without a due date."""
    due = activity.details.get("dueDate")
    if due is None:
        return None
    return activity.occurred_at.astimezone(ZoneInfo(settings.timezone)).date() <= date.fromisoformat(str(due))


def payment_bonuses(activity: Activity, member: MemberContext) -> list[EarnLine] | None:
    """The on-time and autopay bonuses: each a percentage of the fee's points, rounded down, without growth value.

    Paying by the due date, and paying by automatic debit, save the office reminders and late
    fees; the group pays for both in points. Only members whose link to the unit is in
    ``bonus_relations`` get them (everyone by default). ``None`` when neither applies.
    """
    settings = PropertySettings.of(activity)
    if str(activity.details.get("relation", "owner")) not in settings.bonus_relations:
        return None
    base = fee_points(activity, settings)
    lines: list[EarnLine] = []
    if paid_on_time(activity, settings):
        bonus = base * settings.on_time_bonus_percent // 100
        if bonus > 0:
            reason = f"On-time bonus +{settings.on_time_bonus_percent}% on {base} pts: paid by {activity.details['dueDate']}"
            lines.append(EarnLine(points=bonus, growth=0, reason=reason))
    if activity.details.get("autopay"):
        bonus = base * settings.autopay_bonus_percent // 100
        if bonus > 0:
            reason = f"Autopay bonus +{settings.autopay_bonus_percent}% on {base} pts"
            lines.append(EarnLine(points=bonus, growth=0, reason=reason))
    return lines or None
