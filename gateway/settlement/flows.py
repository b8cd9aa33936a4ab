"""The points that left members' lots in a period, by issuing format and by what took them.

Reads the ledger only (a handful of aggregate queries over the period's postings, by the
``ix_posting_created_at`` index); :mod:`gateway.settlement` explains each classification.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.persistence.models import (
    EXPIRY,
    entry_table,
    lot_consumption_table,
    lot_table,
    posting_table,
)
from gateway.settlement.repayments import (
    CREDIT_KINDS,
    RETURNING_KINDS,
    clawbacks_outside_refunds,
)

REDEEMING_KINDS = frozenset({"redeem", "offset"})
"""Postings whose draws are redemptions at the posting's format."""

Pair = tuple[str, str]


@dataclass
class Flows:
    """Points by issuer (and counterparty) in one period; every dict defaults to zero."""

    issued: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    redeemed: dict[Pair, int] = field(default_factory=lambda: defaultdict(int))
    clawed: dict[Pair, int] = field(default_factory=lambda: defaultdict(int))
    expired: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    adjusted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    other: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, other: Flows) -> None:
        """Add ``other``'s points to these (flows of adjacent ranges add up to the flows of their union)."""
        for mine, theirs in (
            (self.issued, other.issued),
            (self.redeemed, other.redeemed),
            (self.clawed, other.clawed),
            (self.expired, other.expired),
            (self.adjusted, other.adjusted),
            (self.other, other.other),
        ):
            for key, points in theirs.items():
                mine[key] += points  # type: ignore[index]

    def issuers(self) -> set[str]:
        """Every issuing format that appears."""
        pairs = {issuer for issuer, _ in [*self.redeemed, *self.clawed]}
        return pairs | set(self.issued) | set(self.expired) | set(self.adjusted) | set(self.other)


def _booked(start: datetime, end: datetime) -> Any:
    return (posting_table.c.created_at >= start) & (posting_table.c.created_at < end)


async def period_flows(conn: AsyncConnection, start: datetime, end: datetime) -> Flows:
    """Classify every draw on a lot booked in ``[start, end)`` (see :mod:`gateway.settlement`)."""
    flows = Flows()
    p, lc, lot = posting_table, lot_consumption_table, lot_table
    issued = await conn.execute(
        select(lot.c.format, func.sum(lot.c.points))
        .select_from(lot.join(p, p.c.id == lot.c.posting_id))
        .where(_booked(start, end))
        .group_by(lot.c.format)
    )
    for issuer, points in issued.all():
        flows.issued[issuer] += int(points)

    debit = (lc.c.points > 0) & (p.c.points < 0)
    credit = (lc.c.points > 0) & (p.c.points >= 0)
    draws = await conn.execute(
        select(
            p.c.kind,
            p.c.format,
            lot.c.format.label("issuer"),
            func.sum(case((debit, lc.c.points), else_=0)).label("taken_by_debit"),
            func.sum(case((credit, lc.c.points), else_=0)).label("taken_by_credit"),
            func.sum(case((lc.c.points < 0, lc.c.points), else_=0)).label("given_back"),
        )
        .select_from(lc.join(p, p.c.id == lc.c.posting_id).join(lot, lot.c.id == lc.c.lot_id))
        .where(_booked(start, end))
        .group_by(p.c.kind, p.c.format, lot.c.format)
    )
    restored: dict[Pair, int] = defaultdict(int)
    repayments = False
    for kind, fmt, issuer, by_debit, by_credit, back in draws.all():
        taken, by_debit, back = int(by_debit) + int(by_credit), int(by_debit), int(back)
        if kind in REDEEMING_KINDS:
            flows.redeemed[(issuer, fmt)] += taken + back
        elif kind == "expire":
            flows.expired[issuer] += taken + back
        elif kind == "reverse":
            flows.clawed[(issuer, fmt)] += taken + back
        elif kind == "adjust" and by_debit:
            flows.adjusted[issuer] += by_debit
            repayments = repayments or taken > by_debit
        elif kind == "cancel":
            restored[(issuer, fmt)] -= back
            repayments = repayments or taken > 0
        elif kind in RETURNING_KINDS or kind in CREDIT_KINDS:
            # Returned held points (negative rows) come back from member.held: hold bookkeeping.
            repayments = repayments or taken > 0
        elif kind != "hold":
            flows.other[issuer] += taken + back
    await _hold_settlements(conn, start, end, flows)
    await _cancellations(conn, start, end, flows, restored)
    await _refunds_from_expiry(conn, start, end, flows)
    if repayments:
        for pair, points in (await clawbacks_outside_refunds(conn, start, end)).items():
            flows.clawed[pair] += points
    return flows


async def _hold_settlements(conn: AsyncConnection, start: datetime, end: datetime, flows: Flows) -> None:
    """Captured held points are redeemed, expired ones expired, as each settling posting records per lot."""
    p = posting_table
    settled = await conn.execute(
        select(p.c.format, p.c.details).where(_booked(start, end) & p.c.kind.in_(("capture", "void")))
    )
    for fmt, details in settled.all():
        for lot in (details or {}).get("lots", []):
            if lot.get("captured"):
                flows.redeemed[(lot["format"], fmt)] += int(lot["captured"])
            if lot.get("expired"):
                flows.expired[lot["format"]] += int(lot["expired"])


async def _cancellations(
    conn: AsyncConnection, start: datetime, end: datetime, flows: Flows, restored: dict[Pair, int]
) -> None:
    """A cancellation takes the whole redemption off its cells; what did not go back to a live lot expired."""
    cancel, lc, lot = posting_table, lot_consumption_table, lot_table
    cancelled = await conn.execute(
        select(cancel.c.format, lot.c.format.label("issuer"), func.sum(lc.c.points))
        .select_from(
            cancel.join(lc, lc.c.posting_id == cancel.c.reverses_posting_id).join(lot, lot.c.id == lc.c.lot_id)
        )
        .where(_booked(start, end) & (cancel.c.kind == "cancel"))
        .group_by(cancel.c.format, lot.c.format)
    )
    for fmt, issuer, points in cancelled.all():
        flows.redeemed[(issuer, fmt)] -= int(points)
        flows.expired[issuer] += int(points) - restored.get((issuer, fmt), 0)


async def _refunds_from_expiry(conn: AsyncConnection, start: datetime, end: datetime, flows: Flows) -> None:
    """Points a refund took back from ``group.expiry`` are the refunded format's own, clawed back instead of expired."""
    p, entry = posting_table, entry_table
    taken = await conn.execute(
        select(p.c.format, func.sum(entry.c.amount))
        .select_from(entry.join(p, p.c.id == entry.c.posting_id))
        .where(_booked(start, end) & (p.c.kind == "reverse") & (entry.c.account == EXPIRY))
        .group_by(p.c.format)
    )
    for fmt, amount in taken.all():
        points = -int(amount)
        if points:
            flows.clawed[(fmt, fmt)] += points
            flows.expired[fmt] -= points
