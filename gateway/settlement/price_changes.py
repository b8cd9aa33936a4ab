"""Admins' dated changes of transfer prices: set a price from a day, or end one from a day; each audited.

A change names the day it applies from (``effective_from``, group time zone; today by default)
and stays in force until the pair's next dated change. Changing the price of a day that already
has a change replaces that change. A day on or before the last day of a closed settlement period
is refused (``PERIOD_CLOSED``): a closed period's prices are final. Every accepted change writes
the price row and a ``configChanges`` entry (entity ``transfer_price``, key ``default`` or
``<issuer>:<redeemer>``) in one transaction; ``before`` is the state in force on the change's day
until then, ``after`` the new one (``pricePerPoint`` null when the change ends a price).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import check_reason
from gateway.config_audit import record_config_change
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.persistence.settlement_tables import ANY, transfer_price_table
from gateway.settlement.books import last_closed_day, lock_books
from gateway.settlement.prices import (
    CACHE_KEY,
    ENTITY,
    TransferPrice,
    TransferPrices,
    check_pair,
    check_price,
    price_from_row,
    today,
)


async def set_transfer_price(
    core: Core,
    *,
    issuer: str | None,
    redeemer: str | None,
    price: Any,
    actor: str,
    reason: str,
    now: datetime,
    effective_from: date | None = None,
    field: str = "",
) -> TransferPrice:
    """Set the price of a pair (or the group default) from ``effective_from`` (default: today), audited.

    Returns the stored change. Bad input writes nothing (``INVALID_CONFIG``, ``UNKNOWN_FORMAT``,
    ``INVALID_INPUT`` for the reason, ``PERIOD_CLOSED`` for a day in closed books). Setting the
    price already in force on that day changes nothing and logs nothing.
    """
    prefix = f"{field}." if field else ""
    issuer, redeemer = check_pair(core, issuer, redeemer, field=field)
    value = check_price(price, prefix + "pricePerPoint")
    note = check_reason(reason, prefix + "reason")
    day = effective_from or today(core.settings, now)
    async with core.db.write() as conn:
        in_force = await _in_force(conn, issuer, redeemer, day, field=prefix + "effectiveFrom")
        if in_force is not None and in_force.price == value:
            return in_force
        stored = await _write(conn, issuer, redeemer, day, value, actor=actor, now=now)
        await record_config_change(
            conn,
            actor=actor,
            entity=ENTITY,
            key=stored.key,
            before=_state(in_force),
            after=stored.as_json(),
            now=now.astimezone(UTC),
            reason=note,
        )
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
    effective_from: date | None = None,
    field: str = "",
) -> TransferPrice:
    """End a pair's override (it then settles at the default) or the configured default, from ``effective_from``.

    Returns the price that stops applying; ``CONFIG_NOT_FOUND`` when none is in force on that day.
    Periods before the day keep the price. Audited like :func:`set_transfer_price`.
    """
    prefix = f"{field}." if field else ""
    issuer, redeemer = check_pair(core, issuer, redeemer, field=field)
    note = check_reason(reason, prefix + "reason")
    day = effective_from or today(core.settings, now)
    async with core.db.write() as conn:
        in_force = await _in_force(conn, issuer, redeemer, day, field=prefix + "effectiveFrom")
        if in_force is None or in_force.price is None:
            what = "no group default price" if issuer is None else f"no transfer price for {issuer} -> {redeemer}"
            raise AtriumError(ErrorCode.CONFIG_NOT_FOUND, f"There is {what} on {day} to remove.", prefix + "issuer" if issuer else field or None)
        ended = await _write(conn, issuer, redeemer, day, None, actor=actor, now=now)
        await record_config_change(
            conn,
            actor=actor,
            entity=ENTITY,
            key=ended.key,
            before=_state(in_force),
            after=ended.as_json(),
            now=now.astimezone(UTC),
            reason=note,
        )
    await core.cache.invalidate(CACHE_KEY)
    return in_force


def _state(price: TransferPrice | None) -> dict[str, Any] | None:
    """The audited state of what was in force: ``None`` when no price was configured."""
    return price.as_json() if price is not None and price.price is not None else None


def _key(issuer: str | None, redeemer: str | None) -> dict[str, str]:
    return {"issuer": issuer or ANY, "redeemer": redeemer or ANY}


def _match(key: dict[str, str]) -> Any:
    return (transfer_price_table.c.issuer == key["issuer"]) & (transfer_price_table.c.redeemer == key["redeemer"])


async def _in_force(conn: AsyncConnection, issuer: str | None, redeemer: str | None, day: date, *, field: str) -> TransferPrice | None:
    """Lock the books, refuse a day in a closed period, and read the pair's change in force on ``day``."""
    await lock_books(conn)
    closed = await last_closed_day(conn)
    if closed is not None and day <= closed:
        raise AtriumError(
            ErrorCode.PERIOD_CLOSED,
            f"Settlement is closed up to {closed}: a price change can apply from {closed + timedelta(days=1)} at the earliest.",
            field,
        )
    rows = (await conn.execute(select(transfer_price_table).where(_match(_key(issuer, redeemer))))).all()
    return TransferPrices(tuple(sorted((price_from_row(row) for row in rows), key=lambda p: p.effective_from))).in_force(issuer, redeemer, day)


async def _write(
    conn: AsyncConnection, issuer: str | None, redeemer: str | None, day: date, price: Decimal | None, *, actor: str, now: datetime
) -> TransferPrice:
    """Insert the pair's change of ``day``, or replace the one that day already has."""
    key = _key(issuer, redeemer)
    now = now.astimezone(UTC)
    values = {"price_minor": price, "updated_by": actor, "updated_at": now}
    table = transfer_price_table
    same_day = _match(key) & (table.c.effective_from == day)
    if (await conn.execute(select(table.c.effective_from).where(same_day))).first() is None:
        await conn.execute(insert(table).values(**key, effective_from=day, **values))
    else:
        await conn.execute(update(table).where(same_day).values(**values))
    return TransferPrice(issuer, redeemer, day, price, actor, now)
