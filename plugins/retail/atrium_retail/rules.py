"""Retail earn rule: points on the net of eligible items, at the base rate or the category's own.

What is excluded, which categories earn at a rate of their own and how long points stay pending
are :class:`~atrium_retail.settings.RetailSettings` that admins change at run time; the rule
reads them from ``activity.settings``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal
from typing import Any

from atrium_retail.settings import DEFAULTS, RetailSettings
from gateway.plugin_api import (
    Activity,
    ActivityRejected,
    EarnLine,
    MemberContext,
    Money,
    points_for,
    whole_units,
)

BASE_RATE = Decimal("1")
"""Points (and growth value) per major unit of eligible net spend."""


def split_eligible(
    items: Iterable[Mapping[str, Any]], excluded: Collection[str] = DEFAULTS.excluded_categories
) -> tuple[int, int]:
    """Sum line nets into ``(eligible, excluded)`` minor units by category."""
    eligible = excluded_minor = 0
    for item in items:
        if item["category"] in excluded:
            excluded_minor += int(item["netMinor"])
        else:
            eligible += int(item["netMinor"])
    return eligible, excluded_minor


def line_rate(category: str, settings: RetailSettings) -> Decimal:
    """Points per major unit a line of ``category`` earns: 0 when excluded, the category's rate, or the base rate."""
    if category in settings.excluded_categories:
        return Decimal(0)
    return settings.category_multipliers.get(category, BASE_RATE)


def member_saving(activity: Activity, settings: RetailSettings) -> int:
    """The receipt's member-price saving in minor units, after checking each line against the percentage.

    A line's member discount may be at most ``member_price_percent`` of its price (rounded up to
    the minor unit, so a till rounding per unit is not refused): a larger one is a till's error,
    refused with :class:`ActivityRejected` naming the line, and nothing is recorded.
    """
    percent = settings.member_price_percent
    saving = 0
    for index, item in enumerate(activity.details["items"]):
        discount = int(item.get("memberDiscountMinor", 0))
        if not discount:
            continue
        gross = int(item["grossMinor"])
        most = -(-gross * percent // 100)
        if discount > most:
            currency = activity.amount.currency
            raise ActivityRejected(
                f"The member price takes at most {percent}% off: {Money(most, currency).format()} on this line, "
                f"not {Money(discount, currency).format()}.",
                field=f"items.{index}.memberDiscount",
            )
        saving += discount
    return saving


def _rate_text(rate: Decimal, currency: str) -> str:
    """``1 pt per CN¥1``, ``2 pts per CN¥1``, ``1.5 pts per CN¥1``."""
    amount = f"{rate.normalize():f}"
    return f"{amount} pt{'' if rate == 1 else 's'} per {whole_units(currency)}"


def base_rate(activity: Activity, member: MemberContext) -> EarnLine | list[EarnLine] | None:
    """1 point and 1 growth per major unit of eligible net spend, rounded down, as the settings say.

    Lines of an excluded category earn nothing. A category with a multiplier earns at that rate
    in a line of its own (growth value stays 1 per major unit); the others share the base line.
    Every line is pending for the return window. Returns ``None`` when nothing is eligible (a
    gift-card-only receipt), one line without category rates (the usual receipt), else a list.
    Member-price savings are checked (:func:`member_saving`) and named in the first line's reason.
    """
    settings = RetailSettings.of(activity)
    currency = activity.amount.currency
    saved = member_saving(activity, settings)
    plain = excluded = 0
    excluded_names: set[str] = set()
    by_category: dict[str, int] = {}
    for item in activity.details["items"]:
        category, net = str(item["category"]), int(item["netMinor"])
        if category in settings.excluded_categories:
            excluded += net
            excluded_names.add(category)
        elif category in settings.category_multipliers:
            by_category[category] = by_category.get(category, 0) + net
        else:
            plain += net
    window = settings.return_window_days
    lines: list[EarnLine] = []
    if plain > 0:
        base = Money(plain, currency)
        points = points_for(base, BASE_RATE)
        reason = f"{_rate_text(BASE_RATE, currency)} on {base.format()} of eligible items"
        lines.append(EarnLine(points=points, growth=points, reason=reason, pending_days=window))
    for category in sorted(by_category):
        base = Money(by_category[category], currency)
        if base.minor <= 0:
            continue
        rate = settings.category_multipliers[category]
        lines.append(
            EarnLine(
                points=points_for(base, rate),
                growth=points_for(base, BASE_RATE),
                reason=f"{_rate_text(rate, currency)} on {base.format()} of {category}",
                pending_days=window,
            )
        )
    if not lines:
        return None
    notes = []
    if excluded:
        notes.append(f"{Money(excluded, currency).format()} of {', '.join(sorted(excluded_names))} excluded")
    if saved:
        notes.append(f"{Money(saved, currency).format()} saved at member price")
    if notes:
        first = lines[0]
        lines[0] = EarnLine(first.points, first.growth, f"{first.reason} ({'; '.join(notes)})", first.pending_days)
    return lines[0] if len(lines) == 1 else lines
