"""Closing a settlement period: its figures are stored once, and from then on the period reads them.

Finance closes a month when it has paid it: :func:`close_settlement_period` (admins) computes the
report and stores every figure (the redemption and clawback matrices, each party's movements,
receivable, payable and net, the liability at the end of the period) in ``settlement_closing``,
with who closed it, when and why, and logs the closing in ``configChanges`` (entity
``settlement_period``, key ``<from>..<to>``) in the same transaction. The rows are never changed
(database triggers refuse it). :func:`period_settlement` (the ``settlement`` query and the CSV
export) returns the stored figures of a closed period, marked with its closing, and computes any
other period.

Rules: a period can be closed only once it has ended (its last instant is in the past, so no
posting can be booked into it any more: postings are booked at the time they are written); it
may not share a day with a closed period (``PERIOD_CLOSED``: neither closing twice nor
overlapping); transfer prices cannot be changed from a day on or before the last closed day
(:mod:`gateway.settlement.price_changes`). The ledger can still be altered behind the gateway's
back (a database fix, a restore): :mod:`gateway.settlement.drift` recomputes closed periods and
reports any difference.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import check_reason
from gateway.config_audit import record_config_change
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.persistence.settlement_tables import settlement_closing_table
from gateway.settlement.books import lock_books, overlapping_closings
from gateway.settlement.liability import LiabilityLine
from gateway.settlement.prices import canonical, load_transfer_prices, transfer_prices
from gateway.settlement.report import (
    Cell,
    Closing,
    PartySettlement,
    Period,
    SettlementReport,
    period_of,
    settlement_report,
)

ENTITY = "settlement_period"
"""The ``configChanges`` entity of closings."""

PARTY_FIGURES = (
    "opening_liability",
    "issued",
    "redeemed",
    "honoured",
    "clawed_back",
    "claws",
    "expired",
    "adjusted",
    "other",
    "closing_liability",
    "receivable",
    "payable",
)
"""The stored integer figures of a party (``net`` is stored beside them)."""


def period_key(first: date, last: date) -> str:
    """The audit key of a period: ``2026-11-01..2026-11-30``."""
    return f"{first.isoformat()}..{last.isoformat()}"


def _cell_json(cell: Cell) -> dict[str, Any]:
    return {"issuer": cell.issuer, "counterparty": cell.counterparty, "points": cell.points, "price": str(cell.price), "value": cell.value}


def _cell(item: dict[str, Any]) -> Cell:
    return Cell(item["issuer"], item["counterparty"], int(item["points"]), Decimal(item["price"]), int(item["value"]))


def stored_figures(report: SettlementReport) -> dict[str, Any]:
    """The report's figures as the JSON columns of ``settlement_closing`` store them."""
    return {
        "redemptions": [_cell_json(cell) for cell in report.redemptions],
        "clawbacks": [_cell_json(cell) for cell in report.clawbacks],
        "parties": [
            {"code": party.code, **{name: getattr(party, name) for name in PARTY_FIGURES}, "net": party.net}
            for party in report.parties
        ],
        "liability": [
            {"issuer": line.issuer, "month": line.month, "available": line.available, "pending": line.pending, "held": line.held}
            for line in report.liability
        ],
    }


def report_from_row(row: Any) -> SettlementReport:
    """The closed period a ``settlement_closing`` row holds, as a report marked with its closing."""
    return SettlementReport(
        period=Period(row.period_from, row.period_to, row.starts_at, row.ends_at),
        currency=row.currency,
        timezone=row.timezone,
        default_price=canonical(Decimal(str(row.default_price_minor))),
        redemptions=tuple(_cell(item) for item in row.redemptions),
        clawbacks=tuple(_cell(item) for item in row.clawbacks),
        parties=tuple(
            PartySettlement(code=item["code"], **{name: int(item[name]) for name in PARTY_FIGURES}) for item in row.parties
        ),
        liability=tuple(
            LiabilityLine(item["issuer"], item["month"], int(item["available"]), int(item["pending"]), int(item["held"]))
            for item in row.liability
        ),
        closing=Closing(closed_by=row.closed_by, closed_at=row.closed_at, reason=row.reason),
    )


