"""Over HTTP: only an admin token freezes or unfreezes a member, and a frozen member's till gets a typed error."""

from __future__ import annotations

import httpx
import pytest

from gateway.settings import Settings
from tests.http.graphql import ENROL, PHONE, REDEEM, RETAIL_PURCHASE, caller, purchase

FREEZE = """
mutation Freeze($member: MemberRefInput!, $reason: String!) {
  freezeMember(input: {member: $member, reason: $reason}) { member { number status } errors { code field message } }
}"""

UNFREEZE = """
mutation Unfreeze($member: MemberRefInput!, $reason: String!) {
  unfreezeMember(input: {member: $member, reason: $reason}) { member { number status } errors { code field message } }
}"""

STATUS = "query Status($identity: IdentityInput!) { member(identity: $identity) { status } }"


async def test_an_admin_freezes_a_member_and_its_purchases_are_refused_with_member_frozen(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    retail = caller(client, settings, "service", format="retail")
    admin = caller(client, settings, "admin")
    number = (await retail.mutate("enrol", ENROL, {"identity": PHONE}))["member"]["number"]

    frozen = await admin.mutate("freezeMember", FREEZE, {"member": {"identity": PHONE}, "reason": "card reported stolen"})
    assert frozen == {"member": {"number": number, "status": "FROZEN"}, "errors": []}

    refused = await retail.mutate(
        "recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": PHONE}, "key": "R-1", "input": purchase(("A", "grocery", 1, "10.00"))}
    )
    assert refused["posting"] is None
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("MEMBER_FROZEN", None)]

    thawed = await admin.mutate("unfreezeMember", UNFREEZE, {"member": {"identity": PHONE}, "reason": "card replaced"})
    assert thawed["member"]["status"] == "ACTIVE"


@pytest.mark.parametrize("role", ["service", "member"])
async def test_a_non_admin_token_cannot_freeze_a_member(client: httpx.AsyncClient, settings: Settings, role: str) -> None:
    retail = caller(client, settings, "service", format="retail")
    number = (await retail.mutate("enrol", ENROL, {"identity": PHONE}))["member"]["number"]
    who = caller(client, settings, role, member_id=number, format="retail" if role == "service" else None)

    payload = await who.mutate("freezeMember", FREEZE, {"member": {"identity": PHONE}, "reason": "because"})

    assert payload["member"] is None
    assert payload["errors"][0]["code"] == "FORBIDDEN"
    assert (await retail.data(STATUS, {"identity": PHONE}))["member"]["status"] == "ACTIVE"


async def test_freezing_without_a_reason_is_invalid_input(client: httpx.AsyncClient, settings: Settings) -> None:
    retail = caller(client, settings, "service", format="retail")
    admin = caller(client, settings, "admin")
    await retail.mutate("enrol", ENROL, {"identity": PHONE})

    payload = await admin.mutate("freezeMember", FREEZE, {"member": {"identity": PHONE}, "reason": " "})

    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_INPUT", "input.reason")]
    assert (await admin.data(STATUS, {"identity": PHONE}))["member"]["status"] == "ACTIVE"


async def test_a_redemption_refused_for_lack_of_points_is_refused_the_same_way_on_retry(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    retail = caller(client, settings, "service", format="retail")
    dining = caller(client, settings, "service", format="dining")
    await retail.mutate("enrol", ENROL, {"identity": PHONE})
    redemption = {"input": {"format": "dining", "reward": "dessert_voucher", "idempotencyKey": "RD-1", "member": {"identity": PHONE}}}
    first = await dining.mutate("redeem", REDEEM, redemption)
    assert first["errors"][0]["code"] == "INSUFFICIENT_POINTS"
    await retail.mutate(
        "recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": PHONE}, "key": "R-1", "input": purchase(("A", "grocery", 1, "900.00"))}
    )

    again = await dining.mutate("redeem", REDEEM, redemption)

    assert again == first
