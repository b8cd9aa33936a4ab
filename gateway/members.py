"""Reading members: the rows behind ``me``, member lookups and data loaders (batched, no N+1)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Label, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.identity import IdentityKind
from gateway.ledger.reclaim import lapsed_holds_reclaim
from gateway.persistence.models import (
    hold_table,
    identity_table,
    lot_consumption_table,
    lot_table,
    member_table,
)


@dataclass(frozen=True)
class MemberRow:
    """A member as stored: status, tier, growth value, available and pending points.

    ``points_balance`` and ``pending_balance`` are the stored caches of the wallet and pending
    accounts. ``pending_matured`` is only filled by reads (:func:`get_members`): pending points whose
    date has come but that no write has released yet, so a read can show the truth without writing.

    ``held_balance`` caches ``member.held`` (points reserved by tills' holds). Reads also fill
    ``held_lapsed`` (held points of holds past their time that no write has voided yet) and
    ``held_lapsed_returnable`` (the part of those whose lots have not expired: what the void will
    put back in the wallet; the rest goes to expiry). See ``gateway.ledger.holds``.
    """

    id: int
    status: str
    tier_code: str
    growth_value: int
    points_balance: int
    enrolled_format: str | None
    enrolled_at: datetime
    pending_balance: int = 0
    pending_matured: int = 0
    held_balance: int = 0
    held_lapsed: int = 0
    held_lapsed_returnable: int = 0
    birth_date: date | None = None
    tier_grace_until: datetime | None = None

    @property
    def available_points(self) -> int:
        """Points the member can spend now: the wallet plus matured, not yet released, pending points,
        plus the points of lapsed, not yet voided, holds that go back to the wallet."""
        return self.points_balance + self.pending_matured + self.held_lapsed_returnable

    @property
    def pending_points(self) -> int:
        """Points earned but not yet available (their date has not come)."""
        return self.pending_balance - self.pending_matured

    @property
    def held_points(self) -> int:
        """Points reserved by holds that can still be captured."""
        return self.held_balance - self.held_lapsed


@dataclass(frozen=True)
class IdentityRow:
    """One identity of a member."""

    member_id: int
    kind: IdentityKind
    namespace: str
    value: str
    created_at: datetime


_MEMBER_COLUMNS = (
    member_table.c.id,
    member_table.c.status,
    member_table.c.tier_code,
    member_table.c.growth_value,
    member_table.c.points_balance,
    member_table.c.enrolled_format,
    member_table.c.enrolled_at,
    member_table.c.pending_balance,
    member_table.c.held_balance,
    member_table.c.birth_date,
    member_table.c.tier_grace_until,
)


def member_from_row(row: object) -> MemberRow:
    """Build a :class:`MemberRow` from a result row with the member columns."""
    mapping = row._mapping  # type: ignore[attr-defined]
    return MemberRow(
        id=int(mapping["id"]),
        status=mapping["status"],
        tier_code=mapping["tier_code"],
        growth_value=int(mapping["growth_value"]),
        points_balance=int(mapping["points_balance"]),
        enrolled_format=mapping["enrolled_format"],
        enrolled_at=mapping["enrolled_at"],
        pending_balance=int(mapping["pending_balance"]),
        pending_matured=int(mapping.get("pending_matured") or 0),
        held_balance=int(mapping["held_balance"]),
        held_lapsed=int(mapping.get("held_lapsed") or 0),
        held_lapsed_returnable=int(mapping.get("held_lapsed_returnable") or 0),
        birth_date=mapping.get("birth_date"),
        tier_grace_until=mapping.get("tier_grace_until"),
    )


def member_select():  # type: ignore[no-untyped-def]
    """A SELECT of the member columns, to be filtered by the caller."""
    return select(*_MEMBER_COLUMNS)


def _matured_pending(now: Any) -> Label[Any]:
    """Per member row: pending points whose ``available_at`` has passed (a correlated subquery)."""
    return (
        select(func.coalesce(func.sum(lot_table.c.remaining), 0))
        .where(
            (lot_table.c.member_id == member_table.c.id)
            & lot_table.c.pending
            & (lot_table.c.available_at <= now)
        )
        .correlate(member_table)
        .scalar_subquery()
        .label("pending_matured")
    )


def _lapsed_holds(now: Any) -> tuple[Label[Any], Label[Any]]:
    """Per member row: points of holds past their time still ``held``, and how many of them
    come from lots not expired at ``now`` (what voiding them returns to the wallet). Correlated
    subqueries that cost nothing for a member without holds."""
    lapsed = (hold_table.c.member_id == member_table.c.id) & (hold_table.c.status == "held") & (
        hold_table.c.expires_at <= now
    )
    held = (
        select(func.coalesce(func.sum(hold_table.c.points), 0))
        .where(lapsed)
        .correlate(member_table)
        .scalar_subquery()
        .label("held_lapsed")
    )
    returnable = (
        select(func.coalesce(func.sum(lot_consumption_table.c.points), 0))
        .select_from(
            hold_table.join(lot_consumption_table, lot_consumption_table.c.posting_id == hold_table.c.hold_posting_id).join(
                lot_table, lot_table.c.id == lot_consumption_table.c.lot_id
            )
        )
        .where(lapsed & (lot_table.c.expires_at > now))
        .correlate(member_table)
        .scalar_subquery()
        .label("held_lapsed_returnable")
    )
    return held, returnable


@functools.cache
def _members_query() -> Any:
    """The statement of :func:`get_members`, built once: ``member_ids`` (expanding) and ``now`` are bound per call."""
    now = bindparam("now", type_=lot_table.c.available_at.type)
    asked = member_table.alias("asked")
    return (
        member_select()
        .add_columns(asked.c.id.label("asked_id"), _matured_pending(now), *_lapsed_holds(now))
        .select_from(asked.join(member_table, member_table.c.id == func.coalesce(asked.c.merged_into_id, asked.c.id)))
        .where(asked.c.id.in_(bindparam("member_ids", expanding=True, type_=member_table.c.id.type)))
    )


async def get_members(conn: AsyncConnection, member_ids: Sequence[int], *, now: datetime) -> list[MemberRow | None]:
    """Members by id in one query, in the order asked, ``None`` for unknown ids.

    The same statement sums each member's matured pending points and lapsed holds as of ``now``,
    so balances read true before any write has released or voided them. The id of a member
    merged into another resolves to the survivor, in the same statement (``gateway.merge``).
    When some asked member has lapsed holds that return points, two or three more queries (for
    the whole batch) subtract what their voids will reclaim for refunds
    (:func:`gateway.ledger.reclaim.lapsed_holds_reclaim`).
    """
    rows = (await conn.execute(_members_query(), {"member_ids": sorted(set(member_ids)), "now": now})).all()
    by_id = {row.asked_id: member_from_row(row) for row in rows}
    returning = {member.id for member in by_id.values() if member.held_lapsed_returnable > 0}
    if returning:
        reclaimed = await lapsed_holds_reclaim(conn, sorted(returning), now=now)
        by_id = {
            asked_id: replace(member, held_lapsed_returnable=member.held_lapsed_returnable - reclaimed.get(member.id, 0))
            for asked_id, member in by_id.items()
        }
    return [by_id.get(member_id) for member_id in member_ids]


async def get_identities(conn: AsyncConnection, member_ids: Sequence[int]) -> list[list[IdentityRow]]:
    """Every identity of each member in one query, in the order asked."""
    rows = (
        await conn.execute(
            select(identity_table)
            .where(identity_table.c.member_id.in_(set(member_ids)))
            .order_by(identity_table.c.id)
        )
    ).mappings()
    grouped: dict[int, list[IdentityRow]] = {member_id: [] for member_id in member_ids}
    for row in rows:
        grouped.setdefault(row["member_id"], []).append(
            IdentityRow(
                member_id=row["member_id"],
                kind=IdentityKind(row["kind"]),
                namespace=row["namespace"],
                value=row["value"],
                created_at=row["created_at"],
            )
        )
    return [grouped[member_id] for member_id in member_ids]
