"""What ``atrium ledger verify`` reports, and how its checks read large tables a batch at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncConnection

BATCH = 1000
"""Rows a verify check reads per statement when it must look at postings one by one."""


@dataclass(frozen=True)
class Discrepancy:
    """One thing that does not add up; ``member_id`` or ``campaign`` names whom it concerns when known."""

    problem: str
    member_id: int | None = None
    posting_id: int | None = None
    lot_id: int | None = None
    campaign: str | None = None

    @property
    def subject(self) -> str:
        """Whom the problem is about, as the CLI prints it: ``member 12``, ``campaign launch`` or ``posting 9``."""
        if self.member_id is not None:
            return f"member {self.member_id}"
        if self.campaign is not None:
            return f"campaign {self.campaign}"
        if self.posting_id is not None:
            return f"posting {self.posting_id}"
        return f"lot {self.lot_id}" if self.lot_id is not None else "ledger"


async def keyset_batches(
    conn: AsyncConnection, query: Callable[[int], Select[Any]], *, key: Callable[[Any], int], size: int = BATCH
) -> AsyncIterator[list[Any]]:
    """Run ``query(after)`` (ordered by a unique key, limited to ``size`` rows) until it returns a short batch.

    Each batch starts after the last row's ``key``, so memory holds one batch whatever the table's
    size, and each statement is an index range scan (no growing ``OFFSET``).
    """
    after = 0
    while True:
        rows = (await conn.execute(query(after).limit(size))).all()
        if rows:
            yield rows
        if len(rows) < size:
            return
        after = key(rows[-1])
