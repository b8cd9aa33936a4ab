"""The drift check: recompute closed settlement periods and report every figure that no longer matches.

A closed period's figures are stored and never change, and the gateway books nothing into a
period after it ended, so a recomputation from the ledger must give the same figures. When it
does not, the ledger was altered behind the gateway (a hand-made database fix, a partial
restore) or the group's time zone changed: finance must know before the next payment run. Run it
monthly (``settlementDrift`` in GraphQL, ``atrium settlement drift`` on the command line, which
exits 1 on a difference).

Each difference names the figure and where it sits: a matrix cell (``redemption`` /
``clawback``: issuer, counterparty and price; figures ``points`` and ``value``, minor units), a
party (``party``: its code; each movement, ``receivable``, ``payable``, ``net``) or a liability
line (``liability``: issuer and expiry month; ``available``, ``pending``, ``held``). A cell or
line present on one side only is compared with zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from gateway.core import Core
from gateway.settlement.closing import PARTY_FIGURES, closed_periods
from gateway.settlement.prices import load_transfer_prices
from gateway.settlement.report import Cell, SettlementReport, settlement_report


@dataclass(frozen=True)
class Difference:
    """One figure of a closed period: as stored (``closed``) and as the ledger gives it now (``recomputed``)."""

    section: str
    figure: str
    closed: int
    recomputed: int
    format: str | None = None
    counterparty: str | None = None
    price: Decimal | None = None
    month: str | None = None


@dataclass(frozen=True)
class PeriodDrift:
    """A closed period, its recomputation and the figures that differ."""

    closed: SettlementReport
    recomputed: SettlementReport
    differences: tuple[Difference, ...]

    @property
    def matches(self) -> bool:
        """Whether every figure recomputes to what was stored."""
        return not self.differences


def _cells(section: str, closed: tuple[Cell, ...], recomputed: tuple[Cell, ...]) -> list[Difference]:
    before = {(cell.issuer, cell.counterparty, cell.price): cell for cell in closed}
    after = {(cell.issuer, cell.counterparty, cell.price): cell for cell in recomputed}
    found = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        for figure in ("points", "value"):
            was, now = (getattr(old, figure) if old else 0), (getattr(new, figure) if new else 0)
            if was != now:
                found.append(Difference(section, figure, was, now, format=key[0], counterparty=key[1], price=key[2]))
    return found


def _parties(closed: SettlementReport, recomputed: SettlementReport) -> list[Difference]:
    before = {party.code: party for party in closed.parties}
    after = {party.code: party for party in recomputed.parties}
    found = []
    for code in sorted(before.keys() | after.keys()):
        old, new = before.get(code), after.get(code)
        for figure in (*PARTY_FIGURES, "net"):
            was, now = (getattr(old, figure) if old else 0), (getattr(new, figure) if new else 0)
            if was != now:
                found.append(Difference("party", figure, was, now, format=code))
    return found


def _liability(closed: SettlementReport, recomputed: SettlementReport) -> list[Difference]:
    before = {(line.issuer, line.month or ""): line for line in closed.liability}
    after = {(line.issuer, line.month or ""): line for line in recomputed.liability}
    found = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        for figure in ("available", "pending", "held"):
            was, now = (getattr(old, figure) if old else 0), (getattr(new, figure) if new else 0)
            if was != now:
                found.append(Difference("liability", figure, was, now, format=key[0], month=key[1] or None))
    return found


def differences(closed: SettlementReport, recomputed: SettlementReport) -> tuple[Difference, ...]:
    """Every figure of ``closed`` that ``recomputed`` gives differently: cells, then parties, then liability."""
    return tuple(
        _cells("redemption", closed.redemptions, recomputed.redemptions)
        + _cells("clawback", closed.clawbacks, recomputed.clawbacks)
        + _parties(closed, recomputed)
        + _liability(closed, recomputed)
    )


async def settlement_drift(core: Core, first: date | None = None, last: date | None = None) -> list[PeriodDrift]:
    """Recompute every closed period (those sharing a day with ``first`` to ``last`` when given), earliest first.

    The transfer prices are read from the database, not the configuration cache: a control must see
    a price row changed behind the gateway too.
    """
    async with core.db.read() as conn:
        closed = await closed_periods(conn, first, last)
        prices = await load_transfer_prices(conn)
    checked = []
    for stored in closed:
        fresh = await settlement_report(core, stored.period.first, stored.period.last, field=None, prices=prices)
        checked.append(PeriodDrift(stored, fresh, differences(stored, fresh)))
    return checked
