"""Dining's settings: what earns on a bill, the off-peak bonus, the restaurants' time zone and the points-plus-cash cap."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, StringConstraints, field_validator

from gateway.plugin_api import PluginSettings

Charge = Literal["service_charge", "tips"]
"""A part of a bill that is not food and beverage."""

CHARGE_DETAILS: dict[str, str] = {"service_charge": "serviceChargeMinor", "tips": "tipsMinor"}
"""Where each charge is kept in a bill's activity details."""

CHARGE_LABELS: dict[str, str] = {"service_charge": "service charge", "tips": "tips"}
"""How each charge is named in a member's reason line."""

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
"""A day of the week, as admins write it."""

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Days in ISO order: ``WEEKDAYS[moment.weekday()]`` is a moment's day."""

HoursWindow = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
    ),
]
"""Local hours ``HH:MM-HH:MM``, start included, end excluded; ``24:00`` ends at midnight."""


def window_bounds(window: str) -> tuple[time, time | None]:
    """``("14:00-17:00")`` as ``(time(14), time(17))``; an end of ``24:00`` is ``None`` (midnight, the day's end)."""
    start, end = window.split("-")
    return time.fromisoformat(start), None if end == "24:00" else time.fromisoformat(end)


class DiningSettings(PluginSettings):
    """Dining's tunables; the defaults are what the format did before anyone changed them."""

    non_earning_charges: tuple[Charge, ...] = Field(
        default=("service_charge", "tips"),
        description="Parts of a bill besides food and beverage that earn no points or growth value: "
        "service_charge, tips. Both pass through to staff and the house by default; leave service_charge "
        "out to let it earn like food.",
    )
    timezone: str = Field(
        default="Asia/Shanghai",
        description="The restaurants' IANA time zone: off-peak hours are read on their clocks.",
    )
    off_peak_hours: tuple[HoursWindow, ...] = Field(
        default=(),
        max_length=6,
        description="Quiet hours when a bill earns the off-peak bonus, local time, e.g. [\"14:00-17:00\"] for "
        "afternoon tea; a bill counts by when it was closed. Empty (the default): no off-peak bonus.",
    )
    off_peak_days: tuple[Weekday, ...] = Field(
        default=("mon", "tue", "wed", "thu", "fri"),
        description="Days the off-peak hours apply: mon to sun. Weekends are busy, so weekdays by default.",
    )
    off_peak_bonus_percent: int = Field(
        default=50,
        ge=0,
        le=300,
        description="Extra points on an off-peak bill, in percent of the points its food and beverage earn "
        "(50: half as many again); no extra growth value.",
    )
    points_offset_cap_percent: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Largest share of a bill or a reservation deposit, in percent, points may pay (points plus "
        "cash); null leaves it to the group's cap, and a higher value than the group's has no effect.",
    )

    @field_validator("non_earning_charges")
    @classmethod
    def _in_bill_order(cls, charges: tuple[str, ...]) -> tuple[str, ...]:
        """Each charge once, in the order a bill lists them."""
        return tuple(charge for charge in CHARGE_DETAILS if charge in charges)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        """An IANA zone this machine knows, e.g. Asia/Shanghai."""
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name!r} is not an IANA time zone such as Asia/Shanghai") from None
        return name

    @field_validator("off_peak_hours")
    @classmethod
    def _windows_in_order(cls, windows: tuple[str, ...]) -> tuple[str, ...]:
        """Each window starts before it ends (split one across midnight in two); sorted, each once."""
        for window in windows:
            start, end = window_bounds(window)
            if end is not None and end <= start:
                raise ValueError(f"{window} ends before it starts: write 22:00-24:00 and 00:00-02:00 for a late night")
        return tuple(sorted(set(windows)))

    @field_validator("off_peak_days")
    @classmethod
    def _days_in_week_order(cls, days: tuple[str, ...]) -> tuple[str, ...]:
        """Each day once, Monday first."""
        return tuple(day for day in WEEKDAYS if day in days)

    def points_offset_cap(self) -> int | None:
        """Dining's own cap on points plus cash (bills and deposits); the group's cap still applies."""
        return self.points_offset_cap_percent
