"""Over HTTP: a format's service account refunds its activities and cancels its redemptions; nobody else can."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.core import Core
from gateway.ledger.verify import verify_ledger
from gateway.settings import Settings
from tests.helpers import snapshot
from tests.http.graphql import (
    ENROL,
    PHONE,
    REDEEM,
    RETAIL_PURCHASE,
    Caller,
    caller,
    purchase,
)

REFUND = """
mutation Refund($input: RefundActivityInput!) {
  refundActivity(input: $input) {
    posting { id kind format points growth balanceAfter amount currency reason replayed }
    member { pointsBalance growthValue tier { code } }
    errors { code field message }
  }
}"""

CANCEL = """
mutation Cancel($input: CancelRedemptionInput!) {
  cancelRedemption(input: $input) {
    posting { kind format points balanceAfter reward replayed }
    member { pointsBalance }
    errors { code field message }
  }
}"""


def _refund(yuan: str, key: str = "RF-1", original: str = "R-1", format_code: str = "retail") -> dict[str, Any]:
    return {"input": {"format": format_code, "original": original, "amount": {"amount": yuan, "currency": "CNY"}, "idempotencyKey": key}}


def _cancel(key: str = "CX-1", redemption: str = "RD-1", format_code: str = "dining") -> dict[str, Any]:
    return {"input": {"format": format_code, "redemption": redemption, "idempotencyKey": key}}


async def _member_with_a_receipt(client: httpx.AsyncClient, settings: Settings, yuan: str = "1200.00") -> int:
    """A member enrolled at retail with receipt R-1; returns its number."""
    retail = caller(client, settings, "service", format="retail")
    number = (await retail.mutate("enrol", ENROL, {"identity": PHONE}))["member"]["number"]
    earned = await retail.mutate(
        "recordRetailPurchase",
        RETAIL_PURCHASE,
        {"member": {"identity": PHONE}, "key": "R-1", "input": purchase(("SKU1", "grocery", 1, yuan))},
    )
    assert earned["errors"] == []
    return int(number)


async def _dessert(dining: Caller) -> None:
    redeemed = await dining.mutate(
        "redeem",
        REDEEM,
        {"input": {"format": "dining", "reward": "dessert_voucher", "idempotencyKey": "RD-1", "member": {"identity": PHONE}}},
    )
    assert redeemed["errors"] == []


async def _verified(core: Core) -> bool:
    async with core.db.read() as conn:
        return await verify_ledger(conn) == []


async def test_the_retail_service_refunds_part_of_a_receipt(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    await _member_with_a_receipt(client, settings)
    retail = caller(client, settings, "service", format="retail")

    payload = await retail.mutate("refundActivity", REFUND, _refund("300.00"))
    replay = await retail.mutate("refundActivity", REFUND, _refund("300.00"))

    assert payload["errors"] == []
    posting = payload["posting"]
    assert (posting["kind"], posting["format"], posting["points"], posting["growth"]) == ("REVERSE", "retail", -300, -300)
    assert (posting["balanceAfter"], posting["amount"], posting["currency"], posting["replayed"]) == (900, "300.00", "CNY", False)
    assert payload["member"] == {"pointsBalance": 900, "growthValue": 900, "tier": {"code": "member"}}
    assert (replay["posting"]["id"], replay["posting"]["replayed"]) == (posting["id"], True)
    assert await _verified(core)


async def test_the_dining_service_cannot_refund_a_retail_receipt(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    await _member_with_a_receipt(client, settings)
    before = await snapshot(core)
    dining = caller(client, settings, "service", format="dining")

    payload = await dining.mutate("refundActivity", REFUND, _refund("300.00"))

    assert payload["posting"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("FORBIDDEN", "input.format")]
    assert await snapshot(core) == before


async def test_a_member_token_cannot_refund_its_own_receipt(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    number = await _member_with_a_receipt(client, settings)
    before = await snapshot(core)
    member = caller(client, settings, "member", member_id=number)

    payload = await member.mutate("refundActivity", REFUND, _refund("300.00"))

    assert payload["posting"] is None
    assert payload["errors"][0]["code"] == "FORBIDDEN"
    assert await snapshot(core) == before


async def test_refunding_an_unknown_receipt_is_a_typed_error(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    await _member_with_a_receipt(client, settings)
    before = await snapshot(core)
    admin = caller(client, settings, "admin")

    payload = await admin.mutate("refundActivity", REFUND, _refund("300.00", original="R-404"))

    assert payload["posting"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("POSTING_NOT_FOUND", "input.original")]
    assert await snapshot(core) == before


async def test_refunding_more_than_the_receipt_is_a_typed_error(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    await _member_with_a_receipt(client, settings)
    retail = caller(client, settings, "service", format="retail")

    payload = await retail.mutate("refundActivity", REFUND, _refund("1200.01"))

    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("REFUND_EXCEEDS_ACTIVITY", "input.amount")]
    assert payload["member"] is None
    assert await _verified(core)


async def test_an_original_posting_id_that_is_no_posting_is_a_typed_error(client: httpx.AsyncClient, settings: Settings) -> None:
    await _member_with_a_receipt(client, settings)
    retail = caller(client, settings, "service", format="retail")
    member_global_id = "TWVtYmVyOjE="  # Member:1, not a Posting
    variables = {"input": {"format": "retail", "originalPosting": member_global_id, "amount": {"amount": "1.00", "currency": "CNY"}, "idempotencyKey": "RF-1"}}

    payload = await retail.mutate("refundActivity", REFUND, variables)

    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_INPUT", "input.originalPosting")]


async def test_the_dining_service_cancels_its_redemption(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    await _member_with_a_receipt(client, settings)
    dining = caller(client, settings, "service", format="dining")
    await _dessert(dining)

    payload = await dining.mutate("cancelRedemption", CANCEL, _cancel())
    again = await dining.mutate("cancelRedemption", CANCEL, _cancel("CX-2"))

    assert payload["errors"] == []
    assert payload["posting"] == {
        "kind": "CANCEL", "format": "dining", "points": 800, "balanceAfter": 1200, "reward": "dining.dessert_voucher", "replayed": False,
    }
    assert payload["member"] == {"pointsBalance": 1200}
    assert [(e["code"], e["field"]) for e in again["errors"]] == [("ALREADY_CANCELLED", "input.redemption")]
    assert await _verified(core)


async def test_the_retail_service_cannot_cancel_a_dining_redemption(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    await _member_with_a_receipt(client, settings)
    await _dessert(caller(client, settings, "service", format="dining"))
    before = await snapshot(core)
    retail = caller(client, settings, "service", format="retail")

    payload = await retail.mutate("cancelRedemption", CANCEL, _cancel())

    assert payload["posting"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("FORBIDDEN", "input.format")]
    assert await snapshot(core) == before


async def test_a_member_token_cannot_cancel_its_redemption(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    number = await _member_with_a_receipt(client, settings)
    await _dessert(caller(client, settings, "service", format="dining"))
    before = await snapshot(core)
    member = caller(client, settings, "member", member_id=number)

    payload = await member.mutate("cancelRedemption", CANCEL, _cancel())

    assert payload["posting"] is None
    assert payload["errors"][0]["code"] == "FORBIDDEN"
    assert await snapshot(core) == before


async def test_a_refund_names_the_activity_by_its_posting_id(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    retail = caller(client, settings, "service", format="retail")
    await retail.mutate("enrol", ENROL, {"identity": PHONE})
    earned = await retail.mutate(
        "recordRetailPurchase",
        RETAIL_PURCHASE,
        {"member": {"identity": PHONE}, "key": "R-1", "input": purchase(("SKU1", "grocery", 1, "100.00"))},
    )
    variables = {"input": {"format": "retail", "originalPosting": earned["posting"]["id"], "amount": {"amount": "100.00", "currency": "CNY"}, "idempotencyKey": "RF-1"}}

    payload = await retail.mutate("refundActivity", REFUND, variables)

    assert payload["errors"] == []
    assert (payload["posting"]["points"], payload["member"]["pointsBalance"]) == (-100, 0)
    assert await _verified(core)
