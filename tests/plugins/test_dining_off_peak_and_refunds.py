"""Dining plugin: the off-peak bonus on the restaurants' clock, its settings, and refunds on a bill part by part."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from atrium_dining.inputs import DiningBillInput, bill_to_activity
from atrium_dining.refunds import DiningBillRefundInput, refund_bill
from atrium_dining.rules import off_peak
from atrium_dining.settings import DiningSettings

from gateway.errors import AtriumError, ErrorCode
from gateway.plugin_api import (
    Activity,
    ActivityRejected,
    EarlierRefund,
    MemberContext,
    Money,
    TierInfo,
)

MEMBER = MemberContext(
    member_id=1,
    tier=TierInfo(code="member", name="Member", rank=0, threshold=0, multiplier=Decimal("1")),
    growth_value=0,
    points_balance=0,
    enrolled_at=datetime(2026, 1, 1, tzinfo=UTC),
)

TEA = DiningSettings(off_peak_hours=("14:00-17:00",))
"""Afternoon tea on weekdays, Shanghai time, 50% bonus."""


def bill(closed_at: datetime, food: str = "230.00", service: str = "23.00", tips: str = "20.00", settings: DiningSettings = TEA) -> Activity:
    draft = bill_to_activity(
        DiningBillInput(
            store_code="SH-JADE", currency="CNY", food_and_beverage=Decimal(food), service_charge=Decimal(service),
            tips=Decimal(tips), covers=2, closed_at=closed_at,
        )
    )
    return Activity(
        format="dining", kind="bill", reference="B-1", amount=draft.amount, occurred_at=closed_at.astimezone(UTC),
        store=draft.store, details=draft.details, settings=settings,
    )


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026 on a Shanghai clock, as UTC (Shanghai is UTC+8, no daylight saving)."""
    return datetime(2026, 11, day, hour - 8, minute, tzinfo=UTC) if hour >= 8 else datetime(2026, 11, day - 1, hour + 16, minute, tzinfo=UTC)


# --- the off-peak bonus ---------------------------------------------------------------------------


def test_a_weekday_bill_closed_in_off_peak_hours_earns_half_its_food_points_more_without_growth() -> None:
    bonus = off_peak(bill(shanghai(25, 15, 20)), MEMBER)  # Wednesday 15:20

    assert bonus is not None
    assert (bonus.points, bonus.growth) == (115, 0)
    assert bonus.reason == "Off-peak bonus +50% on 230 pts: bill closed Wed 15:20, off-peak 14:00-17:00"


@pytest.mark.parametrize(
    ("closed", "earns"),
    [((25, 14, 0), True), ((25, 16, 59), True), ((25, 17, 0), False), ((25, 13, 59), False), ((28, 15, 0), False)],
    ids=["start-included", "last-minute", "end-excluded", "before", "saturday"],
)
def test_off_peak_hours_start_included_end_excluded_on_the_days_set(closed: tuple[int, int, int], earns: bool) -> None:
    assert (off_peak(bill(shanghai(*closed)), MEMBER) is not None) is earns


def test_the_hours_are_read_on_the_restaurants_clock_not_utc() -> None:
    london = DiningSettings(off_peak_hours=("14:00-17:00",), timezone="Europe/London")

    # 15:00 in Shanghai is 07:00 in London: not off-peak there.
    assert off_peak(bill(shanghai(25, 15), settings=london), MEMBER) is None


def test_no_bonus_without_off_peak_hours_or_with_a_bonus_of_nought() -> None:
    assert off_peak(bill(shanghai(25, 15), settings=DiningSettings()), MEMBER) is None
    assert off_peak(bill(shanghai(25, 15), settings=TEA.model_copy(update={"off_peak_bonus_percent": 0})), MEMBER) is None


def test_the_bonus_follows_what_earns_a_service_charge_that_earns_counts() -> None:
    earning_service = DiningSettings(off_peak_hours=("14:00-17:00",), non_earning_charges=("tips",), off_peak_bonus_percent=100)

    bonus = off_peak(bill(shanghai(25, 15), settings=earning_service), MEMBER)

    assert bonus is not None and bonus.points == 253  # (230.00 + 23.00) × 100%


def test_a_late_night_window_ends_at_midnight() -> None:
    late = DiningSettings(off_peak_hours=("22:00-24:00",), off_peak_days=("wed", "thu"))

    assert off_peak(bill(shanghai(25, 23, 30), settings=late), MEMBER) is not None
    assert off_peak(bill(shanghai(26, 0, 30), settings=late), MEMBER) is None


@pytest.mark.parametrize(
    "values",
    [{"off_peak_hours": ["17:00-14:00"]}, {"off_peak_hours": ["14:00-25:00"]}, {"timezone": "Mars/Olympus"}, {"off_peak_bonus_percent": 301}],
)
def test_settings_refuse_windows_that_end_before_they_start_unknown_zones_and_huge_bonuses(values: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        DiningSettings.model_validate(values)


def test_windows_and_days_are_kept_in_order_each_once() -> None:
    settings = DiningSettings(off_peak_hours=("20:00-22:00", "14:00-17:00", "14:00-17:00"), off_peak_days=("fri", "mon", "fri"))

    assert (settings.off_peak_hours, settings.off_peak_days) == (("14:00-17:00", "20:00-22:00"), ("mon", "fri"))


# --- refunds on a bill ----------------------------------------------------------------------------


def test_a_dish_sent_back_takes_its_share_of_the_points_and_its_service_charge_none() -> None:
    draft = refund_bill(bill(shanghai(25, 15)), DiningBillRefundInput(food_and_beverage=Decimal("46.00"), service_charge=Decimal("4.60")), ())

    assert (draft.amount, draft.share) == (Money(5060, "CNY"), Fraction(1, 5))
    assert draft.details == {"foodAndBeverageMinor": 4600, "serviceChargeMinor": 460}
    assert draft.summary == "CN¥46.00 of food and beverage and CN¥4.60 of service charge"


def test_a_refunded_tip_takes_no_points() -> None:
    draft = refund_bill(bill(shanghai(25, 15)), DiningBillRefundInput(tips=Decimal("20.00")), ())

    assert (draft.amount, draft.share) == (Money(2000, "CNY"), Fraction(0))


def test_no_part_is_refunded_past_what_the_bill_had_of_it() -> None:
    earlier = (EarlierRefund(Money(2000, "CNY"), {"foodAndBeverageMinor": 2000}),)

    with pytest.raises(ActivityRejected) as raised:
        refund_bill(bill(shanghai(25, 15)), DiningBillRefundInput(food_and_beverage=Decimal("210.01")), earlier)

    assert (raised.value.code, raised.value.field) == (ErrorCode.REFUND_EXCEEDS_ACTIVITY, "foodAndBeverage")
    assert raised.value.message == "Only CN¥210.00 of food and beverage is left to refund on bill B-1; got CN¥210.01."


def test_a_refund_of_nothing_or_of_fractions_of_a_fen_is_refused() -> None:
    with pytest.raises(ActivityRejected) as nothing:
        refund_bill(bill(shanghai(25, 15)), DiningBillRefundInput(), ())
    with pytest.raises(AtriumError) as fraction:
        refund_bill(bill(shanghai(25, 15)), DiningBillRefundInput(tips=Decimal("0.001")), ())

    assert nothing.value.field == "foodAndBeverage"
    assert (fraction.value.code, fraction.value.field) == (ErrorCode.INVALID_AMOUNT, "tips")
