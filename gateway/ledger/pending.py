"""Pending points: earned, not yet spendable, and released exactly once without a scheduler.

An earn rule may make points available later (a retail return window). Those points go to a lot
flagged ``pending`` and to the member's ``member.pending`` account. Nothing wakes up when their
date comes: every write transaction for a member (earn, redeem, adjust, expire, holds) calls
:func:`release_matured` right after locking the member (through ``gateway.ledger.holds.catch_up``,
which also voids lapsed holds), and one ``release`` posting moves the
matured points from ``member.pending`` to ``member.wallet``. Reads never write: they add matured,
unreleased points to the balance they show (``gateway.members.get_members``).

Exactly once: writers of one member are serialised by the member lock and re-read the pending
lots under it, the lots' flags are cleared by an update guarded on ``pending``, and the release
posting's idempotency key names its first lot, which only one release can ever hold.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core import Core
from gateway.ledger.debt import repay_debt
from gateway.ledger.postings import insert_entries, insert_posting, request_hash
from gateway.members import MemberRow
from gateway.persistence.models import (
    GROUP_FORMAT,
    PENDING,
    WALLET,
    lot_table,
    member_table,
)

RELEASE_SCOPE = "release"


async def release_matured(core: Core, conn: AsyncConnection, member: MemberRow, *, now: datetime) -> MemberRow:
    """Release ``member``'s pending points whose date has come; returns the member as it is after.

    Call it with the member locked. Costs nothing when the member has no pending points, one
    query when none has matured, and one posting when some have.
    """
    if member.pending_balance <= 0:
        return member
    query = (
        select(lot_table.c.id, lot_table.c.format, lot_table.c.remaining, lot_table.c.available_at)
        .where(
            (lot_table.c.member_id == member.id)
            & lot_table.c.pending
            & (lot_table.c.available_at <= now)
            & (lot_table.c.remaining > 0)
        )
        .order_by(lot_table.c.id)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    lots = (await conn.execute(query)).all()
    if not lots:
        return member
    ids = [int(lot.id) for lot in lots]
    total = sum(int(lot.remaining) for lot in lots)
    by_format: dict[str, int] = {}
    for lot in lots:
        by_format[lot.format] = by_format.get(lot.format, 0) + int(lot.remaining)

    flipped = await conn.execute(
        update(lot_table).where(lot_table.c.id.in_(ids) & lot_table.c.pending).values(pending=False)
    )
    if flipped.rowcount != len(ids):
        raise RuntimeError(f"pending lots {ids} of member {member.id} were released concurrently")
    balance_after = member.points_balance + total
    formats = core.registry.formats
    values = {
        "member_id": member.id,
        "kind": "release",
        "format": next(iter(by_format)) if len(by_format) == 1 else GROUP_FORMAT,
        "idempotency_scope": RELEASE_SCOPE,
        "idempotency_key": f"{member.id}:{ids[0]}",
        "request_hash": request_hash({"lots": ids, "points": total}),
        "points": total,
        "growth": 0,
        "balance_after": balance_after,
        "tier_before": member.tier_code,
        "tier_after": member.tier_code,
        "reason": f"Pending points now available: +{total} pts",
        "lines": [
            {
                "rule": f"pending.{code}",
                "points": points,
                "growth": 0,
                "reason": f"{formats[code].name if code in formats else code} points out of their waiting period",
            }
            for code, points in by_format.items()
        ],
        "details": {"lots": ids},
        "occurred_at": max(lot.available_at for lot in lots),
        "created_at": now,
    }
    posting_id = await insert_posting(conn, values)
    await insert_entries(conn, posting_id, [(PENDING, member.id, -total), (WALLET, member.id, total)])
    moved = await conn.scalar(
        update(member_table)
        .where((member_table.c.id == member.id) & (member_table.c.pending_balance >= total))
        .values(
            points_balance=member_table.c.points_balance + total,
            pending_balance=member_table.c.pending_balance - total,
        )
        .returning(member_table.c.id)
    )
    if moved is None:
        raise RuntimeError(f"ledger inconsistency: member {member.id}'s pending lots hold more than its pending balance")
    await repay_debt(conn, member.id, posting_id, balance_before=member.points_balance, credited=total)
    return replace(member, points_balance=balance_after, pending_balance=member.pending_balance - total)
