"""Deny by default: each role reaches only what it owns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import jwt

from gateway.auth import Role, mint_token
from gateway.settings import Settings
from tests.http.graphql import (
    DASHBOARD,
    ENROL,
    LOOKUP,
    PHONE,
    REDEEM,
    RETAIL_PURCHASE,
    Caller,
    caller,
    purchase,
)

OTHER_PHONE = {"kind": "PHONE", "value": "139 0013 9000"}


async def test_a_request_without_a_token_is_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    body = await Caller(client, None).raw("{ rewards { id } }")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_enrol_without_a_token_writes_nothing(client: httpx.AsyncClient, settings: Settings) -> None:
    payload = (await Caller(client, None).data(ENROL, {"identity": PHONE}))["enrol"]
    assert payload["errors"][0]["code"] == "UNAUTHENTICATED"
    admin = caller(client, settings, "admin")
    assert (await admin.data(LOOKUP, {"identity": PHONE}))["member"] is None


async def test_a_token_signed_with_another_secret_is_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    forged = mint_token(settings.model_copy(update={"jwt_secret": "not-the-secret-at-all-0123456789abcdef"}), role=Role.ADMIN)
    body = await Caller(client, forged).raw("{ rewards { id } }")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_expired_token_is_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    expired = mint_token(settings, role=Role.ADMIN, now=datetime.now(UTC) - timedelta(days=2), ttl=timedelta(days=1))
    body = await Caller(client, expired).raw("{ rewards { id } }")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_unsigned_token_is_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    unsigned = jwt.encode(
        {"sub": "admin", "role": "admin", "iss": settings.jwt_issuer, "aud": settings.jwt_audience, "iat": 0, "exp": 2**31},
        key=None,
        algorithm="none",
    )
    body = await Caller(client, unsigned).raw("{ rewards { id } }")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_member_sees_only_itself(client: httpx.AsyncClient, settings: Settings) -> None:
    retail = caller(client, settings, "service", format="retail")
    mine = (await retail.mutate("enrol", ENROL, {"identity": PHONE}))["member"]
    other = (await retail.mutate("enrol", ENROL, {"identity": OTHER_PHONE}))["member"]
    member = caller(client, settings, "member", member_id=mine["number"])

    assert (await member.data(DASHBOARD))["me"]["id"] == mine["id"]
    assert (await member.data("query($id: ID!) { node(id: $id) { id } }", {"id": other["id"]}))["node"] is None
    lookup = await member.raw(LOOKUP, {"identity": OTHER_PHONE})
    assert lookup["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_member_cannot_redeem_someone_elses_points(client: httpx.AsyncClient, settings: Settings) -> None:
    retail = caller(client, settings, "service", format="retail")
    mine = (await retail.mutate("enrol", ENROL, {"identity": PHONE}))["member"]
    await retail.mutate("enrol", ENROL, {"identity": OTHER_PHONE})
    member = caller(client, settings, "member", member_id=mine["number"])

    payload = await member.mutate(
        "redeem",
        REDEEM,
        {"input": {"format": "dining", "reward": "dessert_voucher", "idempotencyKey": "X", "member": {"identity": OTHER_PHONE}}},
    )
    assert payload["errors"][0]["code"] == "FORBIDDEN"


async def test_a_member_cannot_record_activity(client: httpx.AsyncClient, settings: Settings) -> None:
    retail = caller(client, settings, "service", format="retail")
    mine = (await retail.mutate("enrol", ENROL, {"identity": PHONE}))["member"]
    member = caller(client, settings, "member", member_id=mine["number"])

    payload = await member.mutate(
        "recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": PHONE}, "key": "K", "input": purchase(("A", "grocery", 1, "9.00"))}
    )
    assert payload["errors"][0]["code"] == "FORBIDDEN"
    assert (await member.data(DASHBOARD))["me"]["pointsBalance"] == 0


async def test_a_service_account_acts_only_in_its_format(client: httpx.AsyncClient, settings: Settings) -> None:
    dining = caller(client, settings, "service", format="dining")
    await dining.mutate("enrol", ENROL, {"identity": PHONE})

    purchase_payload = await dining.mutate(
        "recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": PHONE}, "key": "K", "input": purchase(("A", "grocery", 1, "9.00"))}
    )
    redeem_payload = await dining.mutate(
        "redeem", REDEEM, {"input": {"format": "retail", "reward": "voucher_10", "idempotencyKey": "X", "member": {"identity": PHONE}}}
    )
    foreign_id = await dining.mutate(
        "enrol", ENROL, {"identity": {"kind": "CUSTOMER_ID", "format": "property", "value": "P-1"}}
    )

    assert purchase_payload["errors"][0]["code"] == "FORBIDDEN"
    assert redeem_payload["errors"][0]["code"] == "FORBIDDEN"
    assert foreign_id["errors"][0]["code"] == "FORBIDDEN"
