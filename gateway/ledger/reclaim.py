"""Reclaiming a refunded sale's points when they come back to its lots after the refund.

Under ``refund_policy = "claw_back_available"`` a refund takes what it can of the points due and
records the rest as ``details.unrecovered`` (:mod:`gateway.ledger.reverse`). Points of the
activity that a hold held, or a redemption had spent, at refund time are in that rest. When they
later come back to the activity's lots — the redemption cancelled (:mod:`gateway.ledger.cancel`),
the hold voided, lapsed, or captured in part (:mod:`gateway.ledger.holds`) — they are points of a
refunded sale: the member must not get them back. So every posting that returns points to lots
asks :func:`plan_reclaim` first:

- an activity's **outstanding** unrecovered points are the sum of ``details.unrecovered`` over its
  refunds minus what later postings reclaimed for it (their ``details.reclaimed``);
- points returned to the lots of an activity with outstanding points are reclaimed, up to that
  amount, lot by lot in the order the posting gives them back; the rest returns as usual;
- reclaimed points go to the activity's format issuance account (the account its refunds
  credit), not to the wallet, and the posting records them per activity:
  ``details.reclaimed: [{originalPostingId, points}]``.

Lots. The returning posting gives every returned point back to its lot (a negative
``lot_consumption`` row, as always: it undoes exactly what the redemption or hold drew), then
draws the reclaimed points from the same lot again (:func:`apply_reclaim`: a positive row against
the same posting). ``points − Σ consumption = remaining`` holds, a redemption and its
cancellation (a hold and its settlement) still net to what was really spent or captured, and a
positive row of a ``cancel``, ``void`` or ``capture`` posting means "these points of the lot left
the member back to their issuer", never a redemption at a format.

Reads. A hold past its time that no write has voided yet shows its returnable points as
available (``gateway.members.get_members``); :func:`lapsed_holds_reclaim` tells how many of
them its void will reclaim, so reads stay true without writing.

Cost and locking: one indexed query (the refunds of the activities whose lots get points back)
per returning posting, a second only when one of them has unrecovered points. Refunds, returns
and reclaims of an activity's points all write under the lock of the member holding its lots,
taken first by every write, so the outstanding amount read is the one the posting changes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.ledger.lots import consume_lots
from gateway.persistence.models import (
    hold_table,
    issuance_account,
    lot_consumption_table,
    lot_table,
    posting_table,
)

RETURNING_KINDS = ("cancel", "void", "capture")
"""Kinds of the postings that give points back to lots, hence may reclaim some."""


@dataclass(frozen=True)
class ReturnedDraw:
    """Points a posting gives back to one lot; ``activity_id`` is the posting that issued the lot."""

    lot_id: int
    activity_id: int
    format: str
    points: int


@dataclass(frozen=True)
class Reclaim:
    """What a returning posting takes back instead of returning: per lot, and per activity with its format."""

    by_lot: tuple[tuple[int, int], ...] = ()
    by_activity: tuple[tuple[int, str, int], ...] = ()

    @property
    def points(self) -> int:
        """Every point reclaimed."""
        return sum(points for _, points in self.by_lot)

    def on_lot(self, lot_id: int) -> int:
        """Points reclaimed from ``lot_id``."""
        return sum(points for lot, points in self.by_lot if lot == lot_id)

    def details(self) -> list[dict[str, int]]:
        """``details.reclaimed`` of the posting: ``[{originalPostingId, points}]``, one per activity."""
        return [{"originalPostingId": activity, "points": points} for activity, _, points in self.by_activity]

    def legs(self) -> list[tuple[str, int | None, int]]:
        """The entries crediting each issuing format's issuance account, one per format."""
        by_format: dict[str, int] = defaultdict(int)
        for _, format_code, points in self.by_activity:
            by_format[format_code] += points
        return [(issuance_account(format_code), None, points) for format_code, points in sorted(by_format.items())]


NOTHING = Reclaim()


