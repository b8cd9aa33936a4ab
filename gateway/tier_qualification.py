"""Qualifying activity from the ledger: a member's growth value and formats over a window, in one aggregate.

A member's standing counts the postings of the member and of every member record merged into
it (merge chains are one hop long), except the ``merge`` postings themselves (the merged record's
own postings count, at their own dates). A posting counts when its **activity date** is in the
window: ``occurred_at``, or for a refund (a posting that ``reverses`` another) the date of the
activity it refunds, so refunding a purchase from before the window does not eat into the
window's growth. Formats are those of ``earn`` postings in the window.

Every function issues exactly one statement, whatever the number of members or bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.persistence.models import member_table, posting_table
from gateway.tiers import Standing

_posting = posting_table.alias("p")
_original = posting_table.alias("o")
_member = member_table.alias("m")
_owner = func.coalesce(_member.c.merged_into_id, _member.c.id)
_activity_date = func.coalesce(_original.c.occurred_at, _posting.c.occurred_at)
_counts = (_posting.c.kind != "merge") & ((_posting.c.growth != 0) | (_posting.c.kind == "earn"))


def _owned_by(member_ids: Sequence[int]) -> ColumnElement[bool]:
    """Member rows whose postings count for ``member_ids``: themselves and the records merged into them."""
    return ((_member.c.merged_into_id.is_(None)) & _member.c.id.in_(member_ids)) | _member.c.merged_into_id.in_(member_ids)


def _owned_in_range(first: int, last: int) -> ColumnElement[bool]:
    """Member rows whose postings count for members ``first`` to ``last`` (inclusive)."""
    return ((_member.c.merged_into_id.is_(None)) & _member.c.id.between(first, last)) | _member.c.merged_into_id.between(first, last)


def _aggregates(since: Sequence[datetime]) -> list[Any]:
    columns: list[Any] = []
    for n, bound in enumerate(since):
        in_window = _activity_date >= bound
        columns.append(func.coalesce(func.sum(case((in_window, _posting.c.growth), else_=0)), 0).label(f"growth_{n}"))
        earned = case((in_window & (_posting.c.kind == "earn"), _posting.c.format))
        columns.append(func.count(earned.distinct()).label(f"formats_{n}"))
    return columns


def _query(owners: ColumnElement[bool], since: Sequence[datetime], until: datetime | None, extra: Sequence[Any] = ()) -> Any:
    query = (
        select(_owner.label("owner_id"), *_aggregates(since), *extra)
        .select_from(
            _member.join(_posting, _posting.c.member_id == _member.c.id).outerjoin(
                _original, _original.c.id == _posting.c.reverses_posting_id
            )
        )
        .where(owners, _counts, _activity_date >= min(since))
        .group_by(_owner)
    )
    if until is not None:
        query = query.where(_posting.c.occurred_at < until)
    return query


def _standings(row: Any, bounds: int) -> tuple[Standing, ...]:
    return tuple(Standing(int(row[f"growth_{n}"]), int(row[f"formats_{n}"])) for n in range(bounds))


async def standings(
    conn: AsyncConnection,
    *,
    since: Sequence[datetime],
    member_ids: Sequence[int] | None = None,
    id_range: tuple[int, int] | None = None,
    until: datetime | None = None,
) -> dict[int, tuple[Standing, ...]]:
    """Per member (named by ``member_ids`` or an inclusive ``id_range``), its standing for each window start in ``since``.

    Windows end at ``until`` (exclusive; ``None``: now, whatever is recorded). Members without
    qualifying activity are left out: their standing is ``Standing()``.
    """
    if member_ids is not None:
        if not member_ids:
            return {}
        owners = _owned_by(member_ids)
    elif id_range is not None:
        owners = _owned_in_range(*id_range)
    else:
        raise ValueError("name the members: member_ids or id_range")
    rows = (await conn.execute(_query(owners, since, until))).mappings().all()
    return {int(row["owner_id"]): _standings(row, len(since)) for row in rows}


async def standing_before_earn(conn: AsyncConnection, member_id: int, *, since: datetime, format_code: str) -> tuple[Standing, bool]:
    """The member's standing since ``since`` before an earn in ``format_code``, and whether it already earned in that format then."""
    earned_here = (_activity_date >= since) & (_posting.c.kind == "earn") & (_posting.c.format == format_code)
    seen = func.coalesce(func.sum(case((earned_here, 1), else_=0)), 0).label("seen")
    row = (await conn.execute(_query(_owned_by([member_id]), [since], None, [seen]))).mappings().first()
    if row is None:
        return Standing(), False
    return _standings(row, 1)[0], int(row["seen"]) > 0


async def combined_standing(conn: AsyncConnection, member_ids: Sequence[int], *, since: datetime) -> Standing:
    """The standing of several member records taken as one person (a merge): formats counted once."""
    query = (
        select(*_aggregates([since]))
        .select_from(
            _member.join(_posting, _posting.c.member_id == _member.c.id).outerjoin(
                _original, _original.c.id == _posting.c.reverses_posting_id
            )
        )
        .where(_owned_by(member_ids), _counts, _activity_date >= since)
    )
    row = (await conn.execute(query)).mappings().one()
    return _standings(row, 1)[0]
