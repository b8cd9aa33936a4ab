"""Dining earn rules: points on food and beverage (and on the charges the settings let earn), and the off-peak bonus."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from atrium_dining.settings import (
    CHARGE_DETAILS,
    CHARGE_LABELS,
    WEEKDAYS,
    DiningSettings,
    window_bounds,
)
from gateway.plugin_api import (
    Activity,
    EarnLine,
    MemberContext,
    Money,
    points_for,
    whole_units,
)

FOOD_AND_BEVERAGE_RATE = Decimal("1")
"""Points (and growth value) per major unit of what earns."""


def earning_charges(settings: DiningSettings) -> list[str]:
    """The charges besides food and beverage that earn, in bill order (none by default)."""
    return [charge for charge in CHARGE_DETAILS if charge not in settings.non_earning_charges]


def earning_minor(details: Mapping[str, Any], settings: DiningSettings) -> int:
    """What earns on a bill (or on a refund's parts, keyed alike), in minor units: food and beverage plus earning charges."""
    minor = int(details.get("foodAndBeverageMinor", 0))
    return minor + sum(int(details.get(CHARGE_DETAILS[charge], 0)) for charge in earning_charges(settings))


def food_and_beverage(activity: Activity, member: MemberContext) -> EarnLine:
    """1 point and 1 growth per major unit of food and beverage, rounded down.

    Service charge and tips pass through to staff and the house, so by default they earn nothing
    (:class:`~atrium_dining.settings.DiningSettings` ``non_earning_charges``); a charge the
    settings leave out earns like food. The reason names what earned and what did not, because
    the member sees a bill total larger than the base.
    """
    settings = DiningSettings.of(activity)
    currency = activity.amount.currency
    base = Money(earning_minor(activity.details, settings), currency)
    points = points_for(base, FOOD_AND_BEVERAGE_RATE)
    parts = " and ".join(["food and beverage", *(CHARGE_LABELS[charge] for charge in earning_charges(settings))])
    reason = f"1 pt per {whole_units(currency)} on {base.format()} of {parts}"
    if settings.non_earning_charges:
        idle = " and ".join(CHARGE_LABELS[charge] for charge in settings.non_earning_charges)
        verb = "earns" if settings.non_earning_charges == ("service_charge",) else "earn"  # "tips" is plural
        reason += f" ({idle} {verb} nothing)"
    return EarnLine(points=points, growth=points, reason=reason)


def off_peak_window(closed_at: datetime, settings: DiningSettings) -> str | None:
    """The off-peak window (``"14:00-17:00"``) the bill was closed in, on the restaurants' clock; ``None`` if none."""
    local = closed_at.astimezone(ZoneInfo(settings.timezone))
    if WEEKDAYS[local.weekday()] not in settings.off_peak_days:
        return None
    moment = local.time().replace(tzinfo=None)
    for window in settings.off_peak_hours:
        start, end = window_bounds(window)
        if start <= moment and (end is None or moment < end):
            return window
    return None


def off_peak(activity: Activity, member: MemberContext) -> EarnLine | None:
    """The off-peak bonus: ``off_peak_bonus_percent`` more points on a bill closed in off-peak hours, rounded down.

    Restaurants fill quiet afternoons by paying more for them. The bonus is a share of what the
    bill's food and beverage earn at the base rate, with no growth value (growth measures spend,
    and the spend is the same). ``None`` outside off-peak hours, when none are set, or when the
    bonus is 0.
    """
    settings = DiningSettings.of(activity)
    window = off_peak_window(activity.occurred_at, settings)
    if window is None or settings.off_peak_bonus_percent == 0:
        return None
    base = points_for(Money(earning_minor(activity.details, settings), activity.amount.currency), FOOD_AND_BEVERAGE_RATE)
    bonus = base * settings.off_peak_bonus_percent // 100
    if bonus <= 0:
        return None
    local = activity.occurred_at.astimezone(ZoneInfo(settings.timezone))
    return EarnLine(
        points=bonus,
        growth=0,
        reason=f"Off-peak bonus +{settings.off_peak_bonus_percent}% on {base} pts: bill closed "
        f"{WEEKDAYS[local.weekday()].capitalize()} {local:%H:%M}, off-peak {window}",
    )
