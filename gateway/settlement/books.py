"""Which days' books are closed, and the lock that orders closings and price changes.

Closing a period and changing a transfer price must not interleave: a price dated into a period
being closed would make its stored figures disagree with the prices on record. Both take
:func:`lock_books` in their write transaction: a transaction-scoped advisory lock on PostgreSQL;
on SQLite every write transaction is already serialised (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.persistence.settlement_tables import settlement_closing_table

BOOKS_LOCK = 0x5E771E
"""The advisory lock key of the settlement books (PostgreSQL)."""


async def lock_books(conn: AsyncConnection) -> None:
    """Hold the settlement books' lock until the caller's transaction ends."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": BOOKS_LOCK})


async def last_closed_day(conn: AsyncConnection) -> date | None:
    """The last day of the latest closed period, or ``None`` when no period is closed."""
    return await conn.scalar(select(func.max(settlement_closing_table.c.period_to)))


async def overlapping_closings(conn: AsyncConnection, first: date, last: date) -> list[tuple[date, date]]:
    """``(first, last)`` of every closed period sharing a day with ``first`` to ``last``, earliest first."""
    table = settlement_closing_table
    rows = await conn.execute(
        select(table.c.period_from, table.c.period_to)
        .where((table.c.period_from <= last) & (table.c.period_to >= first))
        .order_by(table.c.period_from)
    )
    return [(row.period_from, row.period_to) for row in rows.all()]
