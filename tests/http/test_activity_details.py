"""History shows each format's own facts of an activity, through the ActivityDetails interface."""

from __future__ import annotations

import httpx

from gateway.settings import Settings
from tests.http.graphql import ENROL, PHONE, RETAIL_PURCHASE, caller, purchase

HISTORY = """
query {
  me {
    history(first: 5) {
      edges { node { kind activity {
        __typename summary
        ... on RetailPurchaseDetails { storeCode eligibleAmount items { sku category quantity netAmount } }
        ... on DiningBillDetails { covers foodAndBeverage serviceCharge tips }
      } } }
    }
  }
}"""

BILL = """
mutation($member: MemberRefInput!, $key: String!, $input: DiningBillInput!) {
  recordDiningBill(member: $member, idempotencyKey: $key, input: $input) { errors { code message } }
}"""


async def test_a_receipt_shows_its_lines_and_what_earned(client: httpx.AsyncClient, settings: Settings) -> None:
    retail = caller(client, settings, "service", format="retail")
    number = (await retail.mutate("enrol", ENROL, {"identity": PHONE}))["member"]["number"]
    await retail.mutate(
        "recordRetailPurchase",
        RETAIL_PURCHASE,
        {"member": {"identity": PHONE}, "key": "R-1", "input": purchase(("MILK", "grocery", 2, "15.50"), ("CARD", "gift_card", 1, "100.00"))},
    )

    history = (await caller(client, settings, "member", member_id=number).data(HISTORY))["me"]["history"]

    assert history["edges"][0]["node"]["activity"] == {
        "__typename": "RetailPurchaseDetails",
        "summary": "3 items at store SH-001, CN¥131.00",
        "storeCode": "SH-001",
        "eligibleAmount": "31.00",
        "items": [
            {"sku": "MILK", "category": "grocery", "quantity": 2, "netAmount": "31.00"},
            {"sku": "CARD", "category": "gift_card", "quantity": 1, "netAmount": "100.00"},
        ],
    }


async def test_a_bill_shows_covers_and_what_earned(client: httpx.AsyncClient, settings: Settings) -> None:
    dining = caller(client, settings, "service", format="dining")
    number = (await dining.mutate("enrol", ENROL, {"identity": PHONE}))["member"]["number"]
    bill = {"storeCode": "RST-9", "currency": "CNY", "foodAndBeverage": "230.00", "serviceCharge": "23.00", "tips": "10", "covers": 3}
    assert (await dining.mutate("recordDiningBill", BILL, {"member": {"identity": PHONE}, "key": "B-1", "input": bill}))["errors"] == []

    node = (await caller(client, settings, "member", member_id=number).data(HISTORY))["me"]["history"]["edges"][0]["node"]

    assert node["activity"] == {
        "__typename": "DiningBillDetails",
        "summary": "Bill for 3 guests at RST-9, CN¥263.00",
        "covers": 3,
        "foodAndBeverage": "230.00",
        "serviceCharge": "23.00",
        "tips": "10.00",
    }
