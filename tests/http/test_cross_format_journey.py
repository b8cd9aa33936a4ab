"""The walking skeleton's journey over HTTP: enrol at retail, earn, link dining, redeem at dining."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from gateway.core import Core
from gateway.persistence.models import entry_table, lot_consumption_table, lot_table
from gateway.settings import Settings
from tests.http.graphql import (
    DASHBOARD,
    ENROL,
    LINK,
    LOOKUP,
    PHONE,
    REDEEM,
    RETAIL_PURCHASE,
    caller,
    purchase,
)

DINING_ID = {"kind": "CUSTOMER_ID", "format": "dining", "value": "DIN-APP-42"}


async def test_points_earned_at_retail_pay_for_a_dining_reward(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    retail = caller(client, settings, "service", format="retail")
    dining = caller(client, settings, "service", format="dining")

    enrolled = await retail.mutate("enrol", ENROL, {"identity": PHONE})
    assert enrolled["errors"] == []
    member_gid, number = enrolled["member"]["id"], enrolled["member"]["number"]

    earned = await retail.mutate(
        "recordRetailPurchase",
        RETAIL_PURCHASE,
        {
            "member": {"identity": {"kind": "PHONE", "value": "+86 138-0013-8000"}},
            "key": "RCPT-0001",
            "input": purchase(("MILK", "grocery", 2, "15.50"), ("TV", "electronics", 1, "999.00"), ("CIG", "tobacco", 1, "40.00")),
        },
    )
    assert earned["errors"] == []
    # 2 × 15.50 + 999.00 = 1030.00 eligible (tobacco excluded): 1030 pts at the Member tier (×1).
    assert earned["posting"]["points"] == 1030
    assert earned["posting"]["growth"] == 1030
    assert earned["member"]["pointsBalance"] == 1030

    linked = await dining.mutate("linkIdentity", LINK, {"member": {"identity": PHONE}, "identity": DINING_ID})
    assert linked["errors"] == []
    assert {"kind": "CUSTOMER_ID", "format": "dining", "value": "DIN-APP-42"} in linked["member"]["identities"]

    found = (await dining.data(LOOKUP, {"identity": DINING_ID}))["member"]
    assert found["id"] == member_gid and found["pointsBalance"] == 1030

    member = caller(client, settings, "member", member_id=number)
    redeemed = await member.mutate(
        "redeem", REDEEM, {"input": {"format": "dining", "reward": "dessert_voucher", "quantity": 1, "idempotencyKey": "APP-R-1"}}
    )
    assert redeemed["errors"] == []
    assert redeemed["posting"]["points"] == -800
    assert redeemed["member"]["pointsBalance"] == 230
    assert redeemed["posting"]["details"]["couponCodes"][0].startswith("DIN-")

    me = (await member.data(DASHBOARD))["me"]
    assert me["pointsBalance"] == 230
    assert [lot["format"] for lot in me["lots"]] == ["retail"]
    assert me["lots"][0]["points"] == 1030 and me["lots"][0]["remaining"] == 230
    kinds = [(edge["node"]["kind"], edge["node"]["format"], edge["node"]["points"]) for edge in me["history"]["edges"]]
    assert kinds == [("REDEEM", "dining", -800), ("EARN", "retail", 1030)]
    assert "1030" in me["history"]["edges"][1]["node"]["reason"] or "1,030" in me["history"]["edges"][1]["node"]["reason"]

    async with core.db.read() as conn:
        legs = (await conn.execute(select(entry_table.c.account, entry_table.c.amount).order_by(entry_table.c.id))).all()
        draws = (
            await conn.execute(
                select(lot_table.c.format, lot_consumption_table.c.points).join(
                    lot_table, lot_table.c.id == lot_consumption_table.c.lot_id
                )
            )
        ).all()
    assert [tuple(leg) for leg in legs] == [
        ("member.wallet", 1030),
        ("format.retail.issuance", -1030),
        ("member.wallet", -800),
        ("format.dining.redemption", 800),
    ]
    assert [tuple(draw) for draw in draws] == [("retail", 800)]


async def test_a_replayed_purchase_returns_the_original_result_and_earns_nothing_more(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    retail = caller(client, settings, "service", format="retail")
    await retail.mutate("enrol", ENROL, {"identity": PHONE})
    variables = {"member": {"identity": PHONE}, "key": "RCPT-7", "input": purchase(("A", "grocery", 1, "88.00"))}

    first = await retail.mutate("recordRetailPurchase", RETAIL_PURCHASE, variables)
    again = await retail.mutate("recordRetailPurchase", RETAIL_PURCHASE, variables)

    assert again["errors"] == []
    assert again["posting"]["replayed"] is True
    assert {k: v for k, v in again["posting"].items() if k != "replayed"} == {
        k: v for k, v in first["posting"].items() if k != "replayed"
    }
    assert again["member"]["pointsBalance"] == 88


async def test_the_same_key_with_another_payload_is_a_typed_error(client: httpx.AsyncClient, settings: Settings) -> None:
    retail = caller(client, settings, "service", format="retail")
    await retail.mutate("enrol", ENROL, {"identity": PHONE})
    await retail.mutate(
        "recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": PHONE}, "key": "K", "input": purchase(("A", "grocery", 1, "88.00"))}
    )

    reused = await retail.mutate(
        "recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": PHONE}, "key": "K", "input": purchase(("A", "grocery", 1, "99.00"))}
    )

    assert reused["posting"] is None
    assert reused["errors"] == [
        {"code": "IDEMPOTENCY_KEY_REUSED", "field": "idempotencyKey", "message": reused["errors"][0]["message"]}
    ]
    found = (await retail.data(LOOKUP, {"identity": PHONE}))["member"]
    assert found["pointsBalance"] == 88
