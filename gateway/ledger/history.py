"""A member's history, newest first, paged by posting id (keyset: cheap at any depth)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.ledger.postings import POSTING_COLUMNS, PostingResult, posting_from_row
from gateway.persistence.models import posting_table

MAX_PAGE = 100


async def history_page(
    conn: AsyncConnection, member_id: int, *, first: int, before_id: int | None = None
) -> tuple[list[PostingResult], bool]:
    """Up to ``first`` postings older than ``before_id``, and whether more follow. One query."""
    query = select(*POSTING_COLUMNS).where(posting_table.c.member_id == member_id)
    if before_id is not None:
        query = query.where(posting_table.c.id < before_id)
    rows = (await conn.execute(query.order_by(posting_table.c.id.desc()).limit(first + 1))).all()
    return [posting_from_row(row) for row in rows[:first]], len(rows) > first
