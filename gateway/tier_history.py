"""Every change of a member's tier is written down: from, to, why, and the qualifying activity then.

Writers (an earn, an evaluation, an admin assignment, a merge) call :func:`history_row` /
:func:`write_tier_changes` in the transaction that changes ``member.tier_code``, and tell the
plugins (``core.host.notify_tier_change``) after it commits. :func:`tier_histories` reads the
newest changes of many members in one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.persistence.models import member_table
from gateway.persistence.tier_tables import member_tier_history_table
from gateway.plugin_api import TierInfo
from gateway.tiers import Standing


class TierChangeSource(str, Enum):
    """What changed a member's tier."""

    EARN = "earn"
    EVALUATION = "evaluation"
    ADMIN = "admin"
    MERGE = "merge"


@dataclass(frozen=True)
class TierHistoryRow:
    """One recorded change of a member's tier."""

    id: int
    member_id: int
    from_tier: str
    to_tier: str
    source: TierChangeSource
    reason: str
    qualifying_growth: int
    formats: int
    posting_id: int | None
    actor: str | None
    at: datetime


def history_row(
    member_id: int,
    previous: TierInfo,
    current: TierInfo,
    *,
    source: TierChangeSource,
    reason: str,
    standing: Standing,
    at: datetime,
    posting_id: int | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """The values of one ``member_tier_history`` row."""
    return {
        "member_id": member_id,
        "from_tier": previous.code,
        "to_tier": current.code,
        "source": source.value,
        "reason": reason[:500],
        "qualifying_growth": standing.growth,
        "formats": standing.formats,
        "posting_id": posting_id,
        "actor": actor[:128] if actor else None,
        "at": at,
    }


async def write_tier_changes(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert history rows (one statement) in the caller's transaction."""
    if rows:
        await conn.execute(insert(member_tier_history_table), list(rows))


def change_reason(previous: TierInfo, current: TierInfo, standing: Standing, window_months: int) -> str:
    """A reason a member can read, e.g. ``Up to Gold: 6,120 growth value in 2 formats over 12 months``."""
    direction = "Up" if current.rank > previous.rank else "Down"
    formats = f" in {standing.formats} format{'' if standing.formats == 1 else 's'}" if standing.formats else ""
    return f"{direction} to {current.name}: {standing.growth:,} growth value{formats} over {window_months} months"


async def tier_histories(conn: AsyncConnection, member_ids: Sequence[int], *, first: int) -> dict[int, list[TierHistoryRow]]:
    """The newest ``first`` tier changes of each member, newest first (one statement).

    A member's history includes the changes of every member record merged into it (rows are
    never moved: each keeps the record whose tier changed, in ``member_id``), like its postings.
    """
    table = member_tier_history_table
    if not member_ids:
        return {}
    owner = func.coalesce(member_table.c.merged_into_id, member_table.c.id)
    records = select(member_table.c.id).where(
        member_table.c.id.in_(member_ids) | member_table.c.merged_into_id.in_(member_ids)
    )
    ranked = (
        select(
            table,
            owner.label("owner_id"),
            func.row_number().over(partition_by=owner, order_by=table.c.id.desc()).label("position"),
        )
        .select_from(table.join(member_table, member_table.c.id == table.c.member_id))
        .where(table.c.member_id.in_(records))
        .subquery()
    )
    query = select(ranked).where(ranked.c.position <= first).order_by(ranked.c.owner_id, ranked.c.id.desc())
    found: dict[int, list[TierHistoryRow]] = {member_id: [] for member_id in member_ids}
    for row in (await conn.execute(query)).mappings():
        found.setdefault(int(row["owner_id"]), []).append(
            TierHistoryRow(
                id=int(row["id"]),
                member_id=int(row["member_id"]),
                from_tier=row["from_tier"],
                to_tier=row["to_tier"],
                source=TierChangeSource(row["source"]),
                reason=row["reason"],
                qualifying_growth=int(row["qualifying_growth"]),
                formats=int(row["formats"]),
                posting_id=row["posting_id"],
                actor=row["actor"],
                at=row["at"],
            )
        )
    return found
