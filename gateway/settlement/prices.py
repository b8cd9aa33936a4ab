"""Transfer prices: what the issuer of a point pays the format that honoured it, per point.

A price is in minor units of the group's currency per point and may have decimals (``0.8`` fen a
point: 1,000 points are worth CN¥8.00), at most :data:`PRICE_PLACES` of them, from 0 to
:data:`MAX_PRICE`. The group default applies to every (issuer, redeemer) pair without an override;
when no default is configured it is ``settings.points_value_minor``, the value a point pays on a
bill (:mod:`gateway.ledger.cash`), so an unconfigured group settles at the value members get.
Issuers are the group's formats and ``group`` (admin credits); redeemers are formats.

Admins change prices with :func:`set_transfer_price` and :func:`remove_transfer_price`; each
change is audited (entity ``transfer_price``) in its transaction, and the cached prices
(:func:`transfer_prices`, key :data:`CACHE_KEY`) are invalidated after the commit, so a warm read
issues no SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import check_reason
from gateway.config_audit import record_config_change
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.persistence.models import GROUP_FORMAT
from gateway.persistence.settlement_tables import ANY, transfer_price_table

CACHE_KEY = "settlement:transfer_prices"
ENTITY = "transfer_price"
PRICE_PLACES = 4
MAX_PRICE = Decimal("100000")
"""Largest price per point, in minor units (CN¥1,000 a point): a typo guard, far above any real price."""


@dataclass(frozen=True)
class TransferPrice:
    """One configured price; ``issuer`` and ``redeemer`` are both ``None`` for the group default."""

    issuer: str | None
    redeemer: str | None
    price: Decimal
    updated_by: str
    updated_at: datetime

    @property
    def key(self) -> str:
        """The audit key: ``default`` or ``<issuer>:<redeemer>``."""
        return "default" if self.issuer is None else f"{self.issuer}:{self.redeemer}"

    def as_json(self) -> dict[str, Any]:
        """The audited state of the price."""
        return {"issuer": self.issuer, "redeemer": self.redeemer, "pricePerPoint": str(self.price)}


@dataclass(frozen=True)
class TransferPrices:
    """Every configured price (immutable, cached): the default, if set, and the overrides."""

    default: TransferPrice | None
    overrides: tuple[TransferPrice, ...]

    def configured(self, issuer: str | None, redeemer: str | None) -> TransferPrice | None:
        """The row configured for the pair (``None``, ``None``: the default), if any."""
        if issuer is None:
            return self.default
        return next((p for p in self.overrides if p.issuer == issuer and p.redeemer == redeemer), None)

    def price(self, issuer: str, redeemer: str, *, fallback: int) -> Decimal:
        """The price per point for ``issuer`` -> ``redeemer``: its override, else the default, else ``fallback``."""
        found = self.configured(issuer, redeemer) or self.default
        return found.price if found is not None else Decimal(fallback)


def _row(row: Any) -> TransferPrice:
    default = row.issuer == ANY
    return TransferPrice(
        issuer=None if default else row.issuer,
        redeemer=None if default else row.redeemer,
        price=canonical(Decimal(str(row.price_minor))),
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


async def load_transfer_prices(conn: AsyncConnection) -> TransferPrices:
    """Read every configured price from the database (one query)."""
    rows = (
        await conn.execute(select(transfer_price_table).order_by(transfer_price_table.c.issuer, transfer_price_table.c.redeemer))
    ).all()
    prices = [_row(row) for row in rows]
    return TransferPrices(
        default=next((p for p in prices if p.issuer is None), None),
        overrides=tuple(p for p in prices if p.issuer is not None),
    )


async def transfer_prices(core: Core) -> TransferPrices:
    """The configured prices, through the configuration cache (no SQL when warm)."""

    async def load() -> TransferPrices:
        async with core.db.read() as conn:
            return await load_transfer_prices(conn)

    return await core.cache.get(CACHE_KEY, load)


def default_price(core: Core, prices: TransferPrices) -> Decimal:
    """The group default price per point: configured, or ``settings.points_value_minor``."""
    return prices.default.price if prices.default is not None else Decimal(core.settings.points_value_minor)


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


# --- changes -------------------------------------------------------------------------------------


async def set_transfer_price(
    core: Core,
    *,
    issuer: str | None,
    redeemer: str | None,
    price: Any,
    actor: str,
    reason: str,
    now: datetime,
    field: str = "",
) -> TransferPrice:
    """Set the price of a pair (or the group default), audited with the admin's ``reason``; returns the stored price.

    Bad input writes nothing (``INVALID_CONFIG``, ``UNKNOWN_FORMAT``). Setting the price a pair
    already has changes nothing and logs nothing.
    """
    prefix = f"{field}." if field else ""
    issuer, redeemer = check_pair(core, issuer, redeemer, field=field)
    value = check_price(price, prefix + "pricePerPoint")
    note = check_reason(reason, prefix + "reason")
    now = now.astimezone(UTC)
    key = {"issuer": issuer or ANY, "redeemer": redeemer or ANY}
    stored = TransferPrice(issuer, redeemer, value, actor, now)
    for attempt in range(2):
        try:
            async with core.db.write() as conn:
                before = await _configured(conn, key)
                if before is not None and before.price == value:
                    return before
                values = {"price_minor": value, "updated_by": actor, "updated_at": now}
                if before is None:
                    await conn.execute(insert(transfer_price_table).values(**key, **values))
                else:
                    await conn.execute(update(transfer_price_table).where(_match(key)).values(**values))
                await record_config_change(
                    conn,
                    actor=actor,
                    entity=ENTITY,
                    key=stored.key,
                    before=before.as_json() if before else None,
                    after=stored.as_json(),
                    now=now,
                    reason=note,
                )
            break
        except IntegrityError:
            # Two admins created the pair at once: the loser updates the row the winner made.
            if attempt:
                raise
    await core.cache.invalidate(CACHE_KEY)
    return stored


async def remove_transfer_price(
    core: Core,
    *,
    issuer: str | None,
    redeemer: str | None,
    actor: str,
    reason: str,
    now: datetime,
    field: str = "",
) -> TransferPrice:
    """Remove a pair's override (it then settles at the default) or the configured default; audited.

    Returns the removed price; ``CONFIG_NOT_FOUND`` when none was configured.
    """
    prefix = f"{field}." if field else ""
    issuer, redeemer = check_pair(core, issuer, redeemer, field=field)
    note = check_reason(reason, prefix + "reason")
    key = {"issuer": issuer or ANY, "redeemer": redeemer or ANY}
    async with core.db.write() as conn:
        before = await _configured(conn, key)
        if before is None:
            what = "no group default price" if issuer is None else f"no transfer price for {issuer} -> {redeemer}"
            raise AtriumError(ErrorCode.CONFIG_NOT_FOUND, f"There is {what} to remove.", prefix + "issuer" if issuer else field or None)
        await conn.execute(delete(transfer_price_table).where(_match(key)))
        await record_config_change(
            conn, actor=actor, entity=ENTITY, key=before.key, before=before.as_json(), after=None, now=now.astimezone(UTC), reason=note
        )
    await core.cache.invalidate(CACHE_KEY)
    return before


def _match(key: dict[str, str]) -> Any:
    return (transfer_price_table.c.issuer == key["issuer"]) & (transfer_price_table.c.redeemer == key["redeemer"])


async def _configured(conn: AsyncConnection, key: dict[str, str]) -> TransferPrice | None:
    query = select(transfer_price_table).where(_match(key))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return _row(row) if row is not None else None
