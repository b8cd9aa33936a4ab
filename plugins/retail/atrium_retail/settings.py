"""Retail's settings: what group admins may tune without a release.

Excluded categories, category rates, the return window, the member-price percentage and the cap
on points plus cash at the till.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator

from gateway.plugin_api import PluginSettings

Category = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=64)]
"""A receipt line's category as tills send it; matched without regard to case or surrounding spaces."""

Rate = Annotated[Decimal, Field(gt=0, le=10, decimal_places=2)]
"""Points per major unit: 2 for 2 pts per CN¥1, 0.5 for 1 pt per CN¥2."""


class RetailSettings(PluginSettings):
    """Retail's tunables; the defaults are what the format did before anyone changed them."""

    excluded_categories: tuple[Category, ...] = Field(
        default=("gift_card", "tobacco"),
        max_length=50,
        description="Categories whose lines earn no points and no growth value: gift cards are stored value "
        "(points come when they are spent), tobacco by group policy.",
    )
    category_multipliers: dict[Category, Rate] = Field(
        default_factory=dict,
        max_length=50,
        description="Points per CN¥1 on a category's lines instead of the base 1, e.g. {\"fresh\": \"2\"} for "
        "double points on fresh food; growth value stays 1 per CN¥1 and the tier multiplier applies on top.",
    )
    return_window_days: int = Field(
        default=0,
        ge=0,
        le=90,
        description="Days a purchase's points stay pending, so a return inside the window takes back points "
        "the member could not spend yet; 0 makes them available at once.",
    )

    member_price_percent: int = Field(
        default=5,
        ge=1,
        le=50,
        description="Percentage off the shelf price of items marked with a member price, for members whose "
        "retail.member_price benefit is unlocked (Silver and up). Tills apply it and send the saving as a line's "
        "memberDiscount; a line claiming more than this share of its price is refused.",
    )
    points_offset_cap_percent: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Largest share of a receipt, in percent, points may pay at the till (points plus cash); "
        "null leaves it to the group's cap, and a higher value than the group's has no effect.",
    )

    @field_validator("excluded_categories")
    @classmethod
    def _sorted_once(cls, categories: tuple[str, ...]) -> tuple[str, ...]:
        """Each category once, sorted: the order an admin typed them in means nothing."""
        return tuple(sorted(set(categories)))

    @model_validator(mode="after")
    def _excluded_categories_have_no_rate(self) -> RetailSettings:
        both = sorted(set(self.excluded_categories) & set(self.category_multipliers))
        if both:
            raise ValueError(f"{', '.join(both)} cannot be excluded and have a multiplier at once")
        return self

    def points_offset_cap(self) -> int | None:
        """Retail's own cap on points plus cash at the till (the group's cap still applies)."""
        return self.points_offset_cap_percent


DEFAULTS = RetailSettings()
"""The settings in force until an admin changes them."""
