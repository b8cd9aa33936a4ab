"""Migrations: the models match what the migrations build, and 0002 upgrades and downgrades cleanly."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import gateway.persistence.tables  # noqa: F401  - registers every table on the metadata
from gateway.persistence.migrate import alembic_config
from tests.conftest import Backend


async def _run(url: str, function):  # type: ignore[no-untyped-def]
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(function)
    finally:
        await engine.dispose()


def _drift(sync: Connection) -> list[object]:
    context = MigrationContext.configure(sync, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


def _columns(sync: Connection, table: str) -> set[str]:
    return {column["name"] for column in inspect(sync).get_columns(table)}


def _tables(sync: Connection) -> set[str]:
    return set(inspect(sync).get_table_names())


async def _migrate(url: str, action: str, revision: str) -> None:
    function = command.upgrade if action == "upgrade" else command.downgrade
    await asyncio.to_thread(function, alembic_config(url), revision)


async def test_the_migrated_schema_matches_the_models(backend: Backend) -> None:
    assert await _run(backend.url, _drift) == []


async def test_0002_downgrades_to_0001_and_upgrades_again_keeping_members(backend: Backend) -> None:
    enrolled = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    try:
        await _migrate(backend.url, "downgrade", "0001")
        assert "pending_balance" not in await _run(backend.url, lambda c: _columns(c, "member"))
        assert not {"idempotency_failure", "audit_log"} & await _run(backend.url, _tables)
        await _run(
            backend.url,
            lambda c: c.execute(
                text(
                    "INSERT INTO member (id, status, tier_code, growth_value, points_balance, enrolled_at) "
                    "VALUES (7, 'active', 'member', 0, 0, :at)"
                ),
                {"at": enrolled},
            ),
        )
    finally:
        await _migrate(backend.url, "upgrade", "heads")

    pending = await _run(backend.url, lambda c: c.execute(text("SELECT pending_balance FROM member WHERE id = 7")).scalar())
    assert pending == 0
    assert {"idempotency_failure", "audit_log"} <= await _run(backend.url, _tables)
    assert {"pending"} <= await _run(backend.url, lambda c: _columns(c, "lot"))
    assert {"reverses_posting_id"} <= await _run(backend.url, lambda c: _columns(c, "posting"))
    assert await _run(backend.url, _drift) == []
