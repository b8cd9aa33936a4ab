"""Quota periods follow the group's calendar: they start and reset at local midnight, not at UTC midnight."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.benefits.periods import earliest_start, local_month, period_bounds

SHANGHAI = ZoneInfo("Asia/Shanghai")  # UTC+8, no daylight saving
NEW_YORK = ZoneInfo("America/New_York")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone).astimezone(UTC)


def test_a_month_starts_at_local_midnight_of_the_first_and_resets_at_the_next_first() -> None:
    bounds = period_bounds("month", utc(2026, 11, 15, 12), SHANGHAI)
    assert (bounds.start, bounds.end) == (local(SHANGHAI, 2026, 11, 1), local(SHANGHAI, 2026, 12, 1))
    assert bounds.start == utc(2026, 10, 31, 16)


def test_an_instant_still_in_november_in_utc_is_already_december_in_shanghai() -> None:
    assert period_bounds("month", utc(2026, 11, 30, 16, 30), SHANGHAI).start == local(SHANGHAI, 2026, 12, 1)
    assert period_bounds("month", utc(2026, 11, 30, 15, 59), SHANGHAI).start == local(SHANGHAI, 2026, 11, 1)


@pytest.mark.parametrize(
    ("month", "first", "next_first"),
    [(1, (2026, 1), (2026, 4)), (5, (2026, 4), (2026, 7)), (9, (2026, 7), (2026, 10)), (12, (2026, 10), (2027, 1))],
)
def test_quarters_are_calendar_quarters(month: int, first: tuple[int, int], next_first: tuple[int, int]) -> None:
    bounds = period_bounds("quarter", local(SHANGHAI, 2026, month, 20, 9), SHANGHAI)
    assert bounds.start == local(SHANGHAI, *first, 1)
    assert bounds.end == local(SHANGHAI, *next_first, 1)


def test_a_year_runs_from_january_first_to_the_next() -> None:
    bounds = period_bounds("year", local(SHANGHAI, 2026, 12, 31, 23, 59), SHANGHAI)
    assert (bounds.start, bounds.end) == (local(SHANGHAI, 2026, 1, 1), local(SHANGHAI, 2027, 1, 1))
    assert period_bounds("year", local(SHANGHAI, 2027, 1, 1, 0, 0), SHANGHAI).start == local(SHANGHAI, 2027, 1, 1)


def test_a_week_starts_on_monday_and_a_day_at_midnight() -> None:
    thursday = local(SHANGHAI, 2026, 11, 26, 18)
    assert period_bounds("week", thursday, SHANGHAI).start == local(SHANGHAI, 2026, 11, 23)
    assert period_bounds("week", thursday, SHANGHAI).end == local(SHANGHAI, 2026, 11, 30)
    assert period_bounds("day", thursday, SHANGHAI).end == local(SHANGHAI, 2026, 11, 27)


def test_a_month_across_a_daylight_saving_change_still_starts_and_ends_at_local_midnight() -> None:
    bounds = period_bounds("month", utc(2026, 3, 20), NEW_YORK)
    assert bounds.start == utc(2026, 3, 1, 5)  # EST, UTC-5
    assert bounds.end == utc(2026, 4, 1, 4)  # EDT, UTC-4


def test_the_earliest_start_reaches_back_to_a_week_that_began_last_year() -> None:
    friday_new_year = local(SHANGHAI, 2027, 1, 1, 10)
    assert earliest_start(friday_new_year, SHANGHAI) == local(SHANGHAI, 2026, 12, 28)
    assert earliest_start(local(SHANGHAI, 2026, 6, 10), SHANGHAI) == local(SHANGHAI, 2026, 1, 1)


def test_the_birthday_month_is_the_local_month() -> None:
    assert local_month(utc(2026, 4, 30, 20), SHANGHAI) == 5
    assert local_month(utc(2026, 4, 30, 20), UTC) == 4  # type: ignore[arg-type]


def test_an_unknown_period_is_refused() -> None:
    with pytest.raises(ValueError, match="fortnight"):
        period_bounds("fortnight", utc(2026, 1, 1), SHANGHAI)
