"""The settlement report of a period: the matrices, what each format owes or is owed, and the liability.

See :mod:`gateway.settlement` for what each figure means and how it is valued. Points are valued
at the transfer prices in force on the day each posting was **booked** (the day of its
``created_at`` in the group's time zone): the period is cut at every day a price changes, each
part's flows are valued at that part's prices, and cells of one pair at one price are added up
before rounding. A pair whose price changed within the period therefore has one cell per price,
and a month's figures are the same whether it is settled alone or as part of a quarter (up to the
per-cell rounding). :func:`settlement_report` always recomputes; closed periods' stored figures
are read through :mod:`gateway.settlement.closing`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.persistence.models import GROUP_FORMAT
from gateway.settings import Settings
from gateway.settlement.flows import Flows, period_flows
from gateway.settlement.liability import LiabilityLine, liability_at
from gateway.settlement.prices import (
    PriceList,
    TransferPrices,
    default_price,
    transfer_prices,
)

MAX_PERIOD_DAYS = 3660
"""Longest period one report covers (ten years)."""


@dataclass(frozen=True)
class Period:
    """Whole days ``first`` to ``last`` (both included) in the group's time zone, as UTC instants ``[starts_at, ends_at)``."""

    first: date
    last: date
    starts_at: datetime
    ends_at: datetime


def period_of(settings: Settings, first: date, last: date, *, field: str | None = "period") -> Period:
    """The period from ``first`` to ``last`` inclusive; ``INVALID_INPUT`` (on ``<field>.to``) when ``last`` is before ``first`` or too far."""
    where = f"{field}.to" if field else "to"
    if last < first:
        raise AtriumError(ErrorCode.INVALID_INPUT, f"The period ends ({last}) before it starts ({first}).", where)
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise AtriumError(ErrorCode.INVALID_INPUT, f"A period is at most {MAX_PERIOD_DAYS} days.", where)

    return Period(first, last, midnight(settings, first), midnight(settings, last + timedelta(days=1)))


def midnight(settings: Settings, day: date) -> datetime:
    """The first instant of ``day`` in the group's time zone, in UTC."""
    return datetime.combine(day, time(0), tzinfo=settings.zone).astimezone(UTC)


