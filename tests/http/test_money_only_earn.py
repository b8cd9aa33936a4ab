"""Points are earned on money only: what a bill's points offsets and coupons paid earns nothing.

Points worked out by hand. Every member here is at the entry tier (×1) and starts with 5000
points an admin credited (no growth, so no tier change). Retail earns 1 pt and 1 growth per CN¥1
of eligible items, available at once; dining 1 pt and 1 growth per CN¥1 of food; a point pays
1 fen. The earn rules' lines are scaled to the money's share of the bill, each rounded down.
"""

from __future__ import annotations

from typing import Any

import httpx

from gateway.settings import Settings
from tests.http.graphql import Caller, caller, purchase
from tests.http.journeys import (
    APPLY_OFFSET,
    ERRORS,
    MEMBER,
    POSTING,
    REDEEM,
    REFUND_ACTIVITY,
    USE_COUPON,
    cny,
)

PURCHASE = f"""
mutation Purchase($member: MemberRefInput!, $key: String!, $input: RetailPurchaseInput!, $paidWith: PaidWithInput) {{
  recordRetailPurchase(member: $member, idempotencyKey: $key, input: $input, paidWith: $paidWith) {{ {POSTING} {MEMBER} {ERRORS} }}
}}"""

BILL = f"""
mutation Bill($member: MemberRefInput!, $key: String!, $input: DiningBillInput!, $paidWith: PaidWithInput) {{
  recordDiningBill(member: $member, idempotencyKey: $key, input: $input, paidWith: $paidWith) {{ {POSTING} {MEMBER} {ERRORS} }}
}}"""

ENROL = "mutation Enrol($identity: IdentityInput!) { enrol(input: {identity: $identity}) { member { id } errors { code } } }"

ADJUST = """
mutation Adjust($input: AdjustPointsInput!) { adjustPoints(input: $input) { errors { code field message } } }"""

KETTLE = purchase(("KETTLE", "household", 1, "100.00"))


async def _member(client: httpx.AsyncClient, settings: Settings, phone: str) -> dict[str, str]:
    """A new member with 5000 points; its reference for a till."""
    retail = caller(client, settings, "service", format="retail")
    enrolled = await retail.mutate("enrol", ENROL, {"identity": {"kind": "PHONE", "value": phone}})
    ref = {"id": enrolled["member"]["id"]}
    admin = caller(client, settings, "admin")
    credit = {"member": ref, "points": 5000, "reason": "Welcome", "idempotencyKey": f"WELCOME-{phone}"}
    assert (await admin.mutate("adjustPoints", ADJUST, {"input": credit}))["errors"] == []
    return ref


async def _offset(till: Caller, ref: dict[str, str], fmt: str, bill: str, points: int, key: str) -> dict[str, Any]:
    variables = {"input": {"member": ref, "format": fmt, "bill": cny(bill), "points": points, "idempotencyKey": key}}
    paid = await till.mutate("applyPointsOffset", APPLY_OFFSET, variables)
    assert paid["errors"] == []
    return paid


async def _coupon(client: httpx.AsyncClient, settings: Settings, ref: dict[str, str], fmt: str, reward: str, key: str, *, use: bool = True) -> str:
    """Redeem one coupon of ``reward`` for the member and (``use``) use it at the format's till."""
    till = caller(client, settings, "service", format=fmt)
    redeemed = await till.mutate(
        "redeem", REDEEM, {"input": {"format": fmt, "reward": reward, "quantity": 1, "idempotencyKey": key, "member": ref}}
    )
    assert redeemed["errors"] == []
    (code,) = redeemed["posting"]["details"]["couponCodes"]
    if use:
        used = await till.mutate("useCoupon", USE_COUPON, {"input": {"code": code, "idempotencyKey": f"{key}-USE", "till": "T1"}})
        assert used["errors"] == []
    return code


async def _buy_kettle(till: Caller, ref: dict[str, str], key: str, paid_with: dict[str, Any] | None) -> dict[str, Any]:
    return await till.mutate("recordRetailPurchase", PURCHASE, {"member": ref, "key": key, "input": KETTLE, "paidWith": paid_with})


async def test_a_purchase_of_100_yuan_with_20_paid_by_points_earns_on_80(client: httpx.AsyncClient, settings: Settings) -> None:
    till = caller(client, settings, "service", format="retail")
    ref = await _member(client, settings, "13800000001")
    # CN¥20.00 of the CN¥100.00 kettle is paid with 2000 pts: 5000 - 2000 = 3000 left.
    await _offset(till, ref, "retail", "100.00", 2000, "R-100")

    bought = await _buy_kettle(till, ref, "R-100", {"pointsOffsets": ["R-100"]})

    assert bought["errors"] == []
    # Earned on the CN¥80.00 paid in money: 80 pts, 80 growth; 3000 + 80 = 3080.
    assert (bought["posting"]["points"], bought["posting"]["growth"], bought["posting"]["amount"]) == (80, 80, "100.00")
    assert bought["member"] == {"pointsBalance": 3080, "pendingPoints": 0, "growthValue": 80}
    assert bought["posting"]["lines"] == [
        {
            "rule": "retail.base_rate",
            "points": 80,
            "growth": 80,
            "reason": "1 pt per CN¥1 on CN¥100.00 of eligible items, on the CN¥80.00 of CN¥100.00 paid in money",
        }
    ]
    assert bought["posting"]["details"]["paidWith"] == {
        "moneyMinor": 8000, "pointsMinor": 2000, "couponsMinor": 0, "pointsOffsets": ["R-100"], "coupons": [],
    }


