"""Over HTTP: only an admin merges or erases members; the merged-away id and phone reach the survivor, an
erased member's phone finds no one and its till gets a typed error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.core import Core
from gateway.ledger.verify import verify_ledger
from gateway.settings import Settings
from tests.http.graphql import ENROL, LOOKUP, RETAIL_PURCHASE, Caller, caller, purchase

PHONE_A = {"kind": "PHONE", "value": "138 0013 8000"}
PHONE_B = {"kind": "PHONE", "value": "139 0013 9000"}

MERGE = """
mutation Merge($survivor: MemberRefInput!, $merged: MemberRefInput!, $reason: String!) {
  mergeMembers(input: {survivor: $survivor, merged: $merged, reason: $reason}) {
    member { id number status pointsBalance growthValue identities { kind value } }
    errors { code field message }
  }
}"""

ERASE = """
mutation Erase($member: MemberRefInput!, $reason: String!) {
  eraseMember(input: {member: $member, reason: $reason}) {
    member { id number status pointsBalance identities { kind value } }
    errors { code field message }
  }
}"""

NODE = "query($id: ID!) { node(id: $id) { id ... on Member { number pointsBalance } } }"

HISTORY = "{ me { number history(first: 10) { edges { node { id kind points reason } } } } }"

POSTING = "query($id: ID!) { node(id: $id) { id ... on Posting { kind points } } }"


@pytest.fixture(autouse=True)
async def ledger_verifies_after_each_test(core: Core) -> AsyncIterator[None]:
    """Whatever a test did, ``atrium ledger verify`` finds nothing wrong afterwards."""
    yield
    async with core.db.read() as conn:
        assert await verify_ledger(conn) == []


async def _member(retail: Caller, phone: dict[str, str], key: str, amount: str) -> dict[str, Any]:
    """Enrol a member by ``phone`` and record one purchase of ``amount``; returns its id and number."""
    enrolled = (await retail.mutate("enrol", ENROL, {"identity": phone}))["member"]
    bought = await retail.mutate(
        "recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": phone}, "key": key, "input": purchase(("A", "grocery", 1, amount))}
    )
    assert bought["errors"] == []
    return enrolled


async def _pair(client: httpx.AsyncClient, settings: Settings) -> tuple[Caller, Caller, dict[str, Any], dict[str, Any]]:
    retail = caller(client, settings, "service", format="retail")
    admin = caller(client, settings, "admin")
    a = await _member(retail, PHONE_A, "R-A", "300.00")
    b = await _member(retail, PHONE_B, "R-B", "500.00")
    return retail, admin, a, b


async def test_an_admin_merges_two_records_and_gets_the_survivor_with_both_identities_and_points(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    _, admin, a, _ = await _pair(client, settings)

    payload = await admin.mutate(
        "mergeMembers", MERGE, {"survivor": {"id": a["id"]}, "merged": {"identity": PHONE_B}, "reason": "same person"}
    )

    assert payload["errors"] == []
    assert {k: payload["member"][k] for k in ("id", "status", "pointsBalance", "growthValue")} == {
        "id": a["id"], "status": "ACTIVE", "pointsBalance": 800, "growthValue": 800
    }
    assert sorted(i["value"] for i in payload["member"]["identities"]) == ["+8613800138000", "+8613900139000"]


async def test_the_merged_away_global_id_and_phone_resolve_to_the_survivor(client: httpx.AsyncClient, settings: Settings) -> None:
    retail, admin, a, b = await _pair(client, settings)
    await admin.mutate("mergeMembers", MERGE, {"survivor": {"id": a["id"]}, "merged": {"id": b["id"]}, "reason": "same person"})

    node = (await admin.data(NODE, {"id": b["id"]}))["node"]
    found = (await retail.data(LOOKUP, {"identity": PHONE_B}))["member"]

    assert node == {"id": a["id"], "number": a["number"], "pointsBalance": 800}
    assert found == {"id": a["id"], "number": a["number"], "pointsBalance": 800}


async def test_the_survivors_history_shows_the_merge_and_the_merged_records_postings_to_the_member(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    _, admin, a, b = await _pair(client, settings)
    await admin.mutate("mergeMembers", MERGE, {"survivor": {"id": a["id"]}, "merged": {"id": b["id"]}, "reason": "same person"})
    member = caller(client, settings, "member", member_id=a["number"])

    edges = (await member.data(HISTORY))["me"]["history"]["edges"]
    merged_earn = edges[1]["node"]["id"]

    assert [(e["node"]["kind"], e["node"]["points"]) for e in edges] == [("MERGE", 500), ("EARN", 500), ("EARN", 300)]
    assert (await member.data(POSTING, {"id": merged_earn}))["node"] == {"id": merged_earn, "kind": "EARN", "points": 500}


async def test_merging_into_a_merged_away_member_is_member_merged(client: httpx.AsyncClient, settings: Settings) -> None:
    retail, admin, a, b = await _pair(client, settings)
    c = await _member(retail, {"kind": "PHONE", "value": "137 0013 7000"}, "R-C", "10.00")
    await admin.mutate("mergeMembers", MERGE, {"survivor": {"id": a["id"]}, "merged": {"id": b["id"]}, "reason": "same person"})

    payload = await admin.mutate("mergeMembers", MERGE, {"survivor": {"id": b["id"]}, "merged": {"id": c["id"]}, "reason": "dup"})

    assert payload["member"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("MEMBER_MERGED", "input.survivor")]


async def test_merging_again_returns_the_survivor_without_error(client: httpx.AsyncClient, settings: Settings) -> None:
    _, admin, a, b = await _pair(client, settings)
    variables = {"survivor": {"id": a["id"]}, "merged": {"id": b["id"]}, "reason": "same person"}
    first = await admin.mutate("mergeMembers", MERGE, variables)

    again = await admin.mutate("mergeMembers", MERGE, variables)

    assert again == first


async def test_merging_without_a_reason_is_invalid_input(client: httpx.AsyncClient, settings: Settings) -> None:
    retail, admin, a, b = await _pair(client, settings)

    payload = await admin.mutate("mergeMembers", MERGE, {"survivor": {"id": a["id"]}, "merged": {"id": b["id"]}, "reason": ""})

    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_INPUT", "input.reason")]
    assert (await retail.data(LOOKUP, {"identity": PHONE_B}))["member"]["id"] == b["id"]


@pytest.mark.parametrize("role", ["service", "member"])
async def test_a_non_admin_token_cannot_merge_members(client: httpx.AsyncClient, settings: Settings, role: str) -> None:
    retail, _, a, b = await _pair(client, settings)
    who = caller(client, settings, role, member_id=a["number"], format="retail" if role == "service" else None)

    payload = await who.mutate("mergeMembers", MERGE, {"survivor": {"id": a["id"]}, "merged": {"id": b["id"]}, "reason": "mine"})

    assert payload == {"member": None, "errors": [payload["errors"][0]]}
    assert payload["errors"][0]["code"] == "FORBIDDEN"
    assert (await retail.data(LOOKUP, {"identity": PHONE_B}))["member"]["id"] == b["id"]


async def test_an_admin_erases_a_member_whose_phone_then_finds_no_one_and_whose_till_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    retail, admin, a, _ = await _pair(client, settings)

    erased = await admin.mutate("eraseMember", ERASE, {"member": {"identity": PHONE_A}, "reason": "erasure request 12"})

    assert erased == {
        "member": {"id": a["id"], "number": a["number"], "status": "ERASED", "pointsBalance": 300, "identities": []},
        "errors": [],
    }
    assert (await retail.data(LOOKUP, {"identity": PHONE_A}))["member"] is None
    refused = await retail.mutate(
        "recordRetailPurchase", RETAIL_PURCHASE, {"member": {"id": a["id"]}, "key": "R-2", "input": purchase(("A", "grocery", 1, "10.00"))}
    )
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("MEMBER_ERASED", None)]


async def test_the_phone_of_an_erased_member_enrols_a_new_member(client: httpx.AsyncClient, settings: Settings) -> None:
    retail, admin, a, _ = await _pair(client, settings)
    await admin.mutate("eraseMember", ERASE, {"member": {"id": a["id"]}, "reason": "erasure request 12"})

    enrolled = await retail.mutate("enrol", ENROL, {"identity": PHONE_A})

    assert enrolled["errors"] == []
    assert enrolled["member"]["number"] != a["number"]
    assert enrolled["member"]["pointsBalance"] == 0


@pytest.mark.parametrize("role", ["service", "member"])
async def test_a_non_admin_token_cannot_erase_a_member(client: httpx.AsyncClient, settings: Settings, role: str) -> None:
    retail, _, a, _ = await _pair(client, settings)
    who = caller(client, settings, role, member_id=a["number"], format="retail" if role == "service" else None)

    payload = await who.mutate("eraseMember", ERASE, {"member": {"id": a["id"]}, "reason": "forget me"})

    assert payload["member"] is None
    assert payload["errors"][0]["code"] == "FORBIDDEN"
    assert (await retail.data(LOOKUP, {"identity": PHONE_A}))["member"]["id"] == a["id"]


async def test_merge_and_erasure_without_a_token_are_unauthenticated(client: httpx.AsyncClient, settings: Settings) -> None:
    _, _, a, b = await _pair(client, settings)
    anonymous = Caller(client, None)

    merged = await anonymous.mutate("mergeMembers", MERGE, {"survivor": {"id": a["id"]}, "merged": {"id": b["id"]}, "reason": "x"})
    erased = await anonymous.mutate("eraseMember", ERASE, {"member": {"id": a["id"]}, "reason": "x"})

    assert [e["code"] for e in merged["errors"] + erased["errors"]] == ["UNAUTHENTICATED", "UNAUTHENTICATED"]
