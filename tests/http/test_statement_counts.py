"""No N+1: the member dashboard and one earn issue a fixed number of SQL statements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from gateway.app import create_app
from gateway.campaigns.model import LimitPeriod
from gateway.campaigns.store import campaign_configs
from gateway.core import Core, build_host, open_core
from gateway.plugin_settings import current_settings
from gateway.settings import Settings
from gateway.tiers import current_ladder
from tests.campaign_helpers import add_campaign
from tests.conftest import Backend, statements_of
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


async def earn(retail: Caller, key: str, price: str = "10.00", purchased_at: datetime | None = None) -> None:
    receipt = purchase(("A", "grocery", 1, price))
    if purchased_at is not None:
        receipt["purchasedAt"] = purchased_at.isoformat()
    payload = await retail.mutate("recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": PHONE}, "key": key, "input": receipt})
    assert payload["errors"] == []


def earn_statements(backend: Backend) -> int:
    """What one earn without campaigns and with no upgrade in reach costs: lock the member, look the key
    up, posting, entries, lots, member update, member read for the payload. On SQLite the key is read
    in the locking statement (``BEGIN IMMEDIATE`` already holds the database; on PostgreSQL a statement
    that waits for a row lock reads an older snapshot, so the key is read after it)."""
    return 7 if backend.is_postgres else 6


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
    await dashboard_statements(core, member)  # warms the configuration cache (shared benefits)
    with_short_history = await dashboard_statements(core, member)

    for n in range(1, 30):
        await earn(retail, f"R-{n}")
    with_long_history = await dashboard_statements(core, member)

    bigger = await open_core(settings, build_host(settings, [("cinema", CinemaPlugin())]))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(bigger)), base_url="http://test") as other:
            await dashboard_statements(bigger, caller(other, settings, "member", member_id=number))
            with_more_plugins = await dashboard_statements(bigger, caller(other, settings, "member", member_id=number))
    finally:
        await bigger.close()

    print(f"dashboard statements: {with_short_history}, {with_long_history}, {with_more_plugins}")
    # member, benefit usage (one DataLoader batch), tier standing (one aggregate for tierProgress), lots, history:
    # the benefit catalogue and the tier ladder come from the warm cache
    assert with_short_history == with_long_history == with_more_plugins == 5


async def test_one_earn_issues_the_same_statements_whatever_the_history_or_plugins(
    client: httpx.AsyncClient, settings: Settings, core: Core, backend: Backend
) -> None:
    retail = caller(client, settings, "service", format="retail")
    await retail.mutate("enrol", ENROL, {"identity": PHONE})
    await campaign_configs(core)  # a running gateway has the campaigns in its configuration cache (none here)
    await current_settings(core, "retail")  # ... and each format's plugin settings
    with statements_of(core) as first:
        await earn(retail, "R-0")
    for n in range(1, 30):
        await earn(retail, f"R-{n}")
    with statements_of(core) as later:
        await earn(retail, "R-30")

    bigger = await open_core(settings, build_host(settings, [("cinema", CinemaPlugin())]))
    try:
        await current_ladder(bigger)  # a running gateway has the ladder in its configuration cache
        await campaign_configs(bigger)
        await current_settings(bigger, "retail")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(bigger)), base_url="http://test") as other:
            with statements_of(bigger) as more_plugins:
                await earn(caller(other, settings, "service", format="retail"), "R-31")
    finally:
        await bigger.close()

    print(f"earn statements: {len(first)}, {len(later)}, {len(more_plugins)}")
    # earn_statements(): no window aggregate, since 31 earns of 10 growth leave every higher tier out of
    # reach; the ladder comes from the warm cache
    assert len(first) == len(later) == len(more_plugins) == earn_statements(backend)


async def test_an_earn_with_an_upgrade_in_reach_adds_one_window_aggregate(
    client: httpx.AsyncClient, settings: Settings, core: Core, backend: Backend
) -> None:
    retail = caller(client, settings, "service", format="retail")
    await retail.mutate("enrol", ENROL, {"identity": PHONE})
    await campaign_configs(core)
    await current_settings(core, "retail")
    # Growth value 2500 (Silver needs 2000), all of it from a sale older than the 12-month window.
    await earn(retail, "R-old", price="2500.00", purchased_at=datetime.now(UTC) - timedelta(days=400))
    with statements_of(core) as log:
        await earn(retail, "R-1")

    print(f"earn statements with an upgrade in reach: {len(log)}")
    # The window's growth (10) stays below Silver's threshold: the aggregate is read, no upgrade is written.
    assert len(log) == earn_statements(backend) + 1
    assert sum("GROUP BY" in statement for statement in log.statements) == 1


async def test_campaigns_in_scope_add_a_fixed_number_of_statements_to_an_earn(
    client: httpx.AsyncClient, settings: Settings, core: Core, backend: Backend
) -> None:
    now = datetime.now(UTC)
    window = {"starts": now - timedelta(days=1), "ends": now + timedelta(days=1)}
    await add_campaign(core, "double", multiplier="2", budget=10_000, **window)
    await add_campaign(core, "checkin", cross=50, **window)
    await add_campaign(core, "bonus", fixed=5, limit=(100, LimitPeriod.MONTH), **window)
    retail = caller(client, settings, "service", format="retail")
    await retail.mutate("enrol", ENROL, {"identity": PHONE})
    await earn(retail, "R-0")  # warms the campaign cache
    with statements_of(core) as log:
        await earn(retail, "R-1")

    print(f"earn statements under three campaigns: {len(log)}")
    # Campaigns grow an earn from earn_statements() by a fixed 4, however many are in scope: the month's formats (only
    # because one campaign has a cross-format bonus), budgets and member usage in one locked read, one budget update
    # for all paying campaigns, one usage upsert (only because one has a per-member limit). None without campaigns.
    assert len(log) == earn_statements(backend) + 4
