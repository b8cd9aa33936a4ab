"""A throwaway "boutique" format whose earn rule makes part of the points wait (a return window).

The sale says how many points are available at once and how many wait ``pendingDays``, so tests
can set up any mix without arithmetic on amounts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import strawberry

from gateway.plugin_api import (
    Activity,
    ActivityDraft,
    ActivityKind,
    BusinessFormat,
    EarnLine,
    EarnRule,
    Fulfilment,
    MemberContext,
    Money,
    RedemptionType,
    hookimpl,
)


@strawberry.input(description="A boutique sale with a return window.")
class BoutiqueSaleInput:
    points_now: int
    points_later: int
    pending_days: int = 14
    sold_at: datetime | None = None


def sale_to_activity(value: BoutiqueSaleInput) -> ActivityDraft:
    return ActivityDraft(
        amount=Money(100_00, "CNY"),
        occurred_at=value.sold_at,
        details={"pointsNow": value.points_now, "pointsLater": value.points_later, "pendingDays": value.pending_days},
    )


def earn_with_return_window(activity: Activity, member: MemberContext) -> list[EarnLine]:
    details = activity.details
    return [
        EarnLine(details["pointsNow"], details["pointsNow"], "points at once"),
        EarnLine(details["pointsLater"], 0, "points after the return window", pending_days=details["pendingDays"]),
    ]


class BoutiquePlugin:
    """Earns some points at once and some after a return window; sells a 50-point gift wrap."""

    @hookimpl
    def atrium_register_formats(self, register: Callable[[BusinessFormat], None]) -> None:
        register(BusinessFormat(code="boutique", name="Boutique"))

    @hookimpl
    def atrium_register_activity_kinds(self, register: Callable[[ActivityKind], None]) -> None:
        register(ActivityKind(format="boutique", name="sale", input_type=BoutiqueSaleInput, to_activity=sale_to_activity))

    @hookimpl
    def atrium_register_earn_rules(self, register: Callable[[EarnRule], None]) -> None:
        register(EarnRule(format="boutique", code="window", description="", compute=earn_with_return_window))

    @hookimpl
    def atrium_register_redemption_types(self, register: Callable[[RedemptionType], None]) -> None:
        register(
            RedemptionType(
                format="boutique", code="gift_wrap", name="Gift wrap", description="", points=50, max_quantity=10,
                fulfil=lambda request: Fulfilment("gift wrap"),
            )
        )
