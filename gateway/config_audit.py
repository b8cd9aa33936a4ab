"""The configuration audit log: who changed which piece of group configuration, when, from what to what.

Every admin change of configuration (a tier, a benefit, a campaign, a transfer price, a plugin's
settings) writes one ``audit_log`` row in the same transaction as the change, with the action
``config.<entity>`` and the before and after states as JSON. ``before`` is ``None`` for a
creation and ``after`` is ``None`` for a row deleted outright (a tier dropped from the ladder).
A change dated from a day does not delete anything, so it logs an ``after`` state: removing a
transfer price from ``effectiveFrom`` logs ``after`` as that day's row with ``pricePerPoint``
null (:func:`gateway.settlement.price_changes.remove_transfer_price`), and ``before`` is ``None``
when no price was in force. :func:`config_changes` reads them back, newest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import write_audit
from gateway.persistence.models import audit_log_table

PREFIX = "config."


@dataclass(frozen=True)
class ConfigChange:
    """One logged configuration change."""

    id: int
    actor: str
    entity: str
    key: str
    before: Any
    after: Any
    reason: str | None
    at: datetime


async def record_config_change(
    conn: AsyncConnection,
    *,
    actor: str,
    entity: str,
    key: str,
    before: Any,
    after: Any,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Log a change of ``entity`` ``key`` in the caller's transaction, so the change and its log stand or fall together.

    ``before`` and ``after`` must be JSON values (dicts of plain values): the states an auditor
    compares. Nothing is logged when they are equal (saving unchanged configuration is no change).
    """
    if before == after:
        return
    await write_audit(
        conn,
        actor=actor,
        action=f"{PREFIX}{entity}",
        member_id=None,
        details={"entity": entity, "key": key, "before": before, "after": after},
        reason=reason,
        now=now,
    )


async def config_changes(
    conn: AsyncConnection, *, entity: str | None = None, before_id: int | None = None, limit: int = 50
) -> list[ConfigChange]:
    """Logged configuration changes, newest first, optionally of one ``entity``, older than ``before_id`` (paging)."""
    table = audit_log_table
    query = select(table).where(table.c.action.startswith(PREFIX) if entity is None else table.c.action == PREFIX + entity)
    if before_id is not None:
        query = query.where(table.c.id < before_id)
    rows = (await conn.execute(query.order_by(table.c.id.desc()).limit(limit))).mappings().all()
    return [
        ConfigChange(
            id=int(row["id"]),
            actor=row["actor"],
            entity=row["details"].get("entity", row["action"][len(PREFIX):]),
            key=str(row["details"].get("key", "")),
            before=row["details"].get("before"),
            after=row["details"].get("after"),
            reason=row["reason"],
            at=row["created_at"],
        )
        for row in rows
    ]
