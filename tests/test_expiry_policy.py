"""The group's expiry policy: rolling N months, or to the end of the Nth month or year, in the group's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.ledger.lots import lot_expires_at
from gateway.settings import Settings


def _settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("policy", "n", "earned", "expires"),
    [
        ("rolling_months", 24, _utc(2026, 3, 15, 10, 30), _utc(2028, 3, 15, 10, 30)),
        ("rolling_months", 1, _utc(2026, 1, 31, 9), _utc(2026, 2, 28, 9)),
        ("end_of_month", 0, _utc(2026, 3, 15, 10, 30), _utc(2026, 4, 1)),
        ("end_of_month", 24, _utc(2026, 3, 15, 10, 30), _utc(2028, 4, 1)),
        ("end_of_month", 1, _utc(2026, 12, 31, 23, 59), _utc(2027, 2, 1)),
        ("end_of_year", 0, _utc(2026, 3, 15, 10, 30), _utc(2027, 1, 1)),
        ("end_of_year", 2, _utc(2026, 12, 31, 23, 59), _utc(2029, 1, 1)),
    ],
    ids=["rolling-24", "rolling-short-month", "month-end-same", "month-end-24", "month-end-over-new-year", "year-end-same", "year-end-2"],
)
def test_a_lot_expires_by_the_groups_policy(policy: str, n: int, earned: datetime, expires: datetime) -> None:
    settings = _settings(points_expiry_policy=policy, points_expiry_n=n)

    assert lot_expires_at(settings, earned) == expires


def test_month_and_year_ends_fall_at_midnight_in_the_groups_time_zone() -> None:
    shanghai = _settings(points_expiry_policy="end_of_month", points_expiry_n=0, timezone="Asia/Shanghai")
    # 20:00 UTC on March 31 is already April 1 in Shanghai: the points were earned in April there.
    assert lot_expires_at(shanghai, _utc(2026, 3, 31, 20)) == _utc(2026, 4, 30, 16)
    assert lot_expires_at(shanghai, _utc(2026, 3, 15)) == _utc(2026, 3, 31, 16)


def test_the_default_policy_is_24_rolling_months() -> None:
    settings = _settings()

    assert (settings.points_expiry_policy, settings.points_expiry_n) == ("rolling_months", 24)


@pytest.mark.parametrize(
    "overrides",
    [{"points_expiry_policy": "rolling_months", "points_expiry_n": 0}, {"points_expiry_n": -1}, {"timezone": "Mars/Olympus"}, {"points_expiry_policy": "never"}],
    ids=["rolling-zero", "negative", "unknown-zone", "unknown-policy"],
)
def test_a_nonsensical_policy_is_refused_at_start_up(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _settings(**overrides)