async def outstanding_unrecovered(conn: AsyncConnection, activity_ids: Iterable[int]) -> dict[int, int]:
    """Per activity of ``activity_ids``, its refunds' unrecovered points not reclaimed yet (only those above 0).

    Call it with the member holding the activities' lots locked. One query by the indexed
    ``reverses_posting_id``; a second, over the postings that drew again from the activities'
    lots, only when some refund left points unrecovered.
    """
    ids = sorted(set(activity_ids))
    if not ids:
        return {}
    refunds = (
        await conn.execute(
            select(posting_table.c.reverses_posting_id, posting_table.c.details).where(
                posting_table.c.reverses_posting_id.in_(ids) & (posting_table.c.kind == "reverse")
            )
        )
    ).all()
    owed: dict[int, int] = defaultdict(int)
    for activity_id, details in refunds:
        owed[int(activity_id)] += int((details or {}).get("unrecovered", 0))
    owed = {activity_id: points for activity_id, points in owed.items() if points > 0}
    if not owed:
        return {}
    # A posting that reclaimed for an activity drew the points again from the activity's lots.
    reclaimers = (
        select(lot_consumption_table.c.posting_id)
        .select_from(lot_consumption_table.join(lot_table, lot_table.c.id == lot_consumption_table.c.lot_id))
        .where(lot_table.c.posting_id.in_(sorted(owed)) & (lot_consumption_table.c.points > 0))
    )
    reclaimed = (
        await conn.execute(
            select(posting_table.c.details).where(
                posting_table.c.id.in_(reclaimers) & posting_table.c.kind.in_(RETURNING_KINDS)
            )
        )
    ).scalars()
    for details in reclaimed:
        for item in _reclaimed_items(details):
            if item[0] in owed:
                owed[item[0]] -= item[1]
    return {activity_id: points for activity_id, points in owed.items() if points > 0}


def _reclaimed_items(details: Any) -> list[tuple[int, int]]:
    return [
        (int(item["originalPostingId"]), int(item["points"]))
        for item in (details or {}).get("reclaimed", [])
    ]


async def plan_reclaim(conn: AsyncConnection, returned: Sequence[ReturnedDraw]) -> Reclaim:
    """Which of the points ``returned`` to lots are reclaimed (module docstring); reads, writes nothing.

    ``returned`` in the order the posting gives them back: an activity's outstanding points are
    taken from its first lots first.
    """
    back = [draw for draw in returned if draw.points > 0]
    if not back:
        return NOTHING
    owed = await outstanding_unrecovered(conn, (draw.activity_id for draw in back))
    if not owed:
        return NOTHING
    by_lot: dict[int, int] = defaultdict(int)
    by_activity: dict[tuple[int, str], int] = defaultdict(int)
    for draw in back:
        take = min(draw.points, owed.get(draw.activity_id, 0))
        if take > 0:
            owed[draw.activity_id] -= take
            by_lot[draw.lot_id] += take
            by_activity[(draw.activity_id, draw.format)] += take
    return Reclaim(
        tuple(by_lot.items()),
        tuple((activity_id, format_code, points) for (activity_id, format_code), points in by_activity.items()),
    )


async def apply_reclaim(conn: AsyncConnection, posting_id: int, reclaim: Reclaim) -> None:
    """Draw the reclaimed points again from their lots, against ``posting_id``, once they were given back.

    Call it right after the posting restored the lots; it costs nothing when nothing is reclaimed.
    """
    await consume_lots(conn, posting_id, list(reclaim.by_lot))


async def lapsed_holds_reclaim(conn: AsyncConnection, member_ids: Sequence[int], *, now: datetime) -> dict[int, int]:
    """Per member, the points its holds past their time, not voided yet, will reclaim when a write voids them.

    For reads (:func:`gateway.members.get_members`): call it only for members whose lapsed holds
    return points at all. The voids settle holds by ``expires_at`` then id, each giving back its
    unexpired lots in expiry order; the same order here gives the same answer.
    """
    if not member_ids:
        return {}
    rows = (
        await conn.execute(
            select(
                hold_table.c.member_id,
                lot_consumption_table.c.lot_id,
                lot_table.c.posting_id,
                lot_table.c.format,
                lot_consumption_table.c.points,
            )
            .select_from(
                hold_table.join(lot_consumption_table, lot_consumption_table.c.posting_id == hold_table.c.hold_posting_id).join(
                    lot_table, lot_table.c.id == lot_consumption_table.c.lot_id
                )
            )
            .where(
                hold_table.c.member_id.in_(sorted(set(member_ids)))
                & (hold_table.c.status == "held")
                & (hold_table.c.expires_at <= now)
                & (lot_table.c.expires_at > now)
            )
            .order_by(hold_table.c.member_id, hold_table.c.expires_at, hold_table.c.id, lot_table.c.expires_at, lot_table.c.id)
        )
    ).all()
    owed = await outstanding_unrecovered(conn, (int(row.posting_id) for row in rows))
    reclaimed: dict[int, int] = defaultdict(int)
    for row in rows:
        take = min(int(row.points), owed.get(int(row.posting_id), 0))
        if take > 0:
            owed[int(row.posting_id)] -= take
            reclaimed[int(row.member_id)] += take
    return dict(reclaimed)