async def test_the_same_bill_sent_again_earns_once_and_other_tenders_reuse_the_key(client: httpx.AsyncClient, settings: Settings) -> None:
    till = caller(client, settings, "service", format="retail")
    ref = await _member(client, settings, "13800000002")
    await _offset(till, ref, "retail", "100.00", 2000, "R-200")
    first = await _buy_kettle(till, ref, "R-200", {"pointsOffsets": ["R-200"]})

    again = await _buy_kettle(till, ref, "R-200", {"pointsOffsets": ["R-200"]})
    without_tenders = await _buy_kettle(till, ref, "R-200", None)

    assert (again["errors"], again["posting"]["replayed"], again["posting"]["id"]) == ([], True, first["posting"]["id"])
    assert again["member"]["pointsBalance"] == 3080
    assert [error["code"] for error in without_tenders["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]


async def test_another_members_points_offset_is_refused_and_nothing_is_written(client: httpx.AsyncClient, settings: Settings) -> None:
    till = caller(client, settings, "service", format="retail")
    mine = await _member(client, settings, "13800000003")
    theirs = await _member(client, settings, "13800000004")
    await _offset(till, theirs, "retail", "100.00", 2000, "THEIRS-1")

    refused = await _buy_kettle(till, mine, "R-300", {"pointsOffsets": ["THEIRS-1"]})
    unknown = await _buy_kettle(till, mine, "R-301", {"pointsOffsets": ["NO-SUCH-BILL"]})
    honest = await _buy_kettle(till, mine, "R-300", None)

    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("INVALID_INPUT", "paidWith.pointsOffsets.0")]
    assert refused["errors"][0]["message"] == unknown["errors"][0]["message"].replace("NO-SUCH-BILL", "THEIRS-1")
    # Refused, so the key is free: the till sends the bill again without the foreign tender.
    assert (honest["errors"], honest["posting"]["points"], honest["member"]["pointsBalance"]) == ([], 100, 5100)


async def test_an_offset_of_another_format_is_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    ref = await _member(client, settings, "13800000005")
    dining = caller(client, settings, "service", format="dining")
    await _offset(dining, ref, "dining", "100.00", 2000, "DIN-BILL-1")

    refused = await _buy_kettle(caller(client, settings, "service", format="retail"), ref, "R-500", {"pointsOffsets": ["DIN-BILL-1"]})

    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("INVALID_INPUT", "paidWith.pointsOffsets.0")]


async def test_a_retail_voucher_pays_its_face_value_which_earns_nothing(client: httpx.AsyncClient, settings: Settings) -> None:
    till = caller(client, settings, "service", format="retail")
    ref = await _member(client, settings, "13800000006")
    # A CN¥10 voucher costs 1000 pts: 4000 left.
    code = await _coupon(client, settings, ref, "retail", "voucher_10", "RV-1")

    bought = await _buy_kettle(till, ref, "R-600", {"coupons": [{"code": code.lower()}]})

    # CN¥90.00 paid in money: 90 pts, 90 growth.
    assert (bought["errors"], bought["posting"]["points"], bought["posting"]["growth"]) == ([], 90, 90)
    assert bought["member"]["pointsBalance"] == 4090
    assert bought["posting"]["details"]["paidWith"]["coupons"] == [code]


async def test_a_coupon_not_used_yet_or_named_twice_is_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    till = caller(client, settings, "service", format="retail")
    ref = await _member(client, settings, "13800000007")
    code = await _coupon(client, settings, ref, "retail", "voucher_10", "RV-2", use=False)

    unused = await _buy_kettle(till, ref, "R-700", {"coupons": [{"code": code}]})
    twice = await _buy_kettle(till, ref, "R-701", {"coupons": [{"code": code}, {"code": code}]})

    assert [(e["code"], e["field"]) for e in unused["errors"]] == [("COUPON_NOT_USABLE", "paidWith.coupons.0.code")]
    assert [(e["code"], e["field"]) for e in twice["errors"]] == [("INVALID_INPUT", "paidWith.coupons.1")]


