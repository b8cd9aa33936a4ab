"""Over HTTP: admins read and change a format's typed settings; the next earn follows them; nobody else may."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.settings import Settings
from tests.http.graphql import ENROL, PHONE, RETAIL_PURCHASE, Caller, caller, purchase

READ = """
query Read($format: String!) {
  pluginSettings(format: $format) { format description jsonSchema values defaults changed updatedAt updatedBy }
}"""

UPDATE = """
mutation Update($input: UpdatePluginSettingsInput!) {
  updatePluginSettings(input: $input) { settings { values changed updatedBy } errors { code field message } }
}"""

RESET = """
mutation Reset($input: ResetPluginSettingsInput!) {
  resetPluginSettings(input: $input) { settings { values changed } errors { code field message } }
}"""

CHANGES = """
query Changes { configChanges(entity: "plugin_settings") { actor entity key before after reason } }"""

RECEIPT = purchase(("RICE", "grocery", 1, "128.00"), ("WINE", "alcohol", 1, "88.00"), ("GIFT", "gift_card", 1, "100.00"))


async def _buy(retail: Caller, key: str) -> dict[str, Any]:
    payload = await retail.mutate("recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": PHONE}, "key": key, "input": RECEIPT})
    assert payload["errors"] == []
    return payload["posting"]


async def test_an_admin_reads_a_formats_schema_defaults_and_values(client: httpx.AsyncClient, settings: Settings) -> None:
    admin = caller(client, settings, "admin")

    read = (await admin.data(READ, {"format": "retail"}))["pluginSettings"]

    assert read["format"] == "retail"
    assert read["values"] == read["defaults"] == {
        "excluded_categories": ["gift_card", "tobacco"],
        "category_multipliers": {},
        "return_window_days": 0,
        "member_price_percent": 5,
        "points_offset_cap_percent": None,
    }
    assert read["changed"] == [] and read["updatedAt"] is None
    window = read["jsonSchema"]["properties"]["return_window_days"]
    assert (window["type"], window["minimum"], window["maximum"], window["default"]) == ("integer", 0, 90, 0)
    assert "return" in window["description"]


async def test_excluding_a_category_applies_to_the_next_purchase_and_is_audited(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    retail = caller(client, settings, "service", format="retail")
    admin = caller(client, settings, "admin")
    await retail.mutate("enrol", ENROL, {"identity": PHONE})
    before = await _buy(retail, "R-1")

    changed = await admin.mutate(
        "updatePluginSettings",
        UPDATE,
        {"input": {"format": "retail", "values": {"excluded_categories": ["gift_card", "tobacco", "alcohol"]}, "reason": "no points on alcohol"}},
    )
    after = await _buy(retail, "R-2")

    assert changed["errors"] == []
    assert changed["settings"]["values"]["excluded_categories"] == ["alcohol", "gift_card", "tobacco"]
    assert changed["settings"]["changed"] == ["excluded_categories"]
    # Member tier ×1: before, grocery 128 + alcohol 88 earn (the gift card never does); after, grocery alone.
    assert (before["points"], after["points"]) == (216, 128)
    assert after["balanceAfter"] == 216 + 128
    [change] = (await admin.data(CHANGES))["configChanges"]
    assert change == {
        "actor": change["actor"],
        "entity": "plugin_settings",
        "key": "retail",
        "before": {},
        "after": {"excluded_categories": ["alcohol", "gift_card", "tobacco"]},
        "reason": "no points on alcohol",
    }


async def test_an_invalid_value_lists_every_problem_and_writes_nothing(client: httpx.AsyncClient, settings: Settings) -> None:
    admin = caller(client, settings, "admin")

    refused = await admin.mutate(
        "updatePluginSettings",
        UPDATE,
        {"input": {"format": "retail", "values": {"return_window_days": 400, "colour": "red"}, "reason": "oops"}},
    )

    assert refused["settings"] is None
    assert sorted((e["code"], e["field"], e["message"]) for e in refused["errors"]) == [
        ("INVALID_CONFIG", "input.values.colour", "Extra inputs are not permitted"),
        ("INVALID_CONFIG", "input.values.return_window_days", "Input should be less than or equal to 90"),
    ]
    assert (await admin.data(READ, {"format": "retail"}))["pluginSettings"]["changed"] == []
    assert (await admin.data(CHANGES))["configChanges"] == []


async def test_reset_puts_fields_back_to_the_plugins_defaults(client: httpx.AsyncClient, settings: Settings) -> None:
    admin = caller(client, settings, "admin")
    await admin.mutate(
        "updatePluginSettings",
        UPDATE,
        {"input": {"format": "retail", "values": {"return_window_days": 7, "category_multipliers": {"fresh": 2}}, "reason": "promo"}},
    )

    reset = await admin.mutate("resetPluginSettings", RESET, {"input": {"format": "retail", "fields": ["category_multipliers"], "reason": "promo over"}})
    unknown = await admin.mutate("resetPluginSettings", RESET, {"input": {"format": "retail", "fields": ["colour"], "reason": "typo"}})

    assert reset["errors"] == [] and reset["settings"]["changed"] == ["return_window_days"]
    assert reset["settings"]["values"]["category_multipliers"] == {}
    assert [(e["code"], e["field"]) for e in unknown["errors"]] == [("INVALID_CONFIG", "input.fields.0")]


async def test_an_unknown_format_is_plugin_not_found(client: httpx.AsyncClient, settings: Settings) -> None:
    admin = caller(client, settings, "admin")

    body = await admin.raw(READ, {"format": "cinema"})
    update = await admin.mutate("updatePluginSettings", UPDATE, {"input": {"format": "cinema", "values": {}, "reason": "r"}})

    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "PLUGIN_NOT_FOUND"
    assert [(e["code"], e["field"]) for e in update["errors"]] == [("PLUGIN_NOT_FOUND", "input.format")]


@pytest.mark.parametrize("role", ["member", "service"])
async def test_only_admins_read_or_change_plugin_settings(client: httpx.AsyncClient, settings: Settings, role: str) -> None:
    retail = caller(client, settings, "service", format="retail")
    number = (await retail.mutate("enrol", ENROL, {"identity": PHONE}))["member"]["number"]
    who = caller(client, settings, role, member_id=number, format="retail" if role == "service" else None)

    read = await who.raw(READ, {"format": "retail"})
    update = await who.mutate(
        "updatePluginSettings", UPDATE, {"input": {"format": "retail", "values": {"return_window_days": 7}, "reason": "r"}}
    )
    reset = await who.mutate("resetPluginSettings", RESET, {"input": {"format": "retail", "reason": "r"}})

    assert read["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert [e["code"] for e in update["errors"]] == [e["code"] for e in reset["errors"]] == ["FORBIDDEN"]
    assert update["settings"] is None and reset["settings"] is None
    admin = caller(client, settings, "admin")
    assert (await admin.data(READ, {"format": "retail"}))["pluginSettings"]["changed"] == []
