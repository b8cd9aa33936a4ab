"""Transfer prices: what the issuer of a point pays the format that honoured it, per point, from which day.

A price is in minor units of the group's currency per point and may have decimals (``0.8`` fen a
point: 1,000 points are worth CN¥8.00), at most :data:`PRICE_PLACES` of them, from 0 to
:data:`MAX_PRICE`. The group default applies to every (issuer, redeemer) pair without an override;
when no default is in force it is ``settings.points_value_minor``, the value a point pays on a
bill (:mod:`gateway.ledger.cash`), so an unconfigured group settles at the value members get.
Issuers are the group's formats and ``group`` (admin credits); redeemers are formats.

Prices are **effective-dated**. Each change applies from a day (``effective_from``, in the group's
time zone; today unless the admin names another) until the pair's next dated change, so setting
a new price never changes the periods before its day: re-running a past month values it at the
prices of that month. A removal is a dated change too: from its day the pair settles at the
default again (or the default at ``points_value_minor``). :class:`TransferPrices` is the whole
schedule; :meth:`TransferPrices.on` gives the :class:`PriceList` in force on a day. The settlement
report values each posting's points at the prices in force on the day it was **booked**
(:mod:`gateway.settlement.report`).

Admins change prices with :func:`gateway.settlement.price_changes.set_transfer_price` and
``remove_transfer_price``; each change is audited (entity ``transfer_price``) in its
transaction, and the cached schedule (:func:`transfer_prices`, key :data:`CACHE_KEY`) is
invalidated after the commit, so a warm read issues no SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.persistence.models import GROUP_FORMAT
from gateway.persistence.settlement_tables import ANY, transfer_price_table
from gateway.settings import Settings

CACHE_KEY = "settlement:transfer_prices"
ENTITY = "transfer_price"
PRICE_PLACES = 4
MAX_PRICE = Decimal("100000")
"""Largest price per point, in minor units (CN¥1,000 a point): a typo guard, far above any real price."""


@dataclass(frozen=True)
class TransferPrice:
    """One dated change: ``issuer`` and ``redeemer`` both ``None`` for the group default.

    ``price`` is ``None`` on a change that ends the pair's override (or the configured default)
    from ``effective_from`` on.
    """

    issuer: str | None
    redeemer: str | None
    effective_from: date
    price: Decimal | None
    updated_by: str
    updated_at: datetime

    @property
    def key(self) -> str:
        """The audit key: ``default`` or ``<issuer>:<redeemer>``."""
        return "default" if self.issuer is None else f"{self.issuer}:{self.redeemer}"

    def as_json(self) -> dict[str, Any]:
        """The audited state of the price from its day on (``pricePerPoint`` null: no price configured)."""
        return {
            "issuer": self.issuer,
            "redeemer": self.redeemer,
            "pricePerPoint": None if self.price is None else str(self.price),
            "effectiveFrom": self.effective_from.isoformat(),
        }


@dataclass(frozen=True)
class PriceList:
    """The prices in force on ``day``: the default, if one is configured then, and the pairs' overrides."""

    day: date
    default: TransferPrice | None
    overrides: tuple[TransferPrice, ...]

    def configured(self, issuer: str | None, redeemer: str | None) -> TransferPrice | None:
        """The price configured for the pair (``None``, ``None``: the default) on the day, if any."""
        if issuer is None:
            return self.default
        return next((p for p in self.overrides if p.issuer == issuer and p.redeemer == redeemer), None)

    def price(self, issuer: str, redeemer: str, *, fallback: int) -> Decimal:
        """The price per point for ``issuer`` -> ``redeemer``: its override, else the default, else ``fallback``."""
        found = self.configured(issuer, redeemer) or self.default
        return found.price if found is not None and found.price is not None else Decimal(fallback)


def _order(price: TransferPrice) -> tuple[bool, str, str, date]:
    return (price.issuer is not None, price.issuer or "", price.redeemer or "", price.effective_from)