async def test_a_dining_bill_with_a_dish_voucher_earns_on_the_rest(client: httpx.AsyncClient, settings: Settings) -> None:
    till = caller(client, settings, "service", format="dining")
    ref = await _member(client, settings, "13800000008")
    # The dessert voucher costs 800 pts: 4200 left. The dessert is CN¥38.00 on the menu.
    code = await _coupon(client, settings, ref, "dining", "dessert_voucher", "DV-1")
    bill = {"storeCode": "SH-JADE-GARDEN", "currency": "CNY", "foodAndBeverage": "200.00", "covers": 2}

    no_value = await till.mutate("recordDiningBill", BILL, {"member": ref, "key": "B-1", "input": bill, "paidWith": {"coupons": [{"code": code}]}})
    paid = await till.mutate(
        "recordDiningBill", BILL,
        {"member": ref, "key": "B-1", "input": bill, "paidWith": {"coupons": [{"code": code, "value": cny("38.00")}]}},
    )

    assert [(e["code"], e["field"]) for e in no_value["errors"]] == [("INVALID_INPUT", "paidWith.coupons.0.value")]
    # CN¥162.00 of the CN¥200.00 food paid in money: 162 pts, 162 growth; 4200 + 162 = 4362.
    assert (paid["errors"], paid["posting"]["points"], paid["posting"]["growth"]) == ([], 162, 162)
    assert paid["member"]["pointsBalance"] == 4362
    assert paid["posting"]["details"]["paidWith"]["couponsMinor"] == 3800


async def test_a_dining_voucher_is_not_found_at_a_retail_till(client: httpx.AsyncClient, settings: Settings) -> None:
    ref = await _member(client, settings, "13800000009")
    code = await _coupon(client, settings, ref, "dining", "dessert_voucher", "DV-2")

    refused = await _buy_kettle(
        caller(client, settings, "service", format="retail"), ref, "R-900", {"coupons": [{"code": code, "value": cny("38.00")}]}
    )

    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("COUPON_NOT_FOUND", "paidWith.coupons.0.code")]


async def test_a_refund_of_a_bill_paid_partly_with_points_takes_back_its_share_of_what_was_earned(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    till = caller(client, settings, "service", format="retail")
    ref = await _member(client, settings, "13800000010")
    await _offset(till, ref, "retail", "100.00", 2000, "R-1000")
    await _buy_kettle(till, ref, "R-1000", {"pointsOffsets": ["R-1000"]})  # 80 pts, 80 growth: 3080

    refund = await till.mutate(
        "refundActivity", REFUND_ACTIVITY,
        {"input": {"format": "retail", "original": "R-1000", "amount": cny("50.00"), "idempotencyKey": "R-1000-RF"}},
    )

    # Half the bill comes back: half of the 80 pts and 80 growth it earned, not half of 100.
    assert (refund["errors"], refund["posting"]["points"], refund["posting"]["growth"]) == ([], -40, -40)
    assert refund["member"] == {"pointsBalance": 3040, "pendingPoints": 0, "growthValue": 40}


PREVIEW = """
query Preview($member: MemberRefInput!, $input: JSON!, $paidWith: PaidWithInput) {
  previewEarn(format: "retail", kind: "purchase", input: $input, member: $member, paidWith: $paidWith) { points growth }
}"""


async def test_a_preview_with_the_same_tenders_shows_what_recording_then_earns(client: httpx.AsyncClient, settings: Settings) -> None:
    till = caller(client, settings, "service", format="retail")
    ref = await _member(client, settings, "13800000011")
    await _offset(till, ref, "retail", "100.00", 2000, "R-1100")
    paid_with = {"pointsOffsets": ["R-1100"]}

    preview = (await till.data(PREVIEW, {"member": ref, "input": KETTLE, "paidWith": paid_with}))["previewEarn"]
    bought = await _buy_kettle(till, ref, "R-1100", paid_with)

    assert preview == {"points": 80, "growth": 80} == {key: bought["posting"][key] for key in ("points", "growth")}


RETURN = f"""
mutation Return($original: String!, $key: String!, $input: RetailPurchaseRefundInput!) {{
  refundRetailPurchase(original: $original, idempotencyKey: $key, input: $input) {{ {POSTING} {MEMBER} {ERRORS} }}
}}"""


async def test_returning_the_line_of_a_receipt_paid_partly_with_a_voucher_takes_back_only_what_it_earned(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    till = caller(client, settings, "service", format="retail")
    ref = await _member(client, settings, "13800000012")
    code = await _coupon(client, settings, ref, "retail", "voucher_10", "RV-12")  # 4000 left
    await _buy_kettle(till, ref, "R-1200", {"coupons": [{"code": code}]})  # 90 pts, 90 growth: 4090

    returned = await till.mutate(
        "refundRetailPurchase", RETURN,
        {"original": "R-1200", "key": "R-1200-RF", "input": {"lines": [{"line": 1, "quantity": 1}]}},
    )

    # The whole receipt comes back: the 90 pts and 90 growth it earned, not 100.
    assert (returned["errors"], returned["posting"]["points"], returned["posting"]["growth"]) == ([], -90, -90)
    assert returned["member"] == {"pointsBalance": 4000, "pendingPoints": 0, "growthValue": 0}
