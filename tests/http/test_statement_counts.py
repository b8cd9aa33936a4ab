"""No N+1: the member dashboard and one earn issue a fixed number of SQL statements."""

from __future__ import annotations

import httpx

from gateway.app import create_app
from gateway.core import Core, build_host, open_core
from gateway.settings import Settings
from tests.conftest import statements_of
from tests.http.graphql import (
    DASHBOARD,
    ENROL,
    PHONE,
    RETAIL_PURCHASE,
    Caller,
    caller,
    purchase,
)
from tests.http.test_fourth_plugin import CinemaPlugin


async def earn(retail: Caller, key: str) -> None:
    payload = await retail.mutate(
        "recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": PHONE}, "key": key, "input": purchase(("A", "grocery", 1, "10.00"))}
    )
    assert payload["errors"] == []


async def dashboard_statements(core: Core, member: Caller) -> int:
    with statements_of(core) as statements:
        me = (await member.data(DASHBOARD))["me"]
    assert me["benefits"] and me["tier"]
    return len(statements)


async def test_dashboard_statements_stay_flat_as_history_and_plugins_grow(
    client: httpx.AsyncClient, settings: Settings, core: Core
) -> None:
    retail = caller(client, settings, "service", format="retail")
    number = (await retail.mutate("enrol", ENROL, {"identity": PHONE}))["member"]["number"]
    member = caller(client, settings, "member", member_id=number)
    await earn(retail, "R-0")
    with_short_history = await dashboard_statements(core, member)

    for n in range(1, 30):
        await earn(retail, f"R-{n}")
    with_long_history = await dashboard_statements(core, member)

    bigger = await open_core(settings, build_host(settings, [("cinema", CinemaPlugin())]))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(bigger)), base_url="http://test") as other:
            with_more_plugins = await dashboard_statements(bigger, caller(other, settings, "member", member_id=number))
    finally:
        await bigger.close()

    print(f"dashboard statements: {with_short_history}, {with_long_history}, {with_more_plugins}")
    assert with_short_history == with_long_history == with_more_plugins == 3


async def test_one_earn_issues_the_same_statements_whatever_the_history_or_plugins(
    client: httpx.AsyncClient, settings: Settings, core: Core
) -> None:
    retail = caller(client, settings, "service", format="retail")
    await retail.mutate("enrol", ENROL, {"identity": PHONE})
    with statements_of(core) as first:
        await earn(retail, "R-0")
    for n in range(1, 30):
        await earn(retail, f"R-{n}")
    with statements_of(core) as later:
        await earn(retail, "R-30")

    bigger = await open_core(settings, build_host(settings, [("cinema", CinemaPlugin())]))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(bigger)), base_url="http://test") as other:
            with statements_of(bigger) as more_plugins:
                await earn(caller(other, settings, "service", format="retail"), "R-31")
    finally:
        await bigger.close()

    print(f"earn statements: {len(first)}, {len(later)}, {len(more_plugins)}")
    assert len(first) == len(later) == len(more_plugins) == 7
