"""Clawbacks that are not drawn by the refund itself: reclaimed points and repaid refund debts.

Two kinds of posting draw on lots for a refund after the refund was booked:

- a posting that gives points back to lots (``cancel``, ``void``, ``capture``) and reclaims some
  for a refunded sale (:mod:`gateway.ledger.reclaim`): its ``details.reclaimed`` names the sale
  and the points; they are drawn from the sale's own lots, so the issuer claws back its own points;
- a posting that credits a member in debt (``earn``, ``release``, an ``adjust`` credit,
  ``merge``, and the returning kinds above) repays the debt a refund left under
  ``allow_negative`` (:mod:`gateway.ledger.debt`). The draw does not say which refund it repays:
  repayments are matched to the member's refund debts first-in first-out, by posting order, over
  the member and every record merged into it. A repayment with no debt left to match (which the
  ledger should never write) is attributed to ``group``.

Both are rare, so this module runs only when the period has such draws.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.persistence.models import (
    GROUP_FORMAT,
    lot_consumption_table,
    lot_table,
    member_table,
    posting_table,
)

RETURNING_KINDS = ("cancel", "void", "capture")
"""Postings that give points back to lots; their positive draws are reclaims or debt repayments."""

CREDIT_KINDS = ("earn", "release", "adjust", "merge")
"""Postings that credit the wallet; their draws are debt repayments (an ``adjust`` debit's are not)."""

Pair = tuple[str, str]


@dataclass(frozen=True)
class Repayment:
    """Points of ``issuer`` drawn by ``posting_id`` to repay a refund debt of member group ``owner``."""

    owner: int
    posting_id: int
    booked_at: datetime
    issuer: str
    points: int


def _owner() -> Any:
    return func.coalesce(member_table.c.merged_into_id, member_table.c.id)


async def _draws(conn: AsyncConnection, where: Any) -> tuple[list[Repayment], dict[Pair, int]]:
    """Positive draws of returning and crediting postings matching ``where``: debt repayments, and reclaims by pair."""
    p, lc, lot, m = posting_table, lot_consumption_table, lot_table, member_table
    rows = (
        await conn.execute(
            select(
                p.c.id,
                p.c.kind,
                p.c.created_at,
                p.c.details,
                _owner().label("owner"),
                lot.c.format.label("issuer"),
                lot.c.posting_id.label("activity_id"),
                lc.c.points,
            )
            .select_from(
                lc.join(p, p.c.id == lc.c.posting_id).join(lot, lot.c.id == lc.c.lot_id).join(m, m.c.id == p.c.member_id)
            )
            .where(
                where
                & (lc.c.points > 0)
                & (p.c.kind.in_(RETURNING_KINDS) | (p.c.kind.in_(CREDIT_KINDS) & ((p.c.kind != "adjust") | (p.c.points > 0))))
            )
            .order_by(p.c.id, lc.c.id)
        )
    ).all()
    repayments: list[Repayment] = []
    reclaimed: dict[Pair, int] = defaultdict(int)
    owed: dict[int, dict[int, int]] = {}
    for row in rows:
        points = int(row.points)
        if row.kind in RETURNING_KINDS:
            if row.id not in owed:
                owed[row.id] = defaultdict(int)
                for item in (row.details or {}).get("reclaimed", []):
                    owed[row.id][int(item["originalPostingId"])] += int(item["points"])
            take = min(points, owed[row.id].get(int(row.activity_id), 0))
            if take:
                owed[row.id][int(row.activity_id)] -= take
                reclaimed[(row.issuer, row.issuer)] += take
                points -= take
        if points:
            repayments.append(Repayment(int(row.owner), int(row.id), row.created_at, row.issuer, points))
    return repayments, reclaimed


async def _refund_debts(conn: AsyncConnection, owners: set[int], end: datetime) -> list[tuple[int, int, str, int]]:
    """``(owner, posting id, refunded format, debt)`` of every refund before ``end`` that left a debt."""
    p, m = posting_table, member_table
    rows = (
        await conn.execute(
            select(_owner().label("owner"), p.c.id, p.c.format, p.c.details)
            .select_from(p.join(m, m.c.id == p.c.member_id))
            .where((p.c.kind == "reverse") & (p.c.created_at < end) & _owner().in_(sorted(owners)))
            .order_by(p.c.id)
        )
    ).all()
    debts = [(int(row.owner), int(row.id), row.format, int((row.details or {}).get("debt", 0))) for row in rows]
    return [debt for debt in debts if debt[3] > 0]


async def clawbacks_outside_refunds(conn: AsyncConnection, start: datetime, end: datetime) -> dict[Pair, int]:
    """Points clawed back in ``[start, end)`` by reclaims and debt repayments, by (issuer, refunded format)."""
    booked = (posting_table.c.created_at >= start) & (posting_table.c.created_at < end)
    in_period, clawed = await _draws(conn, booked)
    if not in_period:
        return dict(clawed)
    owners = {repayment.owner for repayment in in_period}
    history, _ = await _draws(conn, (posting_table.c.created_at < end) & _owner().in_(sorted(owners)))
    debts = await _refund_debts(conn, owners, end)
    events: dict[int, list[tuple[int, int, Any]]] = defaultdict(list)
    for owner, posting_id, fmt, debt in debts:
        events[owner].append((posting_id, 0, (fmt, debt)))
    for repayment in history:
        events[repayment.owner].append((repayment.posting_id, 1, repayment))
    for owner in owners:
        queue: deque[list[Any]] = deque()
        for _, order, item in sorted(events[owner], key=lambda event: (event[0], event[1])):
            if order == 0:
                queue.append(list(item))
                continue
            left = item.points
            while left:
                if not queue:
                    refunder, take = GROUP_FORMAT, left
                else:
                    refunder, take = queue[0][0], min(left, queue[0][1])
                    queue[0][1] -= take
                    if queue[0][1] == 0:
                        queue.popleft()
                left -= take
                if start <= item.booked_at < end:
                    clawed[(item.issuer, refunder)] += take
    return dict(clawed)
