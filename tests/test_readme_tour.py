"""The README's tour works against the demo exactly as pasted: no doc drift for new users."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.core import build_host, open_core
from gateway.demo import demo_tokens, load_demo
from gateway.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"

ROLE_OF_OPERATION = {
    "Dashboard": "Member",
    "FindByPhone": "Retail",
    "Purchase": "Retail",
    "BadAmount": "Retail",
    "FindByDiningId": "Dining",
    "Dessert": "Dining",
    "Catalogue": "Admin",
    "Refund": "Retail",
    "Return": "Retail",
    "Hold": "Dining",
    "Capture": "Dining",
    "TierProgress": "Member",
    "TierPolicy": "Admin",
    "SharedBenefits": "Admin",
    "ChargingBenefit": "Admin",
    "BirthdayTreat": "Dining",
    "BenefitsWall": "Member",
    "Campaigns": "Admin",
    "SpringFestival": "Admin",
    "Preview": "Retail",
    "TransferPrice": "Admin",
    "Settlement": "Admin",
    "Forecast": "Member",
}
"""Which printed token each tour operation is pasted with (the README says so above each block)."""

EXPECTED_ERRORS = {"BadAmount": [("INVALID_AMOUNT", "input.items.0.unitPrice")]}


def tour_operations() -> list[tuple[str, str]]:
    """Every GraphQL operation of the README, in order, as ``(name, document)``."""
    operations = []
    for block in re.findall(r"```graphql\n(.*?)```", README.read_text(), re.S):
        for document in re.split(r"\n(?=(?:query|mutation) )", block.strip()):
            operations.append((re.match(r"(?:query|mutation) (\w+)", document).group(1), document))  # type: ignore[union-attr]
    return operations


def test_every_tour_operation_has_a_token_to_paste_it_with() -> None:
    assert [name for name, _ in tour_operations()] == list(ROLE_OF_OPERATION)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the demo runs on SQLite
async def test_the_tour_runs_against_the_demo_as_pasted(settings: Settings) -> None:
    await load_demo(settings, members=12, seed=7)
    tokens = {label.split()[0]: token for label, token in await demo_tokens(settings)}
    core = await open_core(settings, build_host(settings))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(core)), base_url="http://test") as client:
            for name, document in tour_operations():
                token = tokens[ROLE_OF_OPERATION[name]]
                response = await client.post("/graphql", json={"query": document}, headers={"Authorization": f"Bearer {token}"})
                body = response.json()
                assert not body.get("errors"), (name, body["errors"])
                payload_errors = [
                    (error["code"], error["field"])
                    for value in body["data"].values()
                    if isinstance(value, dict)
                    for error in value.get("errors") or []
                ]
                assert payload_errors == EXPECTED_ERRORS.get(name, []), (name, payload_errors)
    finally:
        await core.close()
