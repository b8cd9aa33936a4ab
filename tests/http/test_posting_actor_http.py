"""Over HTTP: every posting records who wrote it, admins and tills can read it, members cannot."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select

from gateway.actor import current_actor
from gateway.auth import Role, mint_token
from gateway.core import Core
from gateway.persistence.models import idempotency_failure_table, posting_table
from gateway.settings import Settings
from tests.http.graphql import ENROL, PHONE, RETAIL_PURCHASE, Caller, caller, purchase

OTHER_PHONE = {"kind": "PHONE", "value": "139 0013 9000"}

POSTING = "posting { id kind points replayed actor }"

ADJUST = f"""
mutation Adjust($input: AdjustPointsInput!) {{ adjustPoints(input: $input) {{ {POSTING} errors {{ code }} }} }}"""

REDEEM = f"""
mutation Redeem($input: RedeemInput!) {{ redeem(input: $input) {{ {POSTING} errors {{ code }} }} }}"""

REFUND = f"""
mutation Refund($input: RefundActivityInput!) {{ refundActivity(input: $input) {{ {POSTING} errors {{ code }} }} }}"""

EARN = f"""
mutation Purchase($member: MemberRefInput!, $key: String!, $input: RetailPurchaseInput!) {{
  recordRetailPurchase(member: $member, idempotencyKey: $key, input: $input) {{ {POSTING} errors {{ code }} }}
}}"""

HISTORY = """
query History($identity: IdentityInput!) {
  member(identity: $identity) { history(first: 20) { edges { node { kind actor } } } }
}"""

MY_HISTORY = "{ me { history(first: 20) { edges { node { id kind actor } } } } }"

NODE = "query Node($id: ID!) { node(id: $id) { ... on Posting { kind actor } } }"


def as_subject(client: httpx.AsyncClient, settings: Settings, role: str, subject: str, *, format: str | None = None) -> Caller:
    """A caller whose token names ``subject`` (an admin's login, a till's id)."""
    return Caller(client, mint_token(settings, role=Role(role), format_code=format, subject=subject))


async def _enrolled_with_points(client: httpx.AsyncClient, settings: Settings, phone: dict[str, str] = PHONE) -> int:
    """A member enrolled at retail with 1200 points from receipt R-1 (written by the default retail till)."""
    retail = caller(client, settings, "service", format="retail")
    number = (await retail.mutate("enrol", ENROL, {"identity": phone}))["member"]["number"]
    earned = await retail.mutate(
        "recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": phone}, "key": f"R-1-{number}", "input": purchase(("SKU1", "grocery", 1, "1200.00"))}
    )
    assert earned["errors"] == []
    return int(number)


async def _actors(client: httpx.AsyncClient, settings: Settings, phone: dict[str, str] = PHONE) -> list[tuple[str, Any]]:
    """``(kind, actor)`` of the member's postings, oldest first, as an admin reads them."""
    admin = caller(client, settings, "admin")
    edges = (await admin.data(HISTORY, {"identity": phone}))["member"]["history"]["edges"]
    return [(edge["node"]["kind"], edge["node"]["actor"]) for edge in reversed(edges)]


async def test_a_tills_earn_records_its_service_account_and_subject(client: httpx.AsyncClient, settings: Settings) -> None:
    await _enrolled_with_points(client, settings)
    till = as_subject(client, settings, "service", "till-7", format="retail")

    payload = await till.mutate("recordRetailPurchase", EARN, {"member": {"identity": PHONE}, "key": "R-2", "input": purchase(("SKU1", "grocery", 1, "10.00"))})

    assert payload["posting"]["actor"] == "service:retail:till-7"
    assert await _actors(client, settings) == [("EARN", "service:retail"), ("EARN", "service:retail:till-7")]


async def test_an_admins_adjustment_redemption_and_refund_record_the_admin(client: httpx.AsyncClient, settings: Settings) -> None:
    number = await _enrolled_with_points(client, settings)
    alice = as_subject(client, settings, "admin", "alice")

    adjusted = await alice.mutate("adjustPoints", ADJUST, {"input": {"member": {"identity": PHONE}, "points": 50, "reason": "goodwill", "idempotencyKey": "ADJ-1"}})
    redeemed = await alice.mutate("redeem", REDEEM, {"input": {"format": "retail", "reward": "voucher_10", "idempotencyKey": "RD-1", "member": {"identity": PHONE}}})
    refunded = await alice.mutate(
        "refundActivity",
        REFUND,
        {"input": {"format": "retail", "original": f"R-1-{number}", "amount": {"amount": "100.00", "currency": "CNY"}, "idempotencyKey": "RF-1"}},
    )

    assert [p["errors"] for p in (adjusted, redeemed, refunded)] == [[], [], []]
    assert [p["posting"]["actor"] for p in (adjusted, redeemed, refunded)] == ["admin:alice"] * 3
    assert [actor for _, actor in await _actors(client, settings)] == ["service:retail", "admin:alice", "admin:alice", "admin:alice"]


