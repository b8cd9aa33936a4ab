"""The restaurant bill as the POS sends it, and its validation into an activity draft."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from gateway.plugin_api import (
    ActivityDraft,
    ActivityRejected,
    Money,
    parse_money,
    required_text,
)

MAX_COVERS = 200
"""Most guests on one bill; more is a typo, not a banquet we can check."""

MAX_CODE_LENGTH = 64
"""Longest store code accepted."""


@strawberry.input(description="A closed restaurant bill.")
class DiningBillInput:
    """A restaurant bill split into what earns points (food and beverage) and what does not."""

    store_code: str = strawberry.field(description="The restaurant that closed the bill.")
    currency: str = strawberry.field(description="ISO 4217 code of every amount on the bill, e.g. CNY.")
    food_and_beverage: Decimal = strawberry.field(
        description="Food and beverage total in major units, after discounts; must be greater than zero."
    )
    service_charge: Decimal = strawberry.field(default=Decimal("0"), description="Service charge in major units.")
    tips: Decimal = strawberry.field(default=Decimal("0"), description="Tips in major units.")
    covers: int = strawberry.field(description="Number of guests, 1 to 200.")
    closed_at: datetime | None = strawberry.field(
        default=None, description="When the bill was paid, with a timezone offset; omitted means now."
    )


def bill_to_activity(data: DiningBillInput) -> ActivityDraft:
    """Validate a bill and turn it into an :class:`ActivityDraft`.

    The amount is food and beverage plus service charge plus tips; the details keep each part in
    minor units, because only food and beverage earns points. Raises :class:`ActivityRejected`
    (or the money parser's error) naming the offending field.
    """
    store = required_text(data.store_code, field="storeCode", max_length=MAX_CODE_LENGTH)
    currency = parse_money(0, data.currency, field="currency", allow_zero=True).currency
    food = parse_money(data.food_and_beverage, currency, field="foodAndBeverage")
    service = parse_money(data.service_charge, currency, field="serviceCharge", allow_zero=True)
    tips = parse_money(data.tips, currency, field="tips", allow_zero=True)
    if not 1 <= data.covers <= MAX_COVERS:
        raise ActivityRejected(f"Covers must be between 1 and {MAX_COVERS}.", field="covers")
    return ActivityDraft(
        amount=Money(food.minor + service.minor + tips.minor, currency),
        occurred_at=_aware(data.closed_at, "closedAt"),
        store=store,
        details={
            "foodAndBeverageMinor": food.minor,
            "serviceChargeMinor": service.minor,
            "tipsMinor": tips.minor,
            "covers": data.covers,
        },
    )



def _aware(moment: datetime | None, field: str) -> datetime | None:
    """``moment`` if it carries a timezone offset (or is omitted); a naive time is ambiguous."""
    if moment is not None and moment.utcoffset() is None:
        raise ActivityRejected("The time must include a timezone offset, e.g. 2026-11-03T20:15:00+08:00.", field=field)
    return moment
