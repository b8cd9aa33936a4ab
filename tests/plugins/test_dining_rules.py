"""Dining plugin: bill validation, the food-and-beverage earn rule and the dessert voucher."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import atrium_dining
import pytest
from atrium_dining.inputs import DiningBillInput, bill_to_activity
from atrium_dining.rewards import fulfil_dessert
from atrium_dining.rules import food_and_beverage

from gateway.errors import AtriumError, ErrorCode
from gateway.plugin_api import (
    Activity,
    ActivityRejected,
    CouponSpec,
    EarnLine,
    MemberContext,
    Money,
    Quota,
    RedemptionRequest,
    TierInfo,
)

MEMBER = MemberContext(
    member_id=1,
    tier=TierInfo(code="member", name="Member", rank=0, threshold=0, multiplier=Decimal("1")),
    growth_value=0,
    points_balance=0,
    enrolled_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def bill(
    food: str = "230.00",
    service: str = "0",
    tips: str = "0",
    covers: int = 2,
    currency: str = "CNY",
    closed_at: datetime | None = None,
) -> DiningBillInput:
    return DiningBillInput(
        store_code="BJ-07",
        currency=currency,
        food_and_beverage=Decimal(food),
        service_charge=Decimal(service),
        tips=Decimal(tips),
        covers=covers,
        closed_at=closed_at,
    )


def earn(data: DiningBillInput) -> EarnLine:
    draft = bill_to_activity(data)
    activity = Activity(
        format="dining",
        kind="bill",
        reference="B-1",
        amount=draft.amount,
        occurred_at=datetime(2026, 11, 3, tzinfo=UTC),
        store=draft.store,
        details=draft.details,
    )
    return food_and_beverage(activity, MEMBER)


def rejected(data: DiningBillInput) -> AtriumError:
    with pytest.raises(AtriumError) as info:
        bill_to_activity(data)
    return info.value


def test_amount_includes_service_charge_and_tips() -> None:
    assert bill_to_activity(bill("230.00", "23.00", "10.00")).amount == Money(26300, "CNY")


def test_details_hold_each_part_in_minor_units() -> None:
    draft = bill_to_activity(bill("230.00", "23.00", "10.00", covers=4))
    assert json.loads(json.dumps(draft.details)) == {
        "foodAndBeverageMinor": 23000,
        "serviceChargeMinor": 2300,
        "tipsMinor": 1000,
        "covers": 4,
    }


def test_service_charge_and_tips_default_to_zero() -> None:
    data = DiningBillInput(store_code="BJ-07", currency="CNY", food_and_beverage=Decimal("88.00"), covers=1)
    assert bill_to_activity(data).amount == Money(8800, "CNY")


def test_service_charge_and_tips_earn_nothing() -> None:
    assert earn(bill("230.00", "23.00", "50.00")) == EarnLine(
        230, 230, "1 pt per CN¥1 on CN¥230.00 of food and beverage (service charge and tips earn nothing)"
    )


def test_points_round_down() -> None:
    line = earn(bill("99.99"))
    assert (line.points, line.growth) == (99, 99)


def test_zero_food_and_beverage_is_rejected() -> None:
    error = rejected(bill("0", service="20.00"))
    assert (error.code, error.field) == (ErrorCode.INVALID_AMOUNT, "foodAndBeverage")


def test_negative_tips_are_rejected_with_field_path() -> None:
    error = rejected(bill(tips="-5.00"))
    assert (error.code, error.field) == (ErrorCode.INVALID_AMOUNT, "tips")


def test_over_precise_service_charge_is_rejected_with_field_path() -> None:
    error = rejected(bill(service="2.345"))
    assert (error.code, error.field) == (ErrorCode.INVALID_AMOUNT, "serviceCharge")


@pytest.mark.parametrize("covers", [0, 201])
def test_covers_out_of_range_are_rejected(covers: int) -> None:
    error = rejected(bill(covers=covers))
    assert isinstance(error, ActivityRejected) and error.field == "covers"


def test_unknown_currency_is_rejected_on_the_currency_field() -> None:
    error = rejected(bill(currency="RMB"))
    assert (error.code, error.field) == (ErrorCode.UNSUPPORTED_CURRENCY, "currency")


def test_naive_closing_time_is_rejected() -> None:
    error = rejected(bill(closed_at=datetime(2026, 11, 3, 20, 15)))
    assert isinstance(error, ActivityRejected) and error.field == "closedAt"


def test_dessert_fulfilment_names_the_vouchers_and_leaves_codes_to_the_gateway() -> None:
    request = RedemptionRequest(
        member=MEMBER, format="dining", reward="dessert_voucher", quantity=2, points=1600, reference="X-1",
        requested_at=datetime(2026, 11, 3, tzinfo=UTC),
    )
    fulfilment = fulfil_dessert(request)
    assert fulfilment.details == {}
    assert fulfilment.reason.startswith("2 dessert-of-the-day vouchers, valid for 30 days")


def test_registrations_match_the_programme() -> None:
    got: list[object] = []
    for hook in ("formats", "activity_kinds", "earn_rules", "benefits", "redemption_types"):
        getattr(atrium_dining, f"atrium_register_{hook}")(got.append)
    fmt, kind, rule, bonus, benefit, birthday, reward = got
    assert (fmt.code, kind.name, kind.input_type.__name__, rule.code, bonus.code) == (
        "dining", "bill", "DiningBillInput", "food_and_beverage", "off_peak"
    )
    assert kind.refund_input_type.__name__ == "DiningBillRefundInput"
    assert (benefit.code, benefit.min_tier) == ("priority_queue", "gold")
    assert (birthday.code, birthday.min_tier, birthday.quota, birthday.birthday_month) == (
        "birthday_dessert", "member", Quota(1, "year"), True
    )
    assert (reward.code, reward.points, reward.max_quantity) == ("dessert_voucher", 800, 4)
    assert reward.coupon == CouponSpec(valid_days=30, item="Dessert of the day", prefix="DIN-")
