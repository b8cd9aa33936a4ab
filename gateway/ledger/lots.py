"""Lots: when earned points expire, and drawing points from lots first-expiring-first.

Every point that leaves a lot (a redemption, an admin debit, an expiry run) is recorded in
``lot_consumption`` against the posting that took it, so settlement can trace each point to the
format that issued it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from dateutil.relativedelta import relativedelta
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.persistence.models import lot_consumption_table, lot_table, member_table
from gateway.settings import Settings


@dataclass(frozen=True)
class OpenLot:
    """A lot still holding points, as a member sees it; ``pending`` is true until its date has come."""

    format: str
    points: int
    remaining: int
    earned_at: datetime
    available_at: datetime
    expires_at: datetime
    pending: bool


_OPEN_LOTS = (
    select(lot_table)
    .where((lot_table.c.member_id == bindparam("member_id", type_=lot_table.c.member_id.type)) & (lot_table.c.remaining > 0))
    .order_by(lot_table.c.expires_at, lot_table.c.id)
)
"""The statement of :func:`open_lots`, built once; ``member_id`` is bound per call."""


async def open_lots(conn: AsyncConnection, member_id: int, *, now: datetime) -> list[OpenLot]:
    """The member's lots still holding points, first-expiring first (what is spent first). One query.

    A pending lot whose date has passed shows as available even before a write releases it.
    """
    rows = (await conn.execute(_OPEN_LOTS, {"member_id": member_id})).mappings().all()
    return [
        OpenLot(
            format=row["format"],
            points=int(row["points"]),
            remaining=int(row["remaining"]),
            earned_at=row["earned_at"],
            available_at=row["available_at"],
            expires_at=row["expires_at"],
            pending=bool(row["pending"]) and row["available_at"] > now,
        )
        for row in rows
    ]


def lot_expires_at(settings: Settings, earned_at: datetime) -> datetime:
    """When points earned at ``earned_at`` expire, by the group's expiry policy (UTC).

    - ``rolling_months``: N months after earning (Jan 31 + 1 month is Feb 28/29).
    - ``end_of_month``: at the end of the Nth month after the month earned (N = 0: this month).
    - ``end_of_year``: at the end of Dec 31 of the year earned + N.

    Month and year ends are midnight in the group's time zone (``settings.timezone``); a lot is
    expired from ``expires_at`` on.
    """
    n = settings.points_expiry_n
    if settings.points_expiry_policy == "rolling_months":
        return (earned_at + relativedelta(months=n)).astimezone(UTC)
    local = earned_at.astimezone(settings.zone)
    if settings.points_expiry_policy == "end_of_month":
        end = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + relativedelta(months=n + 1)
    else:
        end = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0) + relativedelta(years=n + 1)
    # Rebuild from the wall-clock fields so a DST change between earning and expiry cannot shift it.
    return datetime(end.year, end.month, end.day, tzinfo=settings.zone).astimezone(UTC)


async def spend_points(
    conn: AsyncConnection, member_id: int, points: int, *, into_held: bool = False
) -> tuple[int, list[tuple[int, int]]] | None:
    """Debit ``points`` from the member's wallet without overdraft and pick the lots that pay them.

    The one guarded debit of redemptions, offsets and holds: ``UPDATE ... WHERE points_balance >=
    points RETURNING`` lets exactly as many concurrent spends through as the balance covers, then
    :func:`draw_lots` names the lots, first-expiring-first. ``into_held`` moves the points to
    ``member.held`` instead (a hold). Returns ``(balance_after, draws)``, or ``None`` when the
    wallet holds too little (the caller raises its own ``INSUFFICIENT_POINTS``); writes nothing then.
    """
    values = {"points_balance": member_table.c.points_balance - points}
    if into_held:
        values["held_balance"] = member_table.c.held_balance + points
    balance_after = await conn.scalar(
        update(member_table)
        .where((member_table.c.id == member_id) & (member_table.c.points_balance >= points))
        .values(values)
        .returning(member_table.c.points_balance)
    )
    if balance_after is None:
        return None
    return int(balance_after), await draw_lots(conn, member_id, points)


async def draw_lots(conn: AsyncConnection, member_id: int, points: int) -> list[tuple[int, int]]:
    """Which available lots pay ``points``, first-expiring-first: ``[(lot_id, points), ...]``.

    Only lots that are not pending count; they hold exactly the stored wallet balance, so a caller
    that has debited the wallet by a guarded update always finds enough. Lots past their expiry
    date still count until the expiry job (``atrium ledger expire``) posts them away: the job,
    not the redemption, moves expired points to ``group.expiry``, so balance and lots agree at
    every moment.
    """
    query = (
        select(lot_table.c.id, lot_table.c.remaining)
        .where((lot_table.c.member_id == member_id) & (lot_table.c.remaining > 0) & ~lot_table.c.pending)
        .order_by(lot_table.c.expires_at, lot_table.c.id)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    draws: list[tuple[int, int]] = []
    left = points
    for lot_id, remaining in (await conn.execute(query)).all():
        take = min(int(remaining), left)
        draws.append((int(lot_id), take))
        left -= take
        if left == 0:
            return draws
    raise RuntimeError(f"ledger inconsistency: member {member_id}'s lots hold less than the stored balance")


async def consume_lots(conn: AsyncConnection, posting_id: int, draws: list[tuple[int, int]]) -> None:
    """Take each draw's points out of its lot and record the draw against ``posting_id``."""
    if not draws:
        return
    await conn.execute(
        update(lot_table)
        .where(lot_table.c.id == bindparam("lot_id"))
        .values(remaining=lot_table.c.remaining - bindparam("take")),
        [{"lot_id": lot_id, "take": take} for lot_id, take in draws],
    )
    await conn.execute(
        insert(lot_consumption_table),
        [{"posting_id": posting_id, "lot_id": lot_id, "points": take} for lot_id, take in draws],
    )