async def test_a_members_own_redemption_records_the_member(client: httpx.AsyncClient, settings: Settings) -> None:
    number = await _enrolled_with_points(client, settings)
    member = caller(client, settings, "member", member_id=number)

    payload = await member.mutate("redeem", REDEEM, {"input": {"format": "retail", "reward": "voucher_10", "idempotencyKey": "RD-1"}})

    assert payload["errors"] == []
    assert await _actors(client, settings) == [("EARN", "service:retail"), ("REDEEM", f"member:{number}")]


async def test_a_replay_by_another_admin_keeps_the_first_writer(client: httpx.AsyncClient, settings: Settings) -> None:
    await _enrolled_with_points(client, settings)
    adjustment = {"input": {"member": {"identity": PHONE}, "points": 50, "reason": "goodwill", "idempotencyKey": "ADJ-1"}}

    first = await as_subject(client, settings, "admin", "alice").mutate("adjustPoints", ADJUST, adjustment)
    replay = await as_subject(client, settings, "admin", "bob").mutate("adjustPoints", ADJUST, adjustment)

    assert (first["posting"]["replayed"], first["posting"]["actor"]) == (False, "admin:alice")
    assert (replay["posting"]["replayed"], replay["posting"]["actor"]) == (True, "admin:alice")
    assert await _actors(client, settings) == [("EARN", "service:retail"), ("ADJUST", "admin:alice")]


async def test_a_member_sees_no_actor_even_on_its_own_postings(client: httpx.AsyncClient, settings: Settings) -> None:
    number = await _enrolled_with_points(client, settings)
    await as_subject(client, settings, "admin", "alice").mutate(
        "adjustPoints", ADJUST, {"input": {"member": {"identity": PHONE}, "points": 50, "reason": "goodwill", "idempotencyKey": "ADJ-1"}}
    )
    member = caller(client, settings, "member", member_id=number)

    edges = (await member.data(MY_HISTORY))["me"]["history"]["edges"]

    assert [(edge["node"]["kind"], edge["node"]["actor"]) for edge in edges] == [("ADJUST", None), ("EARN", None)]
    assert await _actors(client, settings) == [("EARN", "service:retail"), ("ADJUST", "admin:alice")]


async def test_a_member_token_cannot_read_another_members_posting_nor_its_actor(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await _enrolled_with_points(client, settings)
    other = await _enrolled_with_points(client, settings, OTHER_PHONE)
    mine = caller(client, settings, "member", member_id=owner)
    posting_id = (await mine.data(MY_HISTORY))["me"]["history"]["edges"][0]["node"]["id"]

    as_other = await caller(client, settings, "member", member_id=other).data(NODE, {"id": posting_id})
    as_owner = await mine.data(NODE, {"id": posting_id})
    as_admin = await caller(client, settings, "admin").data(NODE, {"id": posting_id})

    assert as_other == {"node": None}
    assert as_owner == {"node": {"kind": "EARN", "actor": None}}
    assert as_admin == {"node": {"kind": "EARN", "actor": "service:retail"}}


async def test_concurrent_requests_each_record_their_own_caller(client: httpx.AsyncClient, settings: Settings) -> None:
    await _enrolled_with_points(client, settings)
    await _enrolled_with_points(client, settings, OTHER_PHONE)
    tills = [as_subject(client, settings, "service", f"till-{n}", format="retail") for n in range(6)]

    payloads = await asyncio.gather(
        *(
            till.mutate("recordRetailPurchase", EARN, {"member": {"identity": (PHONE, OTHER_PHONE)[n % 2]}, "key": f"C-{n}", "input": purchase(("SKU1", "grocery", 1, "10.00"))})
            for n, till in enumerate(tills)
        )
    )

    assert [p["posting"]["actor"] for p in payloads] == [f"service:retail:till-{n}" for n in range(6)]
    assert current_actor() is None  # the requests ran in this task's context and left nothing behind


async def test_a_refused_request_remembers_who_made_it(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    await _enrolled_with_points(client, settings)
    till = as_subject(client, settings, "service", "pos-3", format="dining")

    payload = await till.mutate("redeem", REDEEM, {"input": {"format": "dining", "reward": "dessert_voucher", "quantity": 2, "idempotencyKey": "RD-9", "member": {"identity": PHONE}}})

    assert payload["errors"] == [{"code": "INSUFFICIENT_POINTS"}]
    async with core.db.read() as conn:
        failures = (await conn.execute(select(idempotency_failure_table.c.idempotency_key, idempotency_failure_table.c.actor))).all()
        postings = (await conn.execute(select(posting_table.c.kind, posting_table.c.actor))).all()
    assert [tuple(row) for row in failures] == [("RD-9", "service:dining:pos-3")]
    assert [tuple(row) for row in postings] == [("earn", "service:retail")]
