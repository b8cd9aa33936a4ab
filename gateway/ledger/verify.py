"""Recompute the ledger from its entries and lots and report every difference, by member.

:func:`verify_ledger` runs every check; beside the balances here, it checks each posting's
``balance_after`` (:mod:`gateway.ledger.verify_running`), coupons against their redemptions and
cancellations (:mod:`gateway.ledger.verify_coupons`), and the benefit quota counters and campaign
budgets against the uses and award lines they count (:mod:`gateway.ledger.verify_counters`).

Every check lets the database aggregate and returns only what differs, or reads postings a batch
at a time, so memory does not grow with the ledger: a clean ledger of any size yields no rows.
"""

from __future__ import annotations

from sqlalchemy import Subquery, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.ledger.discrepancy import Discrepancy
from gateway.ledger.verify_counters import (
    benefit_counter_discrepancies,
    campaign_budget_discrepancies,
)
from gateway.ledger.verify_coupons import coupon_discrepancies
from gateway.ledger.verify_running import running_balance_discrepancies
from gateway.persistence.models import (
    HELD,
    PENDING,
    WALLET,
    entry_table,
    hold_table,
    lot_consumption_table,
    lot_table,
    member_table,
    posting_table,
)

__all__ = ["Discrepancy", "verify_ledger"]


