"""A retail member's month over HTTP, points worked out by hand: a receipt, returns by line, a voucher, points plus cash.

Settings for the whole journey (an admin sets them first): a 7-day return window, fresh food at
2 pts per CN¥1, member prices 5% off (the default), and points paying at most 30% of a receipt
(the group allows 50%). The member is Silver: ×1.2 on every point.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway.core import Core
from gateway.settings import Settings
from tests.http.graphql import Caller, caller
from tests.http.journeys import (
    APPLY_OFFSET,
    BALANCES,
    COUPON,
    ERRORS,
    MEMBER,
    POSTING,
    QUOTE,
    REDEEM,
    USE_COUPON,
    WALL,
    Clock,
    change_settings,
    cny,
    enrol,
    ledger_balances,
    put_in_tier,
    wall_entry,
)

MONDAY = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai

PURCHASE = f"""
mutation Purchase($member: MemberRefInput!, $key: String!, $input: RetailPurchaseInput!) {{
  recordRetailPurchase(member: $member, idempotencyKey: $key, input: $input) {{
    {POSTING}
    activity: posting {{ activity {{ ... on RetailPurchaseDetails {{ memberSaving items {{ line sku netAmount memberDiscount }} }} }} }}
    {MEMBER} {ERRORS}
  }}
}}"""

RETURN = f"""
mutation Return($original: String!, $key: String!, $input: RetailPurchaseRefundInput!) {{
  refundRetailPurchase(original: $original, idempotencyKey: $key, input: $input) {{ {POSTING} {MEMBER} {ERRORS} }}
}}"""

RECEIPT = {
    "storeCode": "SH-XUJIAHUI-01",
    "currency": "CNY",
    "items": [
        {"sku": "GRC-LONGJING-250G", "category": "grocery", "quantity": 1, "unitPrice": "128.00"},
        {"sku": "APP-TSHIRT", "category": "apparel", "quantity": 2, "unitPrice": "99.00", "lineDiscount": "19.80"},
        {"sku": "ELC-KETTLE", "category": "electronics", "quantity": 1, "unitPrice": "999.00"},
        {"sku": "FRS-SALMON", "category": "fresh", "quantity": 1, "unitPrice": "60.00", "memberDiscount": "3.00"},
        {"sku": "GFT-100", "category": "gift_card", "quantity": 1, "unitPrice": "100.00"},
    ],
}
"""Line nets in fen: 12800, 17820 (2 × 99.00 − 19.80), 99900, 5700 (60.00 − 5% member price), 10000 (gift card)."""


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch, MONDAY)


async def _returning(till: Caller, key: str, *lines: tuple[int, int]) -> dict[str, Any]:
    variables = {"original": "R-1", "key": key, "input": {"lines": [{"line": n, "quantity": q} for n, q in lines]}}
    return await till.mutate("refundRetailPurchase", RETURN, variables)


async def test_a_silver_member_buys_returns_by_line_and_pays_with_a_voucher_and_points(
    client: httpx.AsyncClient, settings: Settings, core: Core, clock: Clock
) -> None:
    admin = caller(client, settings, "admin")
    till = caller(client, settings, "service", format="retail")
    await change_settings(
        admin,
        "retail",
        {"return_window_days": 7, "category_multipliers": {"fresh": "2"}, "points_offset_cap_percent": 30},
        "November fresh-food promotion; 7-day returns",
    )
    enrolled = await enrol(till, "13800138000")
    number, ref = int(enrolled["number"]), {"id": enrolled["id"]}
    await put_in_tier(core, number, "silver")
    member = caller(client, settings, "member", member_id=number)

    # The wall: Silver unlocks member prices.
    assert wall_entry((await member.data(WALL))["me"]["benefits"], "retail.member_price")["unlocked"] is True

    # The sale. Base rate on grocery, T-shirts and kettle: 128.00 + 178.20 + 999.00 = 1305.20 -> 1305 pts;
    # fresh at 2 pts per CN¥1: 57.00 -> 114 pts (growth 57); the gift card earns nothing.
    # Base 1419 pts, growth 1362; Silver ×1.2: floor(1702.8) = 1702, a tier line of 283. All pending 7 days.
    sale = await till.mutate("recordRetailPurchase", PURCHASE, {"member": ref, "key": "R-1", "input": RECEIPT})
    assert sale["errors"] == []
    assert (sale["posting"]["points"], sale["posting"]["growth"], sale["posting"]["amount"]) == (1702, 1362, "1462.20")
    assert [(line["rule"], line["points"], line["growth"]) for line in sale["posting"]["lines"]] == [
        ("retail.base_rate", 1305, 1305), ("retail.base_rate", 114, 57), ("tier.silver", 283, 0),
    ]
    assert sale["posting"]["lines"][0]["reason"] == (
        "1 pt per CN¥1 on CN¥1,305.20 of eligible items (CN¥100.00 of gift_card excluded; "
        "CN¥3.00 saved at member price) (available from 2026-11-30)"
    )
    assert sale["member"] == {"pointsBalance": 0, "pendingPoints": 1702, "growthValue": 1362}
    details = sale["activity"]["activity"]
    assert details["memberSaving"] == "3.00"
    assert [(item["line"], item["sku"], item["netAmount"]) for item in details["items"]][1] == (2, "APP-TSHIRT", "178.20")

    # Tuesday: one T-shirt and the gift card come back. Money: 178.20 / 2 + 100.00 = 189.10.
    # Share of the points: lines weigh net × rate: 1305.20 × 1 + 57.00 × 2 = 1419.20 (the gift card 0);
    # half the T-shirts weigh 89.10. Points back: floor(1702 × 89.10 / 1419.20) = floor(106.85) = 106;
    # growth back: floor(1362 × 89.10 / 1419.20) = floor(85.5) = 85. The gift card took no points.
    clock.set(MONDAY + timedelta(days=1))
    first = await _returning(till, "RF-1", (2, 1), (5, 1))
    assert first["errors"] == []
    assert (first["posting"]["kind"], first["posting"]["points"], first["posting"]["growth"]) == ("REVERSE", -106, -85)
    assert first["posting"]["amount"] == "189.10"
    assert first["posting"]["details"]["part"] == {
        "lines": [
            {"line": 2, "sku": "APP-TSHIRT", "quantity": 1, "amountMinor": 8910},
            {"line": 5, "sku": "GFT-100", "quantity": 1, "amountMinor": 10000},
        ]
    }
    assert first["posting"]["details"]["fromPending"] == 106  # still inside the return window
    assert first["member"] == {"pointsBalance": 0, "pendingPoints": 1596, "growthValue": 1277}
    assert "1 × APP-TSHIRT, 1 × GFT-100 returned" in first["posting"]["reason"]

    # The till retries, then tries to return both T-shirts again: one is left.
    assert (await _returning(till, "RF-1", (2, 1), (5, 1)))["posting"]["replayed"] is True
    refused = await _returning(till, "RF-2", (2, 2))
    assert refused["posting"] is None
    assert refused["errors"] == [
        {
            "code": "REFUND_EXCEEDS_ACTIVITY",
            "field": "input.lines.0.quantity",
            "message": "Line 2 (APP-TSHIRT) has 1 of 2 units left to return; got 2.",
        }
    ]

    # Past the return window the 1596 points are the member's to spend.
    clock.set(MONDAY + timedelta(days=8))
    assert (await member.data(BALANCES))["me"] == {"pointsBalance": 1596, "pendingPoints": 0, "growthValue": 1277}

    # A CN¥10 store voucher for 1000 points, used once at a till.
    voucher = await member.mutate(
        "redeem", REDEEM, {"input": {"format": "retail", "reward": "voucher_10", "quantity": 1, "idempotencyKey": "APP-V-1"}}
    )
    assert (voucher["errors"], voucher["posting"]["points"], voucher["member"]["pointsBalance"]) == ([], -1000, 596)
    [code] = voucher["posting"]["details"]["couponCodes"]
    looked_up = (await till.data(COUPON, {"code": code}))["coupon"]
    assert (looked_up["status"], looked_up["faceValue"], looked_up["member"]) == ("ISSUED", "10.00", {"number": number})
    used = await till.mutate("useCoupon", USE_COUPON, {"input": {"code": code, "idempotencyKey": "TILL3-0815", "till": "T3"}})
    assert used["coupon"] == {"code": code, "status": "USED", "usedTill": "T3"}
    again = await till.mutate("useCoupon", USE_COUPON, {"input": {"code": code, "idempotencyKey": "TILL4-0007"}})
    assert [error["code"] for error in again["errors"]] == ["COUPON_NOT_USABLE"]

    # Points plus cash on a CN¥10.00 basket: retail lets points pay 30% (not the group's 50%): 300 pts.
    quote = (await till.data(QUOTE, {"format": "retail", "bill": cny("10.00"), "member": ref}))["pointsOffsetQuote"]
    assert quote == {
        "points": 300, "offset": "3.00", "cash": "7.00", "maxPoints": 300, "balance": 596, "capPercent": 30, "pointsValueMinor": 1,
    }
    too_much = await till.mutate(
        "applyPointsOffset", APPLY_OFFSET, {"input": {"member": ref, "format": "retail", "bill": cny("10.00"), "points": 301, "idempotencyKey": "R-2"}}
    )
    assert [(error["code"], error["field"]) for error in too_much["errors"]] == [("INVALID_INPUT", "input.points")]
    paid = await till.mutate(
        "applyPointsOffset", APPLY_OFFSET, {"input": {"member": ref, "format": "retail", "bill": cny("10.00"), "points": 300, "idempotencyKey": "R-2"}}
    )
    assert (paid["errors"], paid["posting"]["points"], paid["member"]["pointsBalance"]) == ([], -300, 296)
    assert paid["posting"]["details"]["cashMinor"] == 700

    # After the window, the salmon (fresh, double points) comes back: CN¥57.00.
    # Shares so far: (89.10 + 57.00 × 2) / 1419.20 = 203.10 / 1419.20.
    # Points: floor(1702 × 203.10 / 1419.20) = floor(243.57) = 243, less the 106 already back: 137.
    # Growth: floor(1362 × 203.10 / 1419.20) = floor(194.9) = 194, less 85: 109.
    salmon = await _returning(till, "RF-3", (4, 1))
    assert salmon["errors"] == []
    assert (salmon["posting"]["points"], salmon["posting"]["growth"], salmon["posting"]["amount"]) == (-137, -109, "57.00")
    assert salmon["member"] == {"pointsBalance": 159, "pendingPoints": 0, "growthValue": 1168}

    assert await ledger_balances(core)


async def test_a_member_price_deeper_than_the_setting_is_refused_and_nothing_is_recorded(
    client: httpx.AsyncClient, settings: Settings, clock: Clock
) -> None:
    till = caller(client, settings, "service", format="retail")
    enrolled = await enrol(till, "13800138000")
    line = {"sku": "FRS-SALMON", "category": "fresh", "quantity": 2, "unitPrice": "60.00", "memberDiscount": "6.01"}

    # 5% of 2 × 60.00 is 6.00: one fen more is a till's mistake.
    payload = await till.mutate(
        "recordRetailPurchase",
        PURCHASE,
        {"member": {"id": enrolled["id"]}, "key": "R-9", "input": {"storeCode": "SH-01", "currency": "CNY", "items": [line]}},
    )

    assert payload["posting"] is None
    assert payload["errors"] == [
        {
            "code": "INVALID_INPUT",
            "field": "input.items.0.memberDiscount",
            "message": "The member price takes at most 5% off: CN¥6.00 on this line, not CN¥6.01.",
        }
    ]
    member = caller(client, settings, "member", member_id=int(enrolled["number"]))
    assert (await member.data(BALANCES))["me"] == {"pointsBalance": 0, "pendingPoints": 0, "growthValue": 0}
    assert wall_entry((await member.data(WALL))["me"]["benefits"], "retail.member_price")["lockedReason"] == "TIER_TOO_LOW"


async def test_a_return_names_lines_the_receipt_has_each_once(client: httpx.AsyncClient, settings: Settings, clock: Clock) -> None:
    till = caller(client, settings, "service", format="retail")
    enrolled = await enrol(till, "13800138000")
    await till.mutate("recordRetailPurchase", PURCHASE, {"member": {"id": enrolled["id"]}, "key": "R-1", "input": RECEIPT})

    missing = await _returning(till, "RF-1", (6, 1))
    twice = await _returning(till, "RF-2", (1, 1), (1, 1))
    other = caller(client, settings, "service", format="dining")
    forbidden = await other.mutate(
        "refundRetailPurchase", RETURN, {"original": "R-1", "key": "RF-3", "input": {"lines": [{"line": 1, "quantity": 1}]}}
    )

    assert [(e["code"], e["field"]) for e in missing["errors"]] == [("INVALID_INPUT", "input.lines.0.line")]
    assert [(e["code"], e["field"]) for e in twice["errors"]] == [("INVALID_INPUT", "input.lines.1.line")]
    assert [e["code"] for e in forbidden["errors"]] == ["FORBIDDEN"]
    # The corrected return goes through under the key the refused one used: refused input is not remembered.
    fixed = await _returning(till, "RF-1", (1, 1))
    assert (fixed["errors"], fixed["posting"]["amount"]) == ([], "128.00")