def value_of(points: int, price: Decimal) -> int:
    """``points × price`` in whole minor units, rounded half up (away from zero for negative cells)."""
    return int((Decimal(points) * price).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Cell:
    """Points of ``issuer`` redeemed (or clawed back) by ``counterparty``, at ``price`` per point."""

    issuer: str
    counterparty: str
    points: int
    price: Decimal
    value: int

    @property
    def crosses(self) -> bool:
        """Whether money moves: the issuer is not the counterparty."""
        return self.issuer != self.counterparty


@dataclass(frozen=True)
class PartySettlement:
    """One format's (or the group's) period: its points' movements, and what it pays and receives."""

    code: str
    opening_liability: int
    issued: int
    redeemed: int
    honoured: int
    clawed_back: int
    claws: int
    expired: int
    adjusted: int
    other: int
    closing_liability: int
    receivable: int
    payable: int

    @property
    def net(self) -> int:
        """Receivable minus payable, minor units: positive, the format is paid; negative, it pays."""
        return self.receivable - self.payable


@dataclass(frozen=True)
class Closing:
    """Who closed a period, when and why: the report then holds the figures stored at that moment."""

    closed_by: str
    closed_at: datetime
    reason: str


@dataclass(frozen=True)
class SettlementReport:
    """Everything settled for one period; money in minor units of ``currency``.

    ``default_price`` is the group default in force on the period's first day; ``closing`` is set
    when the figures are a closed period's stored ones.
    """

    period: Period
    currency: str
    timezone: str
    default_price: Decimal
    redemptions: tuple[Cell, ...]
    clawbacks: tuple[Cell, ...]
    parties: tuple[PartySettlement, ...]
    liability: tuple[LiabilityLine, ...]
    closing: Closing | None = None

    @property
    def settled_value(self) -> int:
        """Money that changes hands: the value of every off-diagonal cell of both matrices."""
        return sum(cell.value for cell in (*self.redemptions, *self.clawbacks) if cell.crosses)


@dataclass(frozen=True)
class PriceSegment:
    """Part of a period, ``[starts_at, ends_at)``, over which one price list is in force."""

    starts_at: datetime
    ends_at: datetime
    prices: PriceList


def price_segments(settings: Settings, period: Period, prices: TransferPrices) -> tuple[PriceSegment, ...]:
    """The period cut at every day a transfer price changes within it (one segment when none does)."""
    days = (period.first, *prices.changes_within(period.first, period.last))
    bounds = [period.starts_at, *(midnight(settings, day) for day in days[1:]), period.ends_at]
    return tuple(PriceSegment(bounds[i], bounds[i + 1], prices.on(day)) for i, day in enumerate(days))


def _cells(parts: list[tuple[PriceList, dict[tuple[str, str], int]]], fallback: int) -> tuple[Cell, ...]:
    """Each part's points valued at its prices; points of one pair at one price are added before rounding."""
    points: dict[tuple[str, str, Decimal], int] = defaultdict(int)
    for prices, counts in parts:
        for (issuer, counterparty), count in counts.items():
            if count:
                points[(issuer, counterparty, prices.price(issuer, counterparty, fallback=fallback))] += count
    return tuple(
        Cell(issuer, counterparty, count, price, value_of(count, price))
        for (issuer, counterparty, price), count in sorted(points.items())
        if count
    )


def _party_order(code: str) -> tuple[bool, str]:
    return (code == GROUP_FORMAT, code)


async def settlement_report(
    core: Core, first: date, last: date, *, field: str | None = "period", prices: TransferPrices | None = None
) -> SettlementReport:
    """Compute the settlement of ``first`` to ``last`` (days in the group's time zone, both included).

    Reads in one snapshot (repeatable read on PostgreSQL, one transaction on SQLite), so the
    matrices and both liabilities agree with each other even while members earn and redeem.
    ``prices`` is the transfer price schedule to value at (default: the configured one).
    """
    settings = core.settings
    period = period_of(settings, first, last, field=field)
    if prices is None:
        prices = await transfer_prices(core)
    segments = price_segments(settings, period, prices)
    fallback = settings.points_value_minor
    async with core.db.read() as conn:
        if conn.dialect.name == "postgresql":
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        parts = [(segment.prices, await period_flows(conn, segment.starts_at, segment.ends_at)) for segment in segments]
        opening = await liability_at(conn, settings, period.starts_at, by_month=False)
        closing = await liability_at(conn, settings, period.ends_at, by_month=True)
    flows = Flows()
    for _, part in parts:
        flows.add(part)
    redemptions = _cells([(prices_of, part.redeemed) for prices_of, part in parts], fallback)
    clawbacks = _cells([(prices_of, part.clawed) for prices_of, part in parts], fallback)
    receivable: dict[str, int] = defaultdict(int)
    payable: dict[str, int] = defaultdict(int)
    for cell in (*redemptions, *clawbacks):
        if cell.crosses:
            payable[cell.issuer] += cell.value
            receivable[cell.counterparty] += cell.value
    codes = set(core.registry.formats) | {GROUP_FORMAT} | flows.issuers()
    codes |= {line.issuer for line in (*opening, *closing)} | {cell.counterparty for cell in (*redemptions, *clawbacks)}
    parties = []
    for code in sorted(codes, key=_party_order):
        parties.append(
            PartySettlement(
                code=code,
                opening_liability=sum(line.points for line in opening if line.issuer == code),
                issued=flows.issued.get(code, 0),
                redeemed=sum(cell.points for cell in redemptions if cell.issuer == code),
                honoured=sum(cell.points for cell in redemptions if cell.counterparty == code),
                clawed_back=sum(cell.points for cell in clawbacks if cell.issuer == code),
                claws=sum(cell.points for cell in clawbacks if cell.counterparty == code),
                expired=flows.expired.get(code, 0),
                adjusted=flows.adjusted.get(code, 0),
                other=flows.other.get(code, 0),
                closing_liability=sum(line.points for line in closing if line.issuer == code),
                receivable=receivable.get(code, 0),
                payable=payable.get(code, 0),
            )
        )
    return SettlementReport(
        period=period,
        currency=settings.currency,
        timezone=settings.timezone,
        default_price=default_price(core, segments[0].prices),
        redemptions=redemptions,
        clawbacks=clawbacks,
        parties=tuple(parties),
        liability=tuple(closing),
    )
