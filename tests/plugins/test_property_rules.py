"""Property plugin: fee payment validation, the fee-rate earn rule and visitor parking."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import atrium_property
import pytest
from atrium_property.inputs import (
    PropertyFeePaymentInput,
    PropertyFeeType,
    fee_payment_to_activity,
)
from atrium_property.rewards import fulfil_parking
from atrium_property.rules import fee_rate

from gateway.errors import AtriumError, ErrorCode
from gateway.plugin_api import (
    Activity,
    ActivityRejected,
    CouponSpec,
    EarnLine,
    MemberContext,
    MoneyInput,
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


def payment(
    amount: str = "600.00",
    fee_type: PropertyFeeType = PropertyFeeType.MANAGEMENT,
    period: str = "2026-11",
    unit: str = "A-1203",
    currency: str = "CNY",
    paid_at: datetime | None = None,
) -> PropertyFeePaymentInput:
    return PropertyFeePaymentInput(
        unit_code=unit,
        fee_type=fee_type,
        amount=MoneyInput(amount=Decimal(amount), currency=currency),
        period=period,
        paid_at=paid_at,
    )


def earn(data: PropertyFeePaymentInput) -> EarnLine:
    draft = fee_payment_to_activity(data)
    activity = Activity(
        format="property",
        kind="fee_payment",
        reference="F-1",
        amount=draft.amount,
        occurred_at=datetime(2026, 11, 3, tzinfo=UTC),
        store=draft.store,
        details=draft.details,
    )
    return fee_rate(activity, MEMBER)


def rejected(data: PropertyFeePaymentInput) -> AtriumError:
    with pytest.raises(AtriumError) as info:
        fee_payment_to_activity(data)
    return info.value


def test_unit_is_the_store_and_details_are_json_ready() -> None:
    draft = fee_payment_to_activity(payment(unit=" A-1203 ", fee_type=PropertyFeeType.PARKING))
    assert draft.store == "A-1203"
    assert json.loads(json.dumps(draft.details)) == {
        "unitCode": "A-1203", "feeType": "parking", "period": "2026-11", "relation": "owner"
    }


def test_management_fee_earns_one_point_per_two_yuan() -> None:
    assert earn(payment("600.00")) == EarnLine(
        300, 300, "1 pt per CN¥2 on CN¥600.00 management fee for unit A-1203, 2026-11"
    )


@pytest.mark.parametrize(
    ("fee_type", "label"), [(PropertyFeeType.PARKING, "parking fee"), (PropertyFeeType.UTILITIES, "utilities")]
)
def test_parking_and_utilities_earn_one_point_per_five_yuan(fee_type: PropertyFeeType, label: str) -> None:
    assert earn(payment("300.00", fee_type=fee_type)) == EarnLine(
        60, 60, f"1 pt per CN¥5 on CN¥300.00 {label} for unit A-1203, 2026-11"
    )


def test_points_round_down() -> None:
    line = earn(payment("9.99"))
    assert (line.points, line.growth) == (4, 4)


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "2026/11", "26-11", "2026-1", "", "２０２６-11"])
def test_bad_period_is_rejected(period: str) -> None:
    error = rejected(payment(period=period))
    assert isinstance(error, ActivityRejected) and error.field == "period"


@pytest.mark.parametrize("unit", ["", "   ", "X" * 33])
def test_blank_or_long_unit_code_is_rejected(unit: str) -> None:
    error = rejected(payment(unit=unit))
    assert isinstance(error, ActivityRejected) and error.field == "unitCode"


def test_zero_amount_is_rejected_with_field_path() -> None:
    error = rejected(payment("0"))
    assert (error.code, error.field) == (ErrorCode.INVALID_AMOUNT, "amount.amount")


def test_unknown_currency_is_rejected_with_field_path() -> None:
    error = rejected(payment(currency="XYZ"))
    assert (error.code, error.field) == (ErrorCode.UNSUPPORTED_CURRENCY, "amount.currency")


def test_naive_payment_time_is_rejected() -> None:
    error = rejected(payment(paid_at=datetime(2026, 11, 3, 9, 30)))
    assert isinstance(error, ActivityRejected) and error.field == "paidAt"


def test_parking_fulfilment_gives_hours_and_leaves_one_code_per_hour_to_the_gateway() -> None:
    request = RedemptionRequest(
        member=MEMBER, format="property", reward="parking_hour", quantity=3, points=900, reference="X-1",
        requested_at=datetime(2026, 11, 3, tzinfo=UTC),
    )
    assert fulfil_parking(request).details == {"parkingHours": 3, "validDays": 30}


def test_registrations_match_the_programme() -> None:
    got: list[object] = []
    for hook in ("formats", "activity_kinds", "earn_rules", "benefits", "redemption_types"):
        getattr(atrium_property, f"atrium_register_{hook}")(got.append)
    fmt, kind, rule, bonus, benefit, reward = got
    assert (fmt.code, kind.name, kind.input_type.__name__, rule.code, bonus.code) == (
        "property", "fee_payment", "PropertyFeePaymentInput", "fee_rate", "payment_bonus"
    )
    assert kind.to_refund is None  # one amount, one rate: the generic refundActivity is exact
    assert (benefit.code, benefit.min_tier, benefit.quota) == ("maintenance_priority", "gold", Quota(4, "year"))
    assert (reward.code, reward.points, reward.max_quantity) == ("parking_hour", 300, 8)
    assert reward.coupon == CouponSpec(valid_days=30, item="1 hour of visitor parking", prefix="PRK-")
