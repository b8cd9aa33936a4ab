"""Retail earn rule: points on the net of eligible items, gift cards and tobacco excluded."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from gateway.plugin_api import (
    Activity,
    EarnLine,
    MemberContext,
    Money,
    points_for,
    whole_units,
)

EXCLUDED_CATEGORIES: frozenset[str] = frozenset({"gift_card", "tobacco"})
"""Categories that earn nothing: gift cards are stored value (points come when spent), tobacco by
group policy."""

BASE_RATE = Decimal("1")
"""Points (and growth value) per major unit of eligible net spend."""


def split_eligible(items: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """Sum line nets into ``(eligible, excluded)`` minor units by category.

    Shared by validation (to store ``eligibleMinor``) and the earn rule, so both agree.
    """
    eligible = excluded = 0
    for item in items:
        if item["category"] in EXCLUDED_CATEGORIES:
            excluded += int(item["netMinor"])
        else:
            eligible += int(item["netMinor"])
    return eligible, excluded


def base_rate(activity: Activity, member: MemberContext) -> EarnLine | None:
    """1 point and 1 growth per major unit of eligible net spend, rounded down.

    Returns ``None`` when no item is eligible (a gift-card-only receipt), so the member sees no
    empty line; the reason names the rate, the base and any excluded amount.
    """
    currency = activity.amount.currency
    eligible_minor, excluded_minor = split_eligible(activity.details["items"])
    if eligible_minor <= 0:
        return None
    eligible = Money(eligible_minor, currency)
    points = points_for(eligible, BASE_RATE)
    reason = f"1 pt per {whole_units(currency)} on {eligible.format()} of eligible items"
    if excluded_minor:
        reason += f" ({Money(excluded_minor, currency).format()} of gift cards/tobacco excluded)"
    return EarnLine(points=points, growth=points, reason=reason)
