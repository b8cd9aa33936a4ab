"""Coupons over HTTP: a till looks a code up and uses it once, members see theirs, tills cancel unused ones."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from gateway.settings import Settings
from tests.http.graphql import (
    ENROL,
    PHONE,
    REDEEM,
    RETAIL_PURCHASE,
    Caller,
    caller,
    purchase,
)

LOOKUP = """
query Lookup($code: String!) {
  coupon(code: $code) {
    code status format rewardCode faceValue currency item expiresAt usedAt usedBy usedTill
    reward { id name } member { number }
  }
}"""

USE = """
mutation Use($input: UseCouponInput!) {
  useCoupon(input: $input) { coupon { code status usedBy usedTill } replayed errors { code field message } }
}"""

CANCEL = """
mutation Cancel($input: CancelCouponInput!) {
  cancelCoupon(input: $input) {
    posting { kind points balanceAfter } coupons { code status cancellationPosting }
    member { pointsBalance } errors { code field message }
  }
}"""

MY_COUPONS = """
query Mine($status: CouponStatus, $first: Int!, $after: String) {
  me {
    coupons(status: $status, first: $first, after: $after) {
      edges { cursor node { code status rewardCode } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""


async def _member_with_points(client: httpx.AsyncClient, settings: Settings) -> tuple[Caller, int]:
    """A member with 5000 points from a retail receipt; the retail till and the member number."""
    retail = caller(client, settings, "service", format="retail")
    enrolled = await retail.mutate("enrol", ENROL, {"identity": PHONE})
    number = enrolled["member"]["number"]
    earned = await retail.mutate(
        "recordRetailPurchase",
        RETAIL_PURCHASE,
        {"member": {"identity": PHONE}, "key": "RCPT-1", "input": purchase(("TV", "electronics", 1, "5000.00"))},
    )
    assert earned["errors"] == []
    return retail, number


async def _redeem(
    client: httpx.AsyncClient, settings: Settings, *, fmt: str = "dining", reward: str = "dessert_voucher", quantity: int = 1, key: str = "RD-1"
) -> list[str]:
    till = caller(client, settings, "service", format=fmt)
    variables = {"input": {"format": fmt, "reward": reward, "quantity": quantity, "idempotencyKey": key, "member": {"identity": PHONE}}}
    redeemed = await till.mutate("redeem", REDEEM, variables)
    assert redeemed["errors"] == []
    codes: list[str] = redeemed["posting"]["details"]["couponCodes"]
    return codes


def _use(code: str, key: str, till: str | None = None) -> dict[str, Any]:
    return {"input": {"code": code, "idempotencyKey": key, "till": till}}


async def test_a_hundred_concurrent_uses_of_one_code_let_exactly_one_win(client: httpx.AsyncClient, settings: Settings) -> None:
    await _member_with_points(client, settings)
    (code,) = await _redeem(client, settings)
    dining = caller(client, settings, "service", format="dining")

    payloads = await asyncio.gather(*(dining.mutate("useCoupon", USE, _use(code, f"POS-{n}")) for n in range(100)))

    wins = [payload for payload in payloads if not payload["errors"]]
    assert len(wins) == 1 and wins[0]["coupon"]["status"] == "USED"
    refusals = [payload["errors"][0] for payload in payloads if payload["errors"]]
    assert len(refusals) == 99
    assert {(error["code"], error["field"]) for error in refusals} == {("COUPON_NOT_USABLE", "input.code")}
    assert all(error["message"].startswith(f"Coupon {code} was already used at") for error in refusals)
    assert all(payload["coupon"]["status"] == "USED" for payload in payloads)


async def test_a_till_looks_up_its_formats_coupon_and_another_format_gets_not_found(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    retail, number = await _member_with_points(client, settings)
    (code,) = await _redeem(client, settings)
    dining = caller(client, settings, "service", format="dining")

    found = (await dining.data(LOOKUP, {"code": code.lower()}))["coupon"]
    refused = await retail.raw(LOOKUP, {"code": code})

    assert {key: found[key] for key in ("code", "status", "format", "rewardCode", "faceValue", "item", "usedAt")} == {
        "code": code, "status": "ISSUED", "format": "dining", "rewardCode": "dessert_voucher",
        "faceValue": None, "item": "Dessert of the day", "usedAt": None,
    }
    assert found["reward"] == {"id": "dining.dessert_voucher", "name": "Dessert of the day"}
    assert found["member"] == {"number": number}
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "COUPON_NOT_FOUND"


async def test_members_and_admins_look_up_coupons_and_other_members_do_not(client: httpx.AsyncClient, settings: Settings) -> None:
    _, number = await _member_with_points(client, settings)
    (code,) = await _redeem(client, settings, fmt="retail", reward="voucher_10")

    mine = await caller(client, settings, "member", member_id=number).data(LOOKUP, {"code": code})
    admin = await caller(client, settings, "admin").data(LOOKUP, {"code": code})
    stranger = await caller(client, settings, "member", member_id=number + 1).raw(LOOKUP, {"code": code})

    assert (mine["coupon"]["faceValue"], mine["coupon"]["currency"]) == ("10.00", "CNY")
    assert admin["coupon"]["code"] == code
    assert stranger["errors"][0]["extensions"]["code"] == "COUPON_NOT_FOUND"


async def test_using_records_the_till_and_a_retry_replays(client: httpx.AsyncClient, settings: Settings) -> None:
    await _member_with_points(client, settings)
    (code,) = await _redeem(client, settings)
    dining = caller(client, settings, "service", format="dining")

    first = await dining.mutate("useCoupon", USE, _use(code, "POS-1", till="RST-JADE-T12"))
    again = await dining.mutate("useCoupon", USE, _use(code, "POS-1", till="RST-JADE-T12"))

    assert first == {
        "coupon": {"code": code, "status": "USED", "usedBy": "service:dining", "usedTill": "RST-JADE-T12"},
        "replayed": False,
        "errors": [],
    }
    assert again == {**first, "replayed": True}


async def test_only_tills_and_admins_use_and_cancel_coupons(client: httpx.AsyncClient, settings: Settings) -> None:
    _, number = await _member_with_points(client, settings)
    (code,) = await _redeem(client, settings)
    member = caller(client, settings, "member", member_id=number)

    used = await member.mutate("useCoupon", USE, _use(code, "POS-1"))
    cancelled = await member.mutate("cancelCoupon", CANCEL, {"input": {"code": code, "idempotencyKey": "CX-1"}})

    assert [error["code"] for error in used["errors"]] == ["FORBIDDEN"]
    assert [error["code"] for error in cancelled["errors"]] == ["FORBIDDEN"]
    assert (await member.data(LOOKUP, {"code": code}))["coupon"]["status"] == "ISSUED"


async def test_cancelling_an_unused_coupon_gives_the_points_back(client: httpx.AsyncClient, settings: Settings) -> None:
    await _member_with_points(client, settings)
    codes = await _redeem(client, settings, fmt="property", reward="parking_hour", quantity=2)
    property_till = caller(client, settings, "service", format="property")

    done = await property_till.mutate("cancelCoupon", CANCEL, {"input": {"code": codes[1], "idempotencyKey": "CX-1"}})

    assert done["errors"] == []
    assert done["posting"] == {"kind": "CANCEL", "points": 600, "balanceAfter": 5000}
    assert [(c["code"], c["status"]) for c in done["coupons"]] == [(code, "CANCELLED") for code in codes]
    assert all(c["cancellationPosting"] for c in done["coupons"])
    assert done["member"] == {"pointsBalance": 5000}


async def test_a_used_coupon_cannot_be_cancelled(client: httpx.AsyncClient, settings: Settings) -> None:
    await _member_with_points(client, settings)
    (code,) = await _redeem(client, settings)
    dining = caller(client, settings, "service", format="dining")
    await dining.mutate("useCoupon", USE, _use(code, "POS-1"))

    refused = await dining.mutate("cancelCoupon", CANCEL, {"input": {"code": code, "idempotencyKey": "CX-1"}})

    assert refused["posting"] is None
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("COUPON_NOT_USABLE", "input.code")]
    assert refused["errors"][0]["message"].endswith("a used coupon cannot be cancelled.")


async def test_a_member_pages_through_its_coupons_by_status(client: httpx.AsyncClient, settings: Settings) -> None:
    _, number = await _member_with_points(client, settings)
    older = await _redeem(client, settings, quantity=2)
    (newest,) = await _redeem(client, settings, fmt="retail", reward="voucher_10", key="RD-2")
    await caller(client, settings, "service", format="dining").mutate("useCoupon", USE, _use(older[0], "POS-1"))
    member = caller(client, settings, "member", member_id=number)

    page = (await member.data(MY_COUPONS, {"first": 2}))["me"]["coupons"]
    rest = (await member.data(MY_COUPONS, {"first": 2, "after": page["pageInfo"]["endCursor"]}))["me"]["coupons"]
    used = (await member.data(MY_COUPONS, {"first": 10, "status": "USED"}))["me"]["coupons"]
    issued = (await member.data(MY_COUPONS, {"first": 10, "status": "ISSUED"}))["me"]["coupons"]

    assert [(e["node"]["code"], e["node"]["status"]) for e in page["edges"]] == [(newest, "ISSUED"), (older[1], "ISSUED")]
    assert page["pageInfo"]["hasNextPage"] is True
    assert [(e["node"]["code"], e["node"]["status"]) for e in rest["edges"]] == [(older[0], "USED")]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert [e["node"]["code"] for e in used["edges"]] == [older[0]]
    assert [e["node"]["code"] for e in issued["edges"]] == [newest, older[1]]
