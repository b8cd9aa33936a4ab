"""A dining member's birthday week over HTTP, points worked out by hand: bills in and out of off-peak hours, refunds on a bill,
the birthday dessert, a dish voucher and a reservation deposit paid partly in points.

Settings for the journey (an admin sets them first): afternoon tea, 14:00 to 17:00 on weekdays in
Shanghai, earns 50% more points (the default bonus), and points may pay at most 40% of a bill or
deposit (the group allows 50%). The member is at the entry tier: ×1.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from gateway.core import Core
from gateway.settings import Settings
from tests.http.graphql import caller
from tests.http.journeys import (
    APPLY_OFFSET,
    BALANCES,
    COUPON,
    ERRORS,
    MEMBER,
    POSTING,
    QUOTE,
    REDEEM,
    USE_BENEFIT,
    USE_COUPON,
    WALL,
    Clock,
    change_settings,
    cny,
    enrol,
    ledger_balances,
    wall_entry,
)

WEDNESDAY_AFTERNOON = datetime(2026, 11, 25, 7, 20, tzinfo=UTC)  # 15:20 in Shanghai
WEDNESDAY_NIGHT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai

BILL = f"""
mutation Bill($member: MemberRefInput!, $key: String!, $input: DiningBillInput!) {{
  recordDiningBill(member: $member, idempotencyKey: $key, input: $input) {{ {POSTING} {MEMBER} {ERRORS} }}
}}"""

REFUND_BILL = f"""
mutation RefundBill($original: String!, $key: String!, $input: DiningBillRefundInput!) {{
  refundDiningBill(original: $original, idempotencyKey: $key, input: $input) {{ {POSTING} {MEMBER} {ERRORS} }}
}}"""


def bill(food: str, service: str, tips: str, covers: int, closed_at: str) -> dict[str, Any]:
    return {
        "storeCode": "SH-JADE-GARDEN", "currency": "CNY", "foodAndBeverage": food, "serviceCharge": service,
        "tips": tips, "covers": covers, "closedAt": closed_at,
    }


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch, WEDNESDAY_AFTERNOON)


async def test_a_member_dines_off_peak_gets_refunds_a_birthday_dessert_and_pays_a_deposit_in_points(
    client: httpx.AsyncClient, settings: Settings, core: Core, clock: Clock
) -> None:
    admin = caller(client, settings, "admin")
    till = caller(client, settings, "service", format="dining")
    values = await change_settings(
        admin, "dining", {"off_peak_hours": ["14:00-17:00"], "points_offset_cap_percent": 40}, "Fill afternoon tea"
    )
    assert (values["off_peak_days"], values["off_peak_bonus_percent"], values["timezone"]) == (
        ["mon", "tue", "wed", "thu", "fri"], 50, "Asia/Shanghai"
    )
    enrolled = await enrol(till, "13800138000", born="1990-11-08")
    ref = {"id": enrolled["id"]}
    member = caller(client, settings, "member", member_id=int(enrolled["number"]))

    # Afternoon tea for two, closed 15:20 on a Wednesday: CN¥230.00 of food earns 230 pts (growth 230),
    # the off-peak bonus 50% of 230 = 115 more (no growth); service charge and tips earn nothing.
    tea = await till.mutate(
        "recordDiningBill", BILL, {"member": ref, "key": "B-1", "input": bill("230.00", "23.00", "20.00", 2, "2026-11-25T15:20:00+08:00")}
    )
    assert tea["errors"] == []
    assert (tea["posting"]["points"], tea["posting"]["growth"], tea["posting"]["amount"]) == (345, 230, "273.00")
    assert [(line["rule"], line["points"], line["growth"], line["reason"]) for line in tea["posting"]["lines"]] == [
        ("dining.food_and_beverage", 230, 230, "1 pt per CN¥1 on CN¥230.00 of food and beverage (service charge and tips earn nothing)"),
        ("dining.off_peak", 115, 0, "Off-peak bonus +50% on 230 pts: bill closed Wed 15:20, off-peak 14:00-17:00"),
    ]

    # Dinner for four at 19:30: no bonus. CN¥680.00 of food: 680 pts.
    clock.set(WEDNESDAY_NIGHT)
    dinner = await till.mutate(
        "recordDiningBill", BILL, {"member": ref, "key": "B-2", "input": bill("680.00", "68.00", "0", 4, "2026-11-25T19:30:00+08:00")}
    )
    assert (dinner["posting"]["points"], dinner["member"]) == (680, {"pointsBalance": 1025, "pendingPoints": 0, "growthValue": 910})

    # A dish of the tea is sent back, with its service charge: CN¥46.00 + CN¥4.60 = CN¥50.60.
    # Only food earned, so the share is 46.00 / 230.00 = 1/5 of the bill's points, bonus included:
    # floor(345 / 5) = 69 pts and floor(230 / 5) = 46 growth.
    dish = await till.mutate(
        "refundDiningBill", REFUND_BILL, {"original": "B-1", "key": "B-1-RF-1", "input": {"foodAndBeverage": "46.00", "serviceCharge": "4.60"}}
    )
    assert dish["errors"] == []
    assert (dish["posting"]["points"], dish["posting"]["growth"], dish["posting"]["amount"]) == (-69, -46, "50.60")
    assert dish["member"] == {"pointsBalance": 956, "pendingPoints": 0, "growthValue": 864}
    assert "CN¥46.00 of food and beverage and CN¥4.60 of service charge" in dish["posting"]["reason"]

    # The tip goes back too: it earned nothing, so no points come back. Then nothing of it is left.
    tip = await till.mutate("refundDiningBill", REFUND_BILL, {"original": "B-1", "key": "B-1-RF-2", "input": {"tips": "20.00"}})
    assert (tip["errors"], tip["posting"]["points"], tip["posting"]["amount"], tip["member"]["pointsBalance"]) == ([], 0, "20.00", 956)
    more = await till.mutate("refundDiningBill", REFUND_BILL, {"original": "B-1", "key": "B-1-RF-3", "input": {"tips": "0.01"}})
    assert more["errors"] == [
        {
            "code": "REFUND_EXCEEDS_ACTIVITY",
            "field": "input.tips",
            "message": "Only CN¥0.00 of tips is left to refund on bill B-1; got CN¥0.01.",
        }
    ]

    # It is the member's birthday month: a dessert on the house, once this year. Priority queueing needs Gold.
    wall = (await member.data(WALL))["me"]["benefits"]
    assert wall_entry(wall, "dining.birthday_dessert") == {
        "unlocked": True, "lockedReason": None, "unlockedBy": {"code": "member"},
        "benefit": {"id": "dining.birthday_dessert"}, "usage": {"used": 0, "remaining": 1},
    }
    assert wall_entry(wall, "dining.priority_queue")["lockedReason"] == "TIER_TOO_LOW"
    served = await till.mutate("useBenefit", USE_BENEFIT, {"input": {"benefit": "dining.birthday_dessert", "member": ref, "idempotencyKey": "T12-BDAY-1"}})
    assert served["use"] == {"benefit": "dining.birthday_dessert", "usedInPeriod": 1, "remainingInPeriod": 0, "replayed": False}
    second = await till.mutate("useBenefit", USE_BENEFIT, {"input": {"benefit": "dining.birthday_dessert", "member": ref, "idempotencyKey": "T12-BDAY-2"}})
    assert [error["code"] for error in second["errors"]] == ["QUOTA_EXCEEDED"]

    # A dish voucher: the dessert of the day for 800 pts, served once, found only by dining's tills.
    voucher = await member.mutate(
        "redeem", REDEEM, {"input": {"format": "dining", "reward": "dessert_voucher", "quantity": 1, "idempotencyKey": "APP-D-1"}}
    )
    assert (voucher["errors"], voucher["posting"]["points"], voucher["member"]["pointsBalance"]) == ([], -800, 156)
    [code] = voucher["posting"]["details"]["couponCodes"]
    assert (await till.data(COUPON, {"code": code}))["coupon"]["item"] == "Dessert of the day"
    retail = caller(client, settings, "service", format="retail")
    elsewhere = await retail.mutate("useCoupon", USE_COUPON, {"input": {"code": code, "idempotencyKey": "R-T1-1"}})
    assert [error["code"] for error in elsewhere["errors"]] == ["COUPON_NOT_FOUND"]
    served_dish = await till.mutate("useCoupon", USE_COUPON, {"input": {"code": code, "idempotencyKey": "T12-0451", "till": "T12"}})
    assert served_dish["coupon"]["status"] == "USED"

    # Saturday's reservation: a CN¥200.00 deposit. Dining lets points pay 40%: at most 8000 pts,
    # but the member has 156, worth CN¥1.56; CN¥198.44 in cash.
    quote = (await till.data(QUOTE, {"format": "dining", "bill": cny("200.00"), "member": ref}))["pointsOffsetQuote"]
    assert quote == {
        "points": 156, "offset": "1.56", "cash": "198.44", "maxPoints": 8000, "balance": 156, "capPercent": 40, "pointsValueMinor": 1,
    }
    deposit = await till.mutate(
        "applyPointsOffset", APPLY_OFFSET,
        {"input": {"member": ref, "format": "dining", "bill": cny("200.00"), "points": 156, "idempotencyKey": "RSV-20261128-0042"}},
    )
    assert (deposit["errors"], deposit["posting"]["kind"], deposit["posting"]["points"]) == ([], "OFFSET", -156)
    assert (await member.data(BALANCES))["me"] == {"pointsBalance": 0, "pendingPoints": 0, "growthValue": 864}

    assert await ledger_balances(core)


async def test_the_birthday_dessert_waits_for_the_birthday_month_and_weekends_are_not_off_peak(
    client: httpx.AsyncClient, settings: Settings, clock: Clock
) -> None:
    admin = caller(client, settings, "admin")
    till = caller(client, settings, "service", format="dining")
    await change_settings(admin, "dining", {"off_peak_hours": ["14:00-17:00"]}, "Fill afternoon tea")
    enrolled = await enrol(till, "13800138000", born="1990-03-08")
    member = caller(client, settings, "member", member_id=int(enrolled["number"]))

    clock.set(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))  # Saturday 17:00 in Shanghai
    saturday = await till.mutate(
        "recordDiningBill", BILL,
        {"member": {"id": enrolled["id"]}, "key": "B-1", "input": bill("100.00", "0", "0", 2, "2026-11-28T15:00:00+08:00")},
    )
    dessert = wall_entry((await member.data(WALL))["me"]["benefits"], "dining.birthday_dessert")

    assert [line["rule"] for line in saturday["posting"]["lines"]] == ["dining.food_and_beverage"]
    assert saturday["posting"]["points"] == 100
    assert (dessert["unlocked"], dessert["lockedReason"]) == (False, "NOT_BIRTHDAY_MONTH")