async def closed_periods(conn: AsyncConnection, first: date | None = None, last: date | None = None) -> list[SettlementReport]:
    """Every closed period (sharing a day with ``first`` to ``last`` when given), earliest first, as stored."""
    table = settlement_closing_table
    query = select(table).order_by(table.c.period_from)
    if first is not None:
        query = query.where(table.c.period_to >= first)
    if last is not None:
        query = query.where(table.c.period_from <= last)
    return [report_from_row(row) for row in (await conn.execute(query)).all()]


async def closed_settlement(conn: AsyncConnection, first: date, last: date) -> SettlementReport | None:
    """The stored figures of the closed period exactly ``first`` to ``last``, if it is closed."""
    table = settlement_closing_table
    row = (await conn.execute(select(table).where((table.c.period_from == first) & (table.c.period_to == last)))).first()
    return report_from_row(row) if row is not None else None


async def period_settlement(core: Core, first: date, last: date, *, field: str | None = "period") -> SettlementReport:
    """The settlement of ``first`` to ``last``: the stored figures when exactly that period is closed, else computed.

    A period that only overlaps closed ones (a quarter made of closed months, half a closed month)
    is computed: only a closed period as such has stored figures.
    """
    period_of(core.settings, first, last, field=field)
    async with core.db.read() as conn:
        stored = await closed_settlement(conn, first, last)
    return stored if stored is not None else await settlement_report(core, first, last, field=field)


async def close_settlement_period(
    core: Core, *, first: date, last: date, actor: str, reason: str, now: datetime, field: str = ""
) -> SettlementReport:
    """Close the period ``first`` to ``last``: store its figures for good, audited with ``reason``; returns them.

    ``INVALID_INPUT`` (on ``<field>.to``) for a period that ends before it starts or has not ended
    yet, ``INVALID_INPUT`` (on ``<field>.reason``) without a reason, ``PERIOD_CLOSED`` when a day of
    it is already closed. Nothing is written on a refusal.
    """
    prefix = f"{field}." if field else ""
    note = check_reason(reason, prefix + "reason")
    period = period_of(core.settings, first, last, field=field or None)
    if period.ends_at > now:
        raise AtriumError(
            ErrorCode.INVALID_INPUT,
            f"The period ends at {period.ends_at.isoformat()}: it can be closed once it is over.",
            prefix + "to",
        )
    now = now.astimezone(UTC)
    prices = await transfer_prices(core)
    report = await settlement_report(core, first, last, field=field or None, prices=prices)
    async with core.db.write() as conn:
        await lock_books(conn)
        await _refuse_overlaps(conn, first, last, field=prefix + "from")
        current = await load_transfer_prices(conn)
        if current != prices:
            # A price changed since the report was computed (the lock now keeps it still): value at what is on record.
            report = await settlement_report(core, first, last, field=field or None, prices=current)
        report = replace(report, closing=Closing(closed_by=actor, closed_at=now, reason=note))
        await conn.execute(
            insert(settlement_closing_table).values(
                period_from=first,
                period_to=last,
                starts_at=period.starts_at,
                ends_at=period.ends_at,
                timezone=report.timezone,
                currency=report.currency,
                default_price_minor=report.default_price,
                closed_by=actor,
                closed_at=now,
                reason=note,
                **stored_figures(report),
            )
        )
        await record_config_change(
            conn,
            actor=actor,
            entity=ENTITY,
            key=period_key(first, last),
            before=None,
            after=_summary(report),
            now=now,
            reason=note,
        )
    return report


def _summary(report: SettlementReport) -> dict[str, Any]:
    """What the audit log says of a closing: the period and its headline figures."""
    return {
        "from": report.period.first.isoformat(),
        "to": report.period.last.isoformat(),
        "currency": report.currency,
        "settledValueMinor": report.settled_value,
        "nets": {party.code: party.net for party in report.parties},
        "liabilityPoints": sum(line.points for line in report.liability),
    }


async def _refuse_overlaps(conn: AsyncConnection, first: date, last: date, *, field: str) -> None:
    closed = await overlapping_closings(conn, first, last)
    if closed:
        spans = ", ".join(f"{start} to {end}" for start, end in closed)
        what = "is already closed" if closed == [(first, last)] else f"overlaps the closed period {spans}"
        raise AtriumError(ErrorCode.PERIOD_CLOSED, f"{first} to {last} {what}: a day is settled once.", field)
