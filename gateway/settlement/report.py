"""The settlement report of a period: the matrices, what each format owes or is owed, and the liability.

See :mod:`gateway.settlement` for what each figure means and how it is valued.
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
from gateway.settlement.flows import period_flows
from gateway.settlement.liability import LiabilityLine, liability_at
from gateway.settlement.prices import TransferPrices, default_price, transfer_prices

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

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=settings.zone).astimezone(UTC)

    return Period(first, last, midnight(first), midnight(last + timedelta(days=1)))


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
class SettlementReport:
    """Everything settled for one period; money in minor units of ``currency``."""

    period: Period
    currency: str
    timezone: str
    default_price: Decimal
    redemptions: tuple[Cell, ...]
    clawbacks: tuple[Cell, ...]
    parties: tuple[PartySettlement, ...]
    liability: tuple[LiabilityLine, ...]

    @property
    def settled_value(self) -> int:
        """Money that changes hands: the value of every off-diagonal cell of both matrices."""
        return sum(cell.value for cell in (*self.redemptions, *self.clawbacks) if cell.crosses)


def _cells(points: dict[tuple[str, str], int], prices: TransferPrices, fallback: int) -> tuple[Cell, ...]:
    cells = []
    for (issuer, counterparty), count in sorted(points.items()):
        if count:
            price = prices.price(issuer, counterparty, fallback=fallback)
            cells.append(Cell(issuer, counterparty, count, price, value_of(count, price)))
    return tuple(cells)


def _party_order(code: str) -> tuple[bool, str]:
    return (code == GROUP_FORMAT, code)


async def settlement_report(core: Core, first: date, last: date, *, field: str | None = "period") -> SettlementReport:
    """Settle the period from ``first`` to ``last`` (days in the group's time zone, both included).

    Reads in one snapshot (repeatable read on PostgreSQL, one transaction on SQLite), so the
    matrices and both liabilities agree with each other even while members earn and redeem.
    """
    settings = core.settings
    period = period_of(settings, first, last, field=field)
    prices = await transfer_prices(core)
    fallback = settings.points_value_minor
    async with core.db.read() as conn:
        if conn.dialect.name == "postgresql":
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        flows = await period_flows(conn, period.starts_at, period.ends_at)
        opening = await liability_at(conn, settings, period.starts_at, by_month=False)
        closing = await liability_at(conn, settings, period.ends_at, by_month=True)
    redemptions = _cells(flows.redeemed, prices, fallback)
    clawbacks = _cells(flows.clawed, prices, fallback)
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
        default_price=default_price(core, prices),
        redemptions=redemptions,
        clawbacks=clawbacks,
        parties=tuple(parties),
        liability=tuple(closing),
    )
