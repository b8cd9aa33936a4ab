"""Outstanding liability at an instant: points the group still owes members, by issuer and expiry month.

Recomputed from the rows booked before the instant, not read from ``lot.remaining``, so the
liability at the end of a past period is what it was then: a lot created before the instant,
minus every draw on it booked before the instant (returns are negative draws), is what it held;
points drawn by a hold still open at the instant (placed before it, settled after it or not yet)
were reserved, not spent, and count as ``held``. A lot's points are ``pending`` when it became
available only after the instant. Aggregated in the database (three grouped queries, plus one
for the range of expiry dates when months are asked for).

The month of a lot is the month of its last valid instant in the group's time zone, as
:func:`gateway.ledger.expiry.expiring_by_month` counts it (a lot expiring at midnight on April 1
is owed "in March"). Lots past their date that the expiry job has not taken yet still count, in
their own (past) month.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import Select, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.persistence.models import (
    hold_table,
    lot_consumption_table,
    lot_table,
    posting_table,
)
from gateway.settings import Settings


@dataclass(frozen=True)
class LiabilityLine:
    """Points of ``issuer`` expiring in ``month`` (``YYYY-MM``; ``None`` when not split by month)."""

    issuer: str
    month: str | None
    available: int
    pending: int
    held: int

    @property
    def points(self) -> int:
        """Everything owed: available, pending and held."""
        return self.available + self.pending + self.held


def _month_start(moment: datetime, settings: Settings) -> datetime:
    local = moment.astimezone(settings.zone)
    return datetime(local.year, local.month, 1, tzinfo=settings.zone)


async def _month_of_expiry(conn: AsyncConnection, settings: Settings) -> Any:
    """A SQL expression giving each lot's expiry month label, from the range of expiry dates stored."""
    lowest, highest = (await conn.execute(select(func.min(lot_table.c.expires_at), func.max(lot_table.c.expires_at)))).one()
    if lowest is None:
        return literal("")
    month = _month_start(lowest - timedelta(microseconds=1), settings)
    last = _month_start(highest - timedelta(microseconds=1), settings)
    whens = []
    while month < last:
        following = month + relativedelta(months=1)
        whens.append((lot_table.c.expires_at <= following, literal(f"{month:%Y-%m}")))
        month = following
    label = literal(f"{last:%Y-%m}")
    return case(*whens, else_=label) if whens else label


async def _grouped(conn: AsyncConnection, inner: Select[Any]) -> dict[tuple[str, str, int], int]:
    """Sum ``points`` of ``inner`` (columns issuer, month, pending, points) by the other three."""
    sub = inner.subquery()
    rows = await conn.execute(
        select(sub.c.issuer, sub.c.month, sub.c.pending, func.sum(sub.c.points)).group_by(sub.c.issuer, sub.c.month, sub.c.pending)
    )
    return {(issuer, month, int(pending)): int(points) for issuer, month, pending, points in rows.all()}


async def liability_at(conn: AsyncConnection, settings: Settings, at: datetime, *, by_month: bool) -> list[LiabilityLine]:
    """What members were owed at ``at``, by issuer (and expiry month when ``by_month``), sorted."""
    p, lc, lot, hold = posting_table, lot_consumption_table, lot_table, hold_table
    month = (await _month_of_expiry(conn, settings)) if by_month else literal("")
    pending = case((lot.c.available_at > at, 1), else_=0)
    columns = (lot.c.format.label("issuer"), month.label("month"), pending.label("pending"))
    issued = await _grouped(
        conn,
        select(*columns, lot.c.points.label("points"))
        .select_from(lot.join(p, p.c.id == lot.c.posting_id))
        .where(p.c.created_at < at),
    )
    drawn = await _grouped(
        conn,
        select(*columns, lc.c.points.label("points"))
        .select_from(lc.join(p, p.c.id == lc.c.posting_id).join(lot, lot.c.id == lc.c.lot_id))
        .where(p.c.created_at < at),
    )
    placed, settled = p.alias("placed"), p.alias("settled")
    held = await _grouped(
        conn,
        select(*columns, lc.c.points.label("points"))
        .select_from(
            hold.join(placed, placed.c.id == hold.c.hold_posting_id)
            .outerjoin(settled, settled.c.id == hold.c.settle_posting_id)
            .join(lc, lc.c.posting_id == hold.c.hold_posting_id)
            .join(lot, lot.c.id == lc.c.lot_id)
        )
        .where((placed.c.created_at < at) & or_(settled.c.id.is_(None), settled.c.created_at >= at)),
    )
    lines: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"available": 0, "pending": 0, "held": 0})
    for (issuer, label, is_pending), points in issued.items():
        lines[(issuer, label)]["pending" if is_pending else "available"] += points
    for (issuer, label, is_pending), points in drawn.items():
        lines[(issuer, label)]["pending" if is_pending else "available"] -= points
    for (issuer, label, _), points in held.items():
        lines[(issuer, label)]["held"] += points
    return [
        LiabilityLine(issuer, label or None, **amounts)
        for (issuer, label), amounts in sorted(lines.items())
        if any(amounts.values())
    ]
