"""Recompute the ledger from its entries and lots and report every difference, by member."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Subquery, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.persistence.models import (
    PENDING,
    WALLET,
    entry_table,
    lot_consumption_table,
    lot_table,
    member_table,
)


@dataclass(frozen=True)
class Discrepancy:
    """One thing that does not add up; ``member_id`` is set when a member is concerned."""

    problem: str
    member_id: int | None = None
    posting_id: int | None = None
    lot_id: int | None = None


async def verify_ledger(conn: AsyncConnection) -> list[Discrepancy]:
    """Check that postings balance and stored balances equal entries and what lots hold.

    Both member accounts are checked: the wallet (``points_balance``, lots not pending) and the
    pending account (``pending_balance``, pending lots). Every lot must hold what it was issued
    minus what postings drew from it, and never less than zero.
    """
    found: list[Discrepancy] = []
    unbalanced = select(entry_table.c.posting_id, func.sum(entry_table.c.amount)).group_by(entry_table.c.posting_id).having(
        func.sum(entry_table.c.amount) != 0
    )
    for posting_id, total in (await conn.execute(unbalanced)).all():
        found.append(Discrepancy(f"posting entries sum to {total}, not 0", posting_id=posting_id))

    def account_totals(account: str) -> Subquery:
        return (
            select(entry_table.c.member_id, func.sum(entry_table.c.amount).label("total"))
            .where(entry_table.c.account == account)
            .group_by(entry_table.c.member_id)
            .subquery()
        )

    wallet, pending = account_totals(WALLET), account_totals(PENDING)
    lots = (
        select(
            lot_table.c.member_id,
            func.sum(case((lot_table.c.pending, 0), else_=lot_table.c.remaining)).label("available"),
            func.sum(case((lot_table.c.pending, lot_table.c.remaining), else_=0)).label("pending"),
        )
        .group_by(lot_table.c.member_id)
        .subquery()
    )
    balances = select(
        member_table.c.id,
        member_table.c.points_balance,
        func.coalesce(wallet.c.total, 0),
        func.coalesce(lots.c.available, 0),
        member_table.c.pending_balance,
        func.coalesce(pending.c.total, 0),
        func.coalesce(lots.c.pending, 0),
    ).select_from(
        member_table.outerjoin(wallet, wallet.c.member_id == member_table.c.id)
        .outerjoin(pending, pending.c.member_id == member_table.c.id)
        .outerjoin(lots, lots.c.member_id == member_table.c.id)
    )
    for member_id, stored, from_entries, in_lots, stored_pending, pending_entries, pending_lots in (
        await conn.execute(balances)
    ).all():
        if not stored == from_entries == in_lots:
            found.append(
                Discrepancy(
                    f"stored balance {stored}, entries say {from_entries}, lots hold {in_lots}", member_id=member_id
                )
            )
        if stored < 0:
            found.append(Discrepancy(f"negative balance {stored}", member_id=member_id))
        if not stored_pending == pending_entries == pending_lots:
            found.append(
                Discrepancy(
                    f"stored pending balance {stored_pending}, pending entries say {pending_entries}, "
                    f"pending lots hold {pending_lots}",
                    member_id=member_id,
                )
            )
        if stored_pending < 0:
            found.append(Discrepancy(f"negative pending balance {stored_pending}", member_id=member_id))

    consumed = (
        select(lot_consumption_table.c.lot_id, func.sum(lot_consumption_table.c.points).label("total"))
        .group_by(lot_consumption_table.c.lot_id)
        .subquery()
    )
    lot_rows = select(lot_table.c.id, lot_table.c.member_id, lot_table.c.points, lot_table.c.remaining, func.coalesce(consumed.c.total, 0)).select_from(
        lot_table.outerjoin(consumed, consumed.c.lot_id == lot_table.c.id)
    ).where((lot_table.c.remaining < 0) | (lot_table.c.points - func.coalesce(consumed.c.total, 0) != lot_table.c.remaining))
    for lot_id, member_id, points, remaining, used in (await conn.execute(lot_rows)).all():
        found.append(
            Discrepancy(f"lot of {points} pts has {remaining} left but {used} were drawn", member_id=member_id, lot_id=lot_id)
        )
    return found
