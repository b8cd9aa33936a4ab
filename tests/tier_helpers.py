"""Helpers for tests of the tier ladder: the seeded ladder as drafts, and restoring it on the shared PostgreSQL database.

The PostgreSQL test database is shared by the session and its ``tier`` table is not truncated
between tests (see ``MUTABLE_TABLES``): a test that changes the ladder requests
:func:`restore_ladder`, which puts the migrated ladder back after the test. SQLite tests have a
database of their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.tier_config import TierDraft
from tests.conftest import MUTABLE_TABLES, Backend, _asyncpg_dsn

SEEDED = (
    TierDraft("member", "Member", 0, 0, "1"),
    TierDraft("silver", "Silver", 1, 2000, "1.2"),
    TierDraft("gold", "Gold", 2, 6000, "1.5"),
    TierDraft("diamond", "Diamond", 3, 15000, "2"),
)
"""The ladder migration 0001 seeds."""


def ladder_with(**changes: dict[str, object]) -> list[TierDraft]:
    """The seeded ladder with some tiers' fields changed, e.g. ``ladder_with(gold={"min_formats": 2})``."""
    drafts = []
    for draft in SEEDED:
        values = {**draft.__dict__, **changes.get(draft.code, {})}
        drafts.append(TierDraft(**values))  # type: ignore[arg-type]
    return drafts


@pytest.fixture
async def restore_ladder(backend: Backend) -> AsyncIterator[None]:
    """Put the seeded ladder back after the test (PostgreSQL; SQLite databases are per test)."""
    yield
    if not backend.is_postgres:
        return
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(backend.url), timeout=10)
    try:
        async with conn.transaction():
            await conn.execute(f"TRUNCATE {', '.join(MUTABLE_TABLES)} RESTART IDENTITY CASCADE")
            await conn.execute("DELETE FROM tier")
            await conn.executemany(
                "INSERT INTO tier (code, name, rank, threshold, multiplier) VALUES ($1, $2, $3, $4, $5::numeric)",
                [(d.code, d.name, d.rank, d.threshold, d.multiplier) for d in SEEDED],
            )
    finally:
        await conn.close()
