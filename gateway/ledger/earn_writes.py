"""The rows an earn writes after its posting: its lots and the member's balances, by statements built once.

An earn runs on every till's every sale, so its statements are built at import with
:func:`~sqlalchemy.bindparam` placeholders and only bound per call: SQLAlchemy caches the compiled
SQL either way, but building a statement and its cache key per call costs more than running it on
SQLite. :func:`gateway.ledger.earn.record_activity` calls these inside its write transaction,
with the member locked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Update, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.ledger.earn_points import LotPlan
from gateway.persistence.models import lot_table, member_table
from gateway.tier_upgrade import EarnTier

_INSERT_LOTS = insert(lot_table)


def _credit(*, upgraded: bool) -> Update:
    """The member update of an earn; an upgrade also ends any grace and dates the decision."""
    member = member_table.c
    values: dict[str, Any] = {
        "points_balance": member.points_balance + bindparam("add_points", type_=member.points_balance.type),
        "pending_balance": member.pending_balance + bindparam("add_pending", type_=member.pending_balance.type),
        "growth_value": member.growth_value + bindparam("add_growth", type_=member.growth_value.type),
        "tier_code": bindparam("new_tier", type_=member.tier_code.type),
    }
    if upgraded:
        values.update(tier_grace_until=None, tier_decided_at=bindparam("decided_at", type_=member.tier_decided_at.type))
    return update(member_table).where(member.id == bindparam("credited_member", type_=member.id.type)).values(**values)


_CREDIT = {False: _credit(upgraded=False), True: _credit(upgraded=True)}


async def insert_lots(
    conn: AsyncConnection,
    lots: Sequence[LotPlan],
    *,
    member_id: int,
    posting_id: int,
    format_code: str,
    earned_at: datetime,
    expires_at: datetime,
) -> None:
    """Insert one lot per planned lot of the earn ``posting_id`` (one statement; none for no lots)."""
    if not lots:
        return
    await conn.execute(
        _INSERT_LOTS,
        [
            {
                "member_id": member_id,
                "posting_id": posting_id,
                "format": format_code,
                "points": lot.points,
                "remaining": lot.points,
                "earned_at": earned_at,
                "available_at": lot.available_at,
                "expires_at": expires_at,
                "pending": lot.pending,
            }
            for lot in lots
        ],
    )


async def credit_member(
    conn: AsyncConnection, member_id: int, *, available: int, pending: int, growth: int, tier: EarnTier, now: datetime
) -> None:
    """Add an earn's points (available and pending) and growth to the member row and set its tier;
    after an upgrade, the member has no grace and its tier was decided ``now``."""
    params: dict[str, Any] = {
        "credited_member": member_id,
        "add_points": available,
        "add_pending": pending,
        "add_growth": growth,
        "new_tier": tier.after.code,
    }
    if tier.changed:
        params["decided_at"] = now
    await conn.execute(_CREDIT[tier.changed], params)
