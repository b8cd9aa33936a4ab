"""A member's history, newest first, paged by posting id (keyset: cheap at any depth).

A member's history includes the postings of every member merged into it: postings are never
edited, so a merge leaves them on the merged-away member and this query gathers them by
``member.merged_into_id`` (which a merge keeps pointing at the final survivor).
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Integer, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.ledger.postings import POSTING_COLUMNS, PostingResult, posting_from_row
from gateway.persistence.models import member_table, posting_table

MAX_PAGE = 100


@functools.cache
def _page_query(keyset: bool) -> Any:
    """The statement of :func:`history_page`, built once per shape: ``member_id``, ``before_id`` and ``limit`` are bound per call."""
    member_id = bindparam("member_id", type_=member_table.c.id.type)
    owners = select(member_table.c.id).where((member_table.c.id == member_id) | (member_table.c.merged_into_id == member_id))
    query = select(*POSTING_COLUMNS).where(posting_table.c.member_id.in_(owners))
    if keyset:
        query = query.where(posting_table.c.id < bindparam("before_id", type_=posting_table.c.id.type))
    return query.order_by(posting_table.c.id.desc()).limit(bindparam("limit", type_=Integer()))


async def history_page(
    conn: AsyncConnection, member_id: int, *, first: int, before_id: int | None = None
) -> tuple[list[PostingResult], bool]:
    """Up to ``first`` postings older than ``before_id``, and whether more follow. One query."""
    params = {"member_id": member_id, "before_id": before_id, "limit": first + 1}
    rows = (await conn.execute(_page_query(before_id is not None), params)).all()
    return [posting_from_row(row) for row in rows[:first]], len(rows) > first
