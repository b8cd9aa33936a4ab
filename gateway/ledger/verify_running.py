"""Verify that every posting's ``balance_after`` is its member's wallet just after it.

A member's postings are written one at a time under the member's row lock, and each takes its id
inside that lock, so in id order they are the order the wallet moved in: a posting's
``balance_after`` must equal the sum of the member's ``member.wallet`` entries in its postings up
to and including it. Every ledger operation keeps this exactly: earn, release of pending points,
redeem, offset (points plus cash), cancel, refund (also into a debt under ``allow_negative``),
adjust, expire, hold, capture, void, lapse and merge each compute ``balance_after`` from the
locked balance plus the very wallet entries they insert. A posting computed from a balance read
without the lock (a lost update) breaks it even when the stored total stays right.

**Merges.** Postings are never moved: the merged-away record keeps its own postings and its
running wallet ends at what it held before the merge. The ``merge`` posting is the survivor's;
it debits the merged record's wallet and credits the survivor's. Counting, for each posting, only
the wallet entries of the posting's own member keeps both sides exact: the survivor's running
wallet includes the credit (the posting's ``balance_after`` is the combined balance), and the
debit, in a posting that is not the merged record's, leaves the merged record's running wallet
where its last own posting left it. Postings made after the merge are the survivor's.

The running sums are computed by the database (a window over each member's postings), so only
postings that disagree come back: one line per member, its first differing posting.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.ledger.discrepancy import Discrepancy
from gateway.persistence.models import WALLET, entry_table, posting_table


async def running_balance_discrepancies(conn: AsyncConnection) -> list[Discrepancy]:
    """Per member, the first posting whose ``balance_after`` is not the running sum of its wallet entries."""
    posting, entry = posting_table, entry_table
    moves = (
        select(
            posting.c.id,
            posting.c.member_id,
            posting.c.kind,
            posting.c.balance_after,
            func.coalesce(func.sum(entry.c.amount), 0).label("delta"),
        )
        .select_from(
            posting.outerjoin(
                entry,
                (entry.c.posting_id == posting.c.id) & (entry.c.account == WALLET) & (entry.c.member_id == posting.c.member_id),
            )
        )
        .group_by(posting.c.id, posting.c.member_id, posting.c.kind, posting.c.balance_after)
        .subquery("moves")
    )
    running = select(
        moves.c.id,
        moves.c.member_id,
        moves.c.kind,
        moves.c.balance_after,
        func.sum(moves.c.delta).over(partition_by=moves.c.member_id, order_by=moves.c.id).label("wallet"),
    ).subquery("running")
    differing = select(
        running,
        func.row_number().over(partition_by=running.c.member_id, order_by=running.c.id).label("nth"),
        func.count().over(partition_by=running.c.member_id).label("differing"),
    ).where(running.c.balance_after != running.c.wallet).subquery("differing")
    query = select(differing).where(differing.c.nth == 1).order_by(differing.c.member_id)
    found = []
    for row in (await conn.execute(query)).mappings():
        others = int(row["differing"]) - 1
        problem = (
            f"posting {row['id']} ({row['kind']}) says balance after {row['balance_after']}, but the wallet entries "
            f"up to it sum to {row['wallet']}"
        )
        if others:
            problem += f" ({others} later posting{'s' if others > 1 else ''} of the member differ too)"
        found.append(Discrepancy(problem, member_id=int(row["member_id"]), posting_id=int(row["id"])))
    return found
