"""Bad input gets a typed error (code, field, message) and writes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gateway.core import Core
from gateway.persistence.models import (
    entry_table,
    identity_table,
    lot_table,
    member_table,
    posting_table,
)
from gateway.settings import Settings
from tests.http.graphql import (
    ENROL,
    LINK,
    PHONE,
    REDEEM,
    RETAIL_PURCHASE,
    caller,
    purchase,
)


async def snapshot(core: Core) -> tuple[Any, ...]:
    """Row counts of every written table and the member balances."""
    async with core.db.read() as conn:
        counts = [await conn.scalar(select(func.count()).select_from(t)) for t in (member_table, identity_table, posting_table, entry_table, lot_table)]
        balances = (await conn.execute(select(member_table.c.points_balance, member_table.c.growth_value))).all()
    return (*counts, [tuple(b) for b in balances])


@pytest.mark.parametrize(
    ("unit_price", "code", "field"),
    [
        ("0", "INVALID_AMOUNT", "input.items"),
        ("-5.00", "INVALID_AMOUNT", "input.items.0.unitPrice"),
        ("12.345", "INVALID_AMOUNT", "input.items.0.unitPrice"),
        ("1e20", "INVALID_AMOUNT", "input"),
        ("NaN", "INVALID_AMOUNT", "input.items.0.unitPrice"),
    ],
    ids=["zero", "negative", "fractional-minor-unit", "absurdly-large", "not-a-number"],
)
async def test_a_bad_amount_is_a_typed_error_and_writes_nothing(
    client: httpx.AsyncClient, settings: Settings, core: Core, unit_price: str, code: str, field: str
) -> None:
    retail = caller(client, settings, "service", format="retail")
    await retail.mutate("enrol", ENROL, {"identity": PHONE})
    before = await snapshot(core)

    payload = await retail.mutate(
        "recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": PHONE}, "key": "K-1", "input": purchase(("A", "grocery", 1, unit_price))}
    )

    assert payload["posting"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)]
    assert payload["errors"][0]["message"]
    assert await snapshot(core) == before


async def test_a_foreign_currency_is_a_typed_error(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    retail = caller(client, settings, "service", format="retail")
    await retail.mutate("enrol", ENROL, {"identity": PHONE})
    before = await snapshot(core)
    receipt = purchase(("A", "grocery", 1, "10.00")) | {"currency": "USD"}

    payload = await retail.mutate("recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": PHONE}, "key": "K-1", "input": receipt})

    assert payload["errors"][0]["code"] == "UNSUPPORTED_CURRENCY"
    assert await snapshot(core) == before


@pytest.mark.parametrize(
    ("identity", "code", "field"),
    [
        ({"kind": "PHONE", "value": "12345"}, "INVALID_IDENTITY", "input.identity.value"),
        ({"kind": "PHONE", "value": "call me maybe"}, "INVALID_IDENTITY", "input.identity.value"),
        ({"kind": "EMAIL", "value": "not-an-email"}, "INVALID_IDENTITY", "input.identity.value"),
        ({"kind": "CUSTOMER_ID", "value": "C-1"}, "INVALID_IDENTITY", "input.identity.format"),
        ({"kind": "CUSTOMER_ID", "format": "karaoke", "value": "C-1"}, "UNKNOWN_FORMAT", "input.identity.format"),
        ({"kind": "CUSTOMER_ID", "format": "retail", "value": "has spaces"}, "INVALID_IDENTITY", "input.identity.value"),
        ({"kind": "PHONE", "format": "retail", "value": "13800138000"}, "INVALID_IDENTITY", "input.identity.format"),
    ],
    ids=["short-phone", "words-for-phone", "bad-email", "customer-id-without-format", "unknown-format", "bad-customer-id", "phone-with-format"],
)
async def test_a_malformed_identity_is_a_typed_error_and_enrols_nobody(
    client: httpx.AsyncClient, settings: Settings, core: Core, identity: dict[str, str], code: str, field: str
) -> None:
    admin = caller(client, settings, "admin")
    before = await snapshot(core)

    payload = await admin.mutate("enrol", ENROL, {"identity": identity})

    assert payload["member"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)]
    assert await snapshot(core) == before


async def test_an_unknown_reward_format_is_a_typed_error(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    admin = caller(client, settings, "admin")
    await admin.mutate("enrol", ENROL, {"identity": PHONE})
    before = await snapshot(core)

    payload = await admin.mutate(
        "redeem", REDEEM, {"input": {"format": "karaoke", "reward": "song", "idempotencyKey": "X", "member": {"identity": PHONE}}}
    )

    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("UNKNOWN_FORMAT", "input.format")]
    assert await snapshot(core) == before


async def test_an_identity_of_another_member_cannot_be_linked(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    admin = caller(client, settings, "admin")
    await admin.mutate("enrol", ENROL, {"identity": PHONE})
    await admin.mutate("enrol", ENROL, {"identity": {"kind": "EMAIL", "value": "li.wei@example.com"}})
    before = await snapshot(core)

    payload = await admin.mutate("linkIdentity", LINK, {"member": {"identity": PHONE}, "identity": {"kind": "EMAIL", "value": "Li.Wei@Example.com"}})

    assert [e["code"] for e in payload["errors"]] == ["IDENTITY_TAKEN"]
    assert await snapshot(core) == before


@pytest.mark.parametrize("key", ["", "has space", "x" * 129], ids=["empty", "space", "too-long"])
async def test_a_malformed_idempotency_key_is_a_typed_error(client: httpx.AsyncClient, settings: Settings, core: Core, key: str) -> None:
    retail = caller(client, settings, "service", format="retail")
    await retail.mutate("enrol", ENROL, {"identity": PHONE})
    before = await snapshot(core)

    payload = await retail.mutate("recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": PHONE}, "key": key, "input": purchase(("A", "grocery", 1, "10.00"))})

    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_IDEMPOTENCY_KEY", "idempotencyKey")]
    assert await snapshot(core) == before
