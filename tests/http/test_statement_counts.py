"""No N+1: the member dashboard and one earn issue a fixed number of SQL statements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from sqlalchemy import event

from gateway.app import create_app
from gateway.core import Core, build_host, open_core
from gateway.settings import Settings
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

IGNORED = ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SAVEPOINT", "RELEASE")


@contextmanager
def counting(core: Core) -> Iterator[list[str]]:
    """Collect the statements ``core`` sends to its database inside the block."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith(IGNORED):
            statements.append(statement)

    engines = [engine.sync_engine for engine in core.db.engines]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


async def earn(retail: Caller, key: str) -> None:
    payload = await retail.mutate(
        "recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": PHONE}, "key": key, "input": purchase(("A", "grocery", 1, "10.00"))}
    )
    assert payload["errors"] == []


async def dashboard_statements(core: Core, member: Caller) -> int:
    with counting(core) as statements:
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
    with counting(core) as first:
        await earn(retail, "R-0")
    for n in range(1, 30):
        await earn(retail, f"R-{n}")
    with counting(core) as later:
        await earn(retail, "R-30")

    bigger = await open_core(settings, build_host(settings, [("cinema", CinemaPlugin())]))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(bigger)), base_url="http://test") as other:
            with counting(bigger) as more_plugins:
                await earn(caller(other, settings, "service", format="retail"), "R-31")
    finally:
        await bigger.close()

    print(f"earn statements: {len(first)}, {len(later)}, {len(more_plugins)}")
    assert len(first) == len(later) == len(more_plugins) == 7
