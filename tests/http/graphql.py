"""Talking to the gateway over HTTP as a front end or a till would."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.auth import Role, mint_token
from gateway.settings import Settings


class Caller:
    """An HTTP client bound to one bearer token."""

    def __init__(self, client: httpx.AsyncClient, token: str | None) -> None:
        self.client = client
        self.token = token

    async def raw(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST a GraphQL request and return the decoded JSON body (data and errors)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of a request that must have no GraphQL errors."""
        body = await self.raw(query, variables)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def mutate(self, field: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The payload of mutation ``field`` (its ``errors`` are left for the test to check)."""
        return (await self.data(query, variables))[field]


def caller(client: httpx.AsyncClient, settings: Settings, role: str, *, member_id: int | None = None, format: str | None = None) -> Caller:
    """A caller with a freshly minted token for ``role``."""
    token = mint_token(settings, role=Role(role), member_id=member_id, format_code=format)
    return Caller(client, token)


ENROL = """
mutation Enrol($identity: IdentityInput!) {
  enrol(input: {identity: $identity}) { member { id number pointsBalance } errors { code field message } }
}"""

RETAIL_PURCHASE = """
mutation Purchase($member: MemberRefInput!, $key: String!, $input: RetailPurchaseInput!) {
  recordRetailPurchase(member: $member, idempotencyKey: $key, input: $input) {
    posting { id points growth balanceAfter reason replayed format lines { rule points reason } }
    member { pointsBalance growthValue }
    errors { code field message }
  }
}"""

LINK = """
mutation Link($member: MemberRefInput!, $identity: IdentityInput!) {
  linkIdentity(input: {member: $member, identity: $identity}) {
    member { id identities { kind format value } } errors { code field message }
  }
}"""

LOOKUP = """
query Lookup($identity: IdentityInput!) { member(identity: $identity) { id number pointsBalance } }"""

REDEEM = """
mutation Redeem($input: RedeemInput!) {
  redeem(input: $input) {
    posting { id points balanceAfter reason details replayed }
    member { pointsBalance }
    errors { code field message }
  }
}"""

DASHBOARD = """
query Dashboard {
  me {
    id number pointsBalance growthValue
    tier { code name multiplier }
    tierProgress { next { code } growthToNext }
    benefits { unlocked unlockedBy { code } benefit { id name format { code } } }
    lots { format points remaining expiresAt }
    history(first: 10) {
      edges { cursor node { id kind format points reason occurredAt activity { summary } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""

PHONE = {"kind": "PHONE", "value": "138 0013 8000"}


def purchase(*items: tuple[str, str, int, str], store: str = "SH-001") -> dict[str, Any]:
    """Variables for a RetailPurchaseInput with ``(sku, category, quantity, unitPrice)`` items."""
    return {
        "storeCode": store,
        "currency": "CNY",
        "items": [{"sku": s, "category": c, "quantity": q, "unitPrice": p} for s, c, q, p in items],
    }