async def verify_ledger(conn: AsyncConnection) -> list[Discrepancy]:
    """Check that postings balance and stored balances equal entries and what lots hold, then run
    the checks of postings, coupons and counters (see the module docstring).

    Both member accounts are checked: the wallet (``points_balance``, lots not pending) and the
    pending account (``pending_balance``, pending lots). Every lot must hold what it was issued
    minus what postings drew from it, and never less than zero.

    A wallet may be negative only for a member whose balance a refund left negative (under
    ``refund_policy = "allow_negative"``, :mod:`gateway.ledger.reverse`); lots then hold nothing
    available, since the debt is in no lot: available lots always hold ``max(balance, 0)``.
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
    balance, wallet_sum, available_sum = member_table.c.points_balance, func.coalesce(wallet.c.total, 0), func.coalesce(lots.c.available, 0)
    pending_balance, pending_sum, pending_lot_sum = (
        member_table.c.pending_balance,
        func.coalesce(pending.c.total, 0),
        func.coalesce(lots.c.pending, 0),
    )
    balances = (  # only members where something differs or is negative come back
        select(member_table.c.id, balance, wallet_sum, available_sum, pending_balance, pending_sum, pending_lot_sum)
        .select_from(
            member_table.outerjoin(wallet, wallet.c.member_id == member_table.c.id)
            .outerjoin(pending, pending.c.member_id == member_table.c.id)
            .outerjoin(lots, lots.c.member_id == member_table.c.id)
        )
        .where(
            or_(
                balance != wallet_sum,
                available_sum != case((balance > 0, balance), else_=0),
                balance < 0,
                pending_balance != pending_sum,
                pending_balance != pending_lot_sum,
                pending_balance < 0,
            )
        )
        .order_by(member_table.c.id)
    )
    indebted = await _members_a_refund_left_negative(conn)
    for member_id, stored, from_entries, in_lots, stored_pending, pending_entries, pending_lots in (
        await conn.execute(balances)
    ).all():
        if not (stored == from_entries and in_lots == max(stored, 0)):
            found.append(
                Discrepancy(
                    f"stored balance {stored}, entries say {from_entries}, lots hold {in_lots}", member_id=member_id
                )
            )
        if stored < 0 and member_id not in indebted:
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
    found.extend(await _merged_members_hold_nothing(conn))
    found.extend(await _held_points(conn))
    found.extend(await running_balance_discrepancies(conn))
    found.extend(await coupon_discrepancies(conn))
    found.extend(await benefit_counter_discrepancies(conn))
    found.extend(await campaign_budget_discrepancies(conn))
    return found


async def _merged_members_hold_nothing(conn: AsyncConnection) -> list[Discrepancy]:
    """A merged-away member keeps no points, pending or held points, nor growth value, and points
    at a survivor that is not itself merged (``gateway.merge`` moves everything and flattens chains)."""
    survivor = member_table.alias("survivor")
    merged = member_table.c.merged_into_id.is_not(None)
    query = (
        select(
            member_table.c.id,
            member_table.c.status,
            member_table.c.points_balance,
            member_table.c.pending_balance,
            member_table.c.held_balance,
            member_table.c.growth_value,
            member_table.c.merged_into_id,
            survivor.c.merged_into_id,
        )
        .select_from(member_table.outerjoin(survivor, survivor.c.id == member_table.c.merged_into_id))
        .where(
            (merged | (member_table.c.status == "merged"))
            & (
                (member_table.c.status != "merged")
                | ~merged
                | (member_table.c.points_balance != 0)
                | (member_table.c.pending_balance != 0)
                | (member_table.c.held_balance != 0)
                | (member_table.c.growth_value != 0)
                | survivor.c.merged_into_id.is_not(None)
            )
        )
    )
    return [
        Discrepancy(
            f"merged member (status {status}, merged into {into}) holds {points} pts, {pending} pending, {held} held, "
            f"{growth} growth value" + (f"; its survivor was merged into member {onward}" if onward else ""),
            member_id=member_id,
        )
        for member_id, status, points, pending, held, growth, into, onward in (await conn.execute(query)).all()
    ]


async def _members_a_refund_left_negative(conn: AsyncConnection) -> set[int]:
    """Members (or the survivors they were merged into) with a refund posting that left the balance negative.

    Only ``refund_policy = "allow_negative"`` lets a refund do that, so this is the policy as it
    stood when the debt was made: a later change of policy does not turn old debts into errors.
    """
    owner = func.coalesce(member_table.c.merged_into_id, member_table.c.id)
    query = (
        select(owner)
        .select_from(posting_table.join(member_table, member_table.c.id == posting_table.c.member_id))
        .where((posting_table.c.kind == "reverse") & (posting_table.c.balance_after < 0))
        .distinct()
    )
    return {int(member_id) for member_id in (await conn.execute(query)).scalars().all()}


async def _held_points(conn: AsyncConnection) -> list[Discrepancy]:
    """Points held at tills (``gateway.ledger.holds``): each member's stored ``held_balance`` equals
    its ``member.held`` entries and the points of its holds still ``held``, and every hold's posting
    drew exactly the hold's points from lots."""
    entries = (
        select(entry_table.c.member_id, func.sum(entry_table.c.amount).label("total"))
        .where(entry_table.c.account == HELD)
        .group_by(entry_table.c.member_id)
        .subquery()
    )
    active = (
        select(hold_table.c.member_id, func.sum(hold_table.c.points).label("total"))
        .where(hold_table.c.status == "held")
        .group_by(hold_table.c.member_id)
        .subquery()
    )
    from_entries, in_holds = func.coalesce(entries.c.total, 0), func.coalesce(active.c.total, 0)
    balances = (
        select(member_table.c.id, member_table.c.held_balance, from_entries, in_holds)
        .select_from(
            member_table.outerjoin(entries, entries.c.member_id == member_table.c.id).outerjoin(
                active, active.c.member_id == member_table.c.id
            )
        )
        .where(
            (member_table.c.held_balance != from_entries)
            | (member_table.c.held_balance != in_holds)
            | (member_table.c.held_balance < 0)
        )
    )
    found = [
        Discrepancy(f"stored held balance {stored}, held entries say {held}, active holds hold {holds}", member_id=member_id)
        for member_id, stored, held, holds in (await conn.execute(balances)).all()
    ]
    drawn = func.coalesce(func.sum(lot_consumption_table.c.points), 0)
    holds = (
        select(hold_table.c.id, hold_table.c.member_id, hold_table.c.points, drawn)
        .select_from(
            hold_table.outerjoin(lot_consumption_table, lot_consumption_table.c.posting_id == hold_table.c.hold_posting_id)
        )
        .group_by(hold_table.c.id, hold_table.c.member_id, hold_table.c.points)
        .having(drawn != hold_table.c.points)
    )
    found += [
        Discrepancy(f"hold {hold_id} of {points} pts drew {used} pts from lots", member_id=member_id)
        for hold_id, member_id, points, used in (await conn.execute(holds)).all()
    ]
    return found
