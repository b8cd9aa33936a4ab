"""Property plugin: the payer's link to the unit, and the on-time and autopay bonuses on the estate's calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from atrium_property.inputs import (
    PropertyFeePaymentInput,
    PropertyFeeType,
    PropertyRelation,
    fee_payment_to_activity,
)
from atrium_property.rules import payment_bonuses
from atrium_property.settings import PropertySettings

from gateway.plugin_api import Activity, EarnLine, MemberContext, MoneyInput, TierInfo

MEMBER = MemberContext(
    member_id=1,
    tier=TierInfo(code="member", name="Member", rank=0, threshold=0, multiplier=Decimal("1")),
    growth_value=0,
    points_balance=0,
    enrolled_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def paid(
    at: datetime,
    *,
    due: date | None = date(2026, 11, 15),
    autopay: bool = False,
    relation: PropertyRelation = PropertyRelation.OWNER,
    amount: str = "456.00",
    settings: PropertySettings | None = None,
) -> Activity:
    draft = fee_payment_to_activity(
        PropertyFeePaymentInput(
            unit_code="A-1203", fee_type=PropertyFeeType.MANAGEMENT, amount=MoneyInput(amount=Decimal(amount), currency="CNY"),
            period="2026-11", paid_at=at, relation=relation, due_date=due, autopay=autopay,
        )
    )
    return Activity(
        format="property", kind="fee_payment", reference="F-1", amount=draft.amount, occurred_at=at.astimezone(UTC),
        store=draft.store, details=draft.details, settings=settings,
    )


def bonuses(activity: Activity) -> list[tuple[int, int, str]]:
    lines = payment_bonuses(activity, MEMBER) or []
    assert all(isinstance(line, EarnLine) for line in lines)
    return [(line.points, line.growth, line.reason) for line in lines]


def test_the_payers_link_due_date_and_autopay_are_kept_with_the_payment() -> None:
    activity = paid(datetime(2026, 11, 10, 1, tzinfo=UTC), autopay=True, relation=PropertyRelation.TENANT)

    assert activity.details == {
        "unitCode": "A-1203", "feeType": "management", "period": "2026-11", "relation": "tenant", "dueDate": "2026-11-15", "autopay": True,
    }


def test_a_fee_paid_before_its_due_date_by_autopay_earns_both_bonuses_without_growth() -> None:
    # 456.00 at 1 pt per CN¥2 = 228 pts: +10% = 22, +5% = 11.
    assert bonuses(paid(datetime(2026, 11, 10, 1, tzinfo=UTC), autopay=True)) == [
        (22, 0, "On-time bonus +10% on 228 pts: paid by 2026-11-15"),
        (11, 0, "Autopay bonus +5% on 228 pts"),
    ]


@pytest.mark.parametrize(
    ("moment", "on_time"),
    [
        (datetime(2026, 11, 15, 15, 59, tzinfo=UTC), True),  # 23:59 on the 15th in Shanghai
        (datetime(2026, 11, 15, 16, 0, tzinfo=UTC), False),  # 00:00 on the 16th in Shanghai, still the 15th in UTC
    ],
    ids=["last-minute-of-the-due-date", "first-minute-after"],
)
def test_on_time_means_by_the_end_of_the_due_date_on_the_estates_calendar(moment: datetime, on_time: bool) -> None:
    assert bool(bonuses(paid(moment))) is on_time


def test_no_due_date_no_on_time_bonus() -> None:
    assert bonuses(paid(datetime(2026, 11, 10, 1, tzinfo=UTC), due=None)) == []


def test_the_bonuses_go_only_to_the_links_the_settings_name() -> None:
    billed_only = PropertySettings(bonus_relations=("owner", "tenant"))

    resident = paid(datetime(2026, 11, 10, 1, tzinfo=UTC), autopay=True, relation=PropertyRelation.RESIDENT, settings=billed_only)
    tenant = paid(datetime(2026, 11, 10, 1, tzinfo=UTC), autopay=True, relation=PropertyRelation.TENANT, settings=billed_only)

    assert bonuses(resident) == []
    assert [points for points, _, _ in bonuses(tenant)] == [22, 11]


def test_a_bonus_of_nought_or_under_a_point_is_left_out() -> None:
    off = PropertySettings(on_time_bonus_percent=0)

    assert bonuses(paid(datetime(2026, 11, 10, 1, tzinfo=UTC), autopay=True, settings=off)) == [(11, 0, "Autopay bonus +5% on 228 pts")]
    assert bonuses(paid(datetime(2026, 11, 10, 1, tzinfo=UTC), amount="18.00")) == []  # 9 pts × 10% < 1


def test_a_payment_without_a_relation_is_the_owners() -> None:
    data = PropertyFeePaymentInput(
        unit_code="A-1203", fee_type=PropertyFeeType.PARKING, amount=MoneyInput(amount=Decimal("450.00"), currency="CNY"), period="2026-11"
    )

    assert fee_payment_to_activity(data).details["relation"] == "owner"


@pytest.mark.parametrize("values", [{"timezone": "Nowhere/City"}, {"on_time_bonus_percent": 101}, {"bonus_relations": ["landlord"]}])
def test_settings_refuse_unknown_zones_links_and_bonuses_over_a_hundred_percent(values: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PropertySettings.model_validate(values)
