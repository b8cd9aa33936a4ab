"""Quota periods in the group's time zone: when the current day, week, month, quarter or year began and ends.

A quota of "2 a month" resets at midnight of the 1st in the group's zone (``settings.zone``), not
in UTC: a member in Shanghai using a benefit at 07:30 on December 1st local time is in December.
Weeks start on Monday (ISO 8601). Bounds are returned as UTC instants, as they are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

Period = Literal["day", "week", "month", "quarter", "year"]
PERIODS: tuple[str, ...] = get_args(Period)

_WORDS = {"day": "today", "week": "this week", "month": "this month", "quarter": "this quarter", "year": "this year"}


@dataclass(frozen=True)
class PeriodBounds:
    """One quota period: ``start`` (inclusive) to ``end`` (exclusive, when the quota resets), both UTC."""

    period: str
    start: datetime
    end: datetime

    @property
    def words(self) -> str:
        """The period as a member reads it: "this month"."""
        return _WORDS[self.period]


def _first_day(period: str, day: date) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
    if period == "year":
        return day.replace(month=1, day=1)
    raise ValueError(f"unknown quota period {period!r}: use one of {', '.join(PERIODS)}")


def _next_first_day(period: str, first: date) -> date:
    if period == "day":
        return first + timedelta(days=1)
    if period == "week":
        return first + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def period_bounds(period: str, at: datetime, zone: ZoneInfo) -> PeriodBounds:
    """The ``period`` containing instant ``at`` (timezone-aware), in the group's ``zone``."""
    first = _first_day(period, at.astimezone(zone).date())
    return PeriodBounds(period=period, start=_midnight(first, zone), end=_midnight(_next_first_day(period, first), zone))


def earliest_start(at: datetime, zone: ZoneInfo) -> datetime:
    """The earliest start of any current period at ``at``: the year's, or the week's when the week began last year.

    Reading every counter from here on finds the current period of every quota'd benefit at once.
    """
    return min(period_bounds(period, at, zone).start for period in PERIODS)


def local_month(at: datetime, zone: ZoneInfo) -> int:
    """The month (1-12) instant ``at`` falls in, in the group's zone (birthday-month benefits)."""
    return at.astimezone(zone).month
