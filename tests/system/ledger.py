"""Read-only checks on the ledger tables that hold in any committed state (see each query)."""

from __future__ import annotations

import asyncpg

RUNNING_BALANCE = """
WITH moves AS (
    SELECT p.id, p.member_id, p.kind, p.balance_after,
           COALESCE(SUM(e.amount) FILTER (WHERE e.account = 'member.wallet' AND e.member_id = p.member_id), 0) AS delta
    FROM posting p LEFT JOIN entry e ON e.posting_id = p.id
    GROUP BY p.id
), running AS (
    SELECT id, member_id, kind, balance_after, SUM(delta) OVER (PARTITION BY member_id ORDER BY id) AS wallet
    FROM moves
)
SELECT id, member_id, kind, balance_after, wallet FROM running WHERE balance_after <> wallet ORDER BY id LIMIT 5
"""
"""Postings whose ``balance_after`` is not the member's wallet just after them.

A member's postings are written one at a time under the member's row lock, and each takes its id
inside that lock, so in id order they are the order the wallet moved in: every posting's
``balance_after`` must equal the sum of the member's wallet entries up to and including it. A
posting computed from a balance read without the lock (a lost update) breaks this even when the
guarded balance update keeps the stored total right.
"""


async def running_balance_mismatches(conn: asyncpg.Connection) -> list[str]:
    """One line per posting (the first five) whose ``balance_after`` is not the running wallet."""
    return [
        f"posting {row['id']} ({row['kind']}) of member {row['member_id']} says balance after {row['balance_after']}, "
        f"but the wallet entries up to it sum to {row['wallet']}"
        for row in await conn.fetch(RUNNING_BALANCE)
    ]
