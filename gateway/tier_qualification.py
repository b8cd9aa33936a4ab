"""Qualifying activity from the ledger: a member's growth value and formats over a window, in one aggregate.

A member's standing counts the postings of the member and of every member record merged into
it (merge chains are one hop long), except the ``merge`` postings themselves (the merged record's
own postings count, at their own dates). A posting counts when its **activity date** is in the
window: ``occurred_at``, or for a refund (a posting that ``reverses`` another) the date of the
activity it refunds, so refunding a purchase from before the window does not eat into the
window's growth. Formats are those of ``earn`` postings in the window.

Every function issues exactly one statement, whatever the number of members or bounds.

**Growth in any window is at most the stored growth value.** For a member ``S`` (not merged away),
write ``R(S)`` for ``S`` and the records merged into it. Then:

1. ``S.growth_value`` is the sum of ``growth`` over the postings of ``R(S)`` other than ``merge``
   postings: an earn adds its growth to its posting and to the row, a refund subtracts its growth
   from both (:mod:`gateway.ledger.reverse`), and a merge moves the merged record's growth value
   (by induction, the sum over its own records) onto the survivor with a ``merge`` posting, while
   the merged records join ``R(S)`` (chains are flattened) and keep 0. Nothing else writes growth:
   every other kind of posting has ``growth = 0``.
2. Those postings come in groups, one per activity: an earn with growth ``g >= 0`` (earn rules
   may not return negative growth, :func:`gateway.ledger.earn_points.rule_lines`) and the refunds
   that reverse it, whose growth together is at least ``-g``: refund ``k`` takes at most
   ``max(floor(g * share_k) - due so far, 0)`` with ``share_k <= 1`` never decreasing
   (:func:`gateway.ledger.reverse.share_after`), so the dues add up to ``floor(g * last share) <= g``.
   Every group's net growth is therefore ``>= 0``.
3. A refund counts at the date of the activity it refunds, so a group lies wholly inside or
   wholly outside any window ``[since, ...)``.

So ``S.growth_value - window growth`` is the sum of the net growth of the groups outside the
window: never negative. :func:`gateway.tier_upgrade.upgrade_out_of_reach` relies on it to skip the
window's aggregate when even the growth value cannot reach a higher tier; a property test
(``tests/test_window_growth_bound.py``) checks it over random earns, back-dated sales, refunds and
merges. Should a new kind of posting carry growth (an admin growth adjustment, say), it must keep
each group's net growth non-negative, or that shortcut must go.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, case, func, select
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


def _query(
    owners: ColumnElement[bool], since: Sequence[Any], until: datetime | None, extra: Sequence[Any] = (), floor: Any = None
) -> Any:
    """The standings aggregate; ``floor`` (default: the earliest of ``since``) bounds the postings read."""
    query = (
        select(_owner.label("owner_id"), *_aggregates(since), *extra)
        .select_from(
            _member.join(_posting, _posting.c.member_id == _member.c.id).outerjoin(
                _original, _original.c.id == _posting.c.reverses_posting_id
            )
        )
        .where(owners, _counts, _activity_date >= (min(since) if floor is None else floor))
        .group_by(_owner)
    )
    if until is not None:
        query = query.where(_posting.c.occurred_at < until)
    return query


@functools.cache
def _members_query(bounds: int, bounded: bool) -> Any:
    """:func:`_query` for named members, built once per shape: ``member_ids`` (expanding), ``since_<n>``,
    ``since_min`` and ``until`` are bound per call, so a dashboard does not rebuild the statement."""
    since = [bindparam(f"since_{n}", type_=_posting.c.occurred_at.type) for n in range(bounds)]
    member_ids = bindparam("member_ids", expanding=True, type_=_member.c.id.type)
    owners = ((_member.c.merged_into_id.is_(None)) & _member.c.id.in_(member_ids)) | _member.c.merged_into_id.in_(member_ids)
    query = _query(owners, since, None, floor=bindparam("since_min", type_=_posting.c.occurred_at.type))
    if bounded:
        query = query.where(_posting.c.occurred_at < bindparam("until", type_=_posting.c.occurred_at.type))
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
        params: dict[str, Any] = {f"since_{n}": bound for n, bound in enumerate(since)}
        params.update(member_ids=list(member_ids), since_min=min(since), until=until)
        statement = _members_query(len(since), until is not None)
        rows = (await conn.execute(statement, params)).mappings().all()
        return {int(row["owner_id"]): _standings(row, len(since)) for row in rows}
    if id_range is None:
        raise ValueError("name the members: member_ids or id_range")
    rows = (await conn.execute(_query(_owned_in_range(*id_range), since, until))).mappings().all()
    return {int(row["owner_id"]): _standings(row, len(since)) for row in rows}


def _before_earn_query() -> Any:
    """The statement of :func:`standing_before_earn`, built once: ``member_id``, ``since`` and ``format_code`` are bound per call."""
    member_id = bindparam("member_id", type_=_member.c.id.type)
    since = bindparam("since", type_=_posting.c.occurred_at.type)
    format_code = bindparam("format_code", type_=_posting.c.format.type)
    owners = ((_member.c.merged_into_id.is_(None)) & (_member.c.id == member_id)) | (_member.c.merged_into_id == member_id)
    earned_here = (_activity_date >= since) & (_posting.c.kind == "earn") & (_posting.c.format == format_code)
    seen = func.coalesce(func.sum(case((earned_here, 1), else_=0)), 0).label("seen")
    return _query(owners, [since], None, [seen])


_BEFORE_EARN = _before_earn_query()


async def standing_before_earn(conn: AsyncConnection, member_id: int, *, since: datetime, format_code: str) -> tuple[Standing, bool]:
    """The member's standing since ``since`` before an earn in ``format_code``, and whether it already earned in that format then."""
    params = {"member_id": member_id, "since": since, "format_code": format_code}
    row = (await conn.execute(_BEFORE_EARN, params)).mappings().first()
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