@dataclass(frozen=True)
class TransferPrices:
    """The whole schedule (immutable, cached): every dated change, the default's first, each pair's by day."""

    versions: tuple[TransferPrice, ...]

    def of(self, issuer: str | None, redeemer: str | None) -> tuple[TransferPrice, ...]:
        """The dated changes of one pair (``None``, ``None``: the default), earliest first."""
        return tuple(p for p in self.versions if p.issuer == issuer and p.redeemer == redeemer)

    def in_force(self, issuer: str | None, redeemer: str | None, day: date) -> TransferPrice | None:
        """The pair's latest change on or before ``day`` (its ``price`` is ``None`` if that change ended it)."""
        found = None
        for price in self.of(issuer, redeemer):
            if price.effective_from <= day:
                found = price
        return found

    def on(self, day: date) -> PriceList:
        """The prices in force on ``day``."""
        latest: dict[tuple[str | None, str | None], TransferPrice] = {}
        for price in self.versions:
            if price.effective_from <= day:
                latest[(price.issuer, price.redeemer)] = price
        live = sorted((p for p in latest.values() if p.price is not None), key=_order)
        default = next((p for p in live if p.issuer is None), None)
        return PriceList(day, default, tuple(p for p in live if p.issuer is not None))

    def changes_within(self, first: date, last: date) -> tuple[date, ...]:
        """Days after ``first`` up to ``last`` on which some price changes: where a period's prices differ."""
        return tuple(sorted({p.effective_from for p in self.versions if first < p.effective_from <= last}))


def today(settings: Settings, now: datetime) -> date:
    """The day ``now`` falls on in the group's time zone: a change's default ``effective_from``."""
    return now.astimezone(settings.zone).date()


def price_from_row(row: Any) -> TransferPrice:
    """The change a ``transfer_price`` row holds."""
    default = row.issuer == ANY
    return TransferPrice(
        issuer=None if default else row.issuer,
        redeemer=None if default else row.redeemer,
        effective_from=row.effective_from,
        price=None if row.price_minor is None else canonical(Decimal(str(row.price_minor))),
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


async def load_transfer_prices(conn: AsyncConnection) -> TransferPrices:
    """Read the whole schedule from the database (one query)."""
    table = transfer_price_table
    rows = (await conn.execute(select(table).order_by(table.c.issuer, table.c.redeemer, table.c.effective_from))).all()
    return TransferPrices(tuple(sorted((price_from_row(row) for row in rows), key=_order)))


async def transfer_prices(core: Core) -> TransferPrices:
    """The schedule, through the configuration cache (no SQL when warm)."""

    async def load() -> TransferPrices:
        async with core.db.read() as conn:
            return await load_transfer_prices(conn)

    return await core.cache.get(CACHE_KEY, load)


def default_price(core: Core, prices: PriceList) -> Decimal:
    """The group default price per point on the list's day: configured, or ``settings.points_value_minor``."""
    if prices.default is not None and prices.default.price is not None:
        return prices.default.price
    return Decimal(core.settings.points_value_minor)


# --- validation ----------------------------------------------------------------------------------


def check_price(value: Any, field: str = "pricePerPoint") -> Decimal:
    """``value`` as a Decimal price per point; ``INVALID_CONFIG`` unless 0 to MAX_PRICE with at most 4 decimals."""
    try:
        price = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise AtriumError(ErrorCode.INVALID_CONFIG, f"{value!r} is not a number.", field) from None
    if not price.is_finite() or price < 0 or price > MAX_PRICE:
        raise AtriumError(
            ErrorCode.INVALID_CONFIG, f"A price per point is from 0 to {MAX_PRICE} minor units; got {value}.", field
        )
    if price.quantize(Decimal(1).scaleb(-PRICE_PLACES)) != price:
        raise AtriumError(
            ErrorCode.INVALID_CONFIG, f"A price per point has at most {PRICE_PLACES} decimals; got {value}.", field
        )
    return canonical(price)


def canonical(price: Decimal) -> Decimal:
    """``price`` without trailing zeros and never in exponent notation: ``0.80`` -> ``0.8``, ``100.0`` -> ``100``."""
    return Decimal(format(price.normalize(), "f"))


def check_pair(core: Core, issuer: str | None, redeemer: str | None, *, field: str = "") -> tuple[str | None, str | None]:
    """The pair, checked: both ``None`` (the default) or an issuing format (or ``group``) and a redeeming format."""
    prefix = f"{field}." if field else ""
    if (issuer is None) != (redeemer is None):
        missing = "redeemer" if redeemer is None else "issuer"
        raise AtriumError(
            ErrorCode.INVALID_CONFIG,
            "Give both issuer and redeemer for a pair's price, or neither for the group default.",
            prefix + missing,
        )
    if issuer is None or redeemer is None:
        return None, None
    formats = core.registry.formats
    if issuer not in formats and issuer != GROUP_FORMAT:
        raise AtriumError(ErrorCode.UNKNOWN_FORMAT, f"There is no issuing format {issuer!r}.", prefix + "issuer")
    if redeemer not in formats:
        raise AtriumError(ErrorCode.UNKNOWN_FORMAT, f"There is no redeeming format {redeemer!r}.", prefix + "redeemer")
    return issuer, redeemer
