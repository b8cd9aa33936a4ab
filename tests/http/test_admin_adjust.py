"""Over HTTP: an admin adjusts a member's points with a reason; the member sees it in its history."""

from __future__ import annotations

import httpx

from gateway.settings import Settings
from tests.http.graphql import ENROL, PHONE, caller

ADJUST = """
mutation Adjust($input: AdjustPointsInput!) {
  adjustPoints(input: $input) {
    posting { kind format points balanceAfter reason replayed }
    member { pointsBalance }
    errors { code field message }
  }
}"""

HISTORY = "{ me { history(first: 5) { edges { node { kind points reason } } } } }"


async def test_an_admin_credits_points_and_the_member_sees_the_adjustment_in_its_history(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    retail = caller(client, settings, "service", format="retail")
    admin = caller(client, settings, "admin")
    number = (await retail.mutate("enrol", ENROL, {"identity": PHONE}))["member"]["number"]
    adjustment = {"member": {"identity": PHONE}, "points": 300, "reason": "Sorry for the wait at the till", "idempotencyKey": "TICKET-42"}

    payload = await admin.mutate("adjustPoints", ADJUST, {"input": adjustment})
    replay = await admin.mutate("adjustPoints", ADJUST, {"input": adjustment})

    assert payload["errors"] == []
    assert payload["posting"] == {
        "kind": "ADJUST", "format": "group", "points": 300, "balanceAfter": 300,
        "reason": "Points adjustment: +300 pts — Sorry for the wait at the till", "replayed": False,
    }
    assert payload["member"] == {"pointsBalance": 300}
    assert replay["posting"]["replayed"] is True and replay["member"] == {"pointsBalance": 300}
    member = caller(client, settings, "member", member_id=number)
    history = (await member.data(HISTORY))["me"]["history"]["edges"]
    assert [edge["node"]["kind"] for edge in history] == ["ADJUST"]


async def test_a_service_token_cannot_adjust_points(client: httpx.AsyncClient, settings: Settings) -> None:
    retail = caller(client, settings, "service", format="retail")
    await retail.mutate("enrol", ENROL, {"identity": PHONE})

    payload = await retail.mutate(
        "adjustPoints", ADJUST, {"input": {"member": {"identity": PHONE}, "points": 300, "reason": "x", "idempotencyKey": "K-1"}}
    )

    assert payload["posting"] is None
    assert payload["errors"][0]["code"] == "FORBIDDEN"


async def test_a_debit_beyond_the_balance_is_a_typed_error(client: httpx.AsyncClient, settings: Settings) -> None:
    retail = caller(client, settings, "service", format="retail")
    admin = caller(client, settings, "admin")
    await retail.mutate("enrol", ENROL, {"identity": PHONE})

    payload = await admin.mutate(
        "adjustPoints", ADJUST, {"input": {"member": {"identity": PHONE}, "points": -1, "reason": "x", "idempotencyKey": "K-1"}}
    )

    assert payload["posting"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INSUFFICIENT_POINTS", None)]
