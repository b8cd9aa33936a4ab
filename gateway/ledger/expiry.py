"""Expiring points: the ``atrium ledger expire`` job, and what a member will lose month by month.

The job expires every lot whose ``expires_at`` has come and that still holds points, one member
per write transaction: it locks the member, re-reads the member's expired lots under the lock and
posts one ``expire`` posting moving their points (from the wallet, or from ``member.pending`` for
lots still pending) to ``group.expiry``, recording a ``lot_consumption`` row per lot so
settlement can trace expired points to their issuer.

Why it is idempotent, also with two runs at once: the lock serialises the runs on each member and
the re-read under it sees the lots the other run already emptied, so the second run finds nothing
to do. As a second line, the posting's idempotency key names the member and its first expired
lot; a lot is emptied by expiry at most once, so a double expiry would break the unique key and
roll back rather than post twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dateutil.relativedelta import relativedelta
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core import Core
from gateway.ledger.holds import catch_up
from gateway.ledger.lots import consume_lots
from gateway.ledger.postings import (
    MemberRef,
    insert_entries,
    insert_posting,
    lock_member,
    request_hash,
)
from gateway.notices import notifying_write
from gateway.persistence.models import (
    EXPIRY,
    GROUP_FORMAT,
    PENDING,
    WALLET,
    lot_table,
    member_table,
)
from gateway.settings import Settings

EXPIRE_SCOPE = "expire"
MAX_EXPIRING_MONTHS = 60


@dataclass(frozen=True)
class MemberExpiry:
    """What one member lost in a run: available points, pending points, the lots and the posting."""

    member_id: int
    posting_id: int
    points: int
    pending_points: int
    lots: int

    @property
    def total(self) -> int:
        """Every point expired for the member."""
        return self.points + self.pending_points


@dataclass(frozen=True)
class ExpiryReport:
    """What a run of the expiry job did, member by member."""

    now: datetime
    members: list[MemberExpiry] = field(default_factory=list)

    @property
    def points(self) -> int:
        """Every point the run expired."""
        return sum(member.total for member in self.members)


async def expire_points(core: Core, *, now: datetime) -> ExpiryReport:
    """Expire every lot past its date that still holds points, one member per transaction.

    Safe to run again, or twice at once: a lot is expired once (see the module docstring).
    Frozen members' points expire too.
    """
    now = now.astimezone(UTC)
    async with core.db.read() as conn:
        due = (
            await conn.execute(
                select(lot_table.c.member_id)
                .where((lot_table.c.expires_at <= now) & (lot_table.c.remaining > 0))
                .distinct()
                .order_by(lot_table.c.member_id)
            )
        ).scalars().all()
    report = ExpiryReport(now=now)
    for member_id in due:
        expired = await _expire_member(core, int(member_id), now=now)
        if expired is not None:
            report.members.append(expired)
    return report


async def _expire_member(core: Core, member_id: int, *, now: datetime) -> MemberExpiry | None:
    async with notifying_write(core) as conn:
        member = await lock_member(conn, MemberRef(member_id=member_id))
        member = await catch_up(core, conn, member, now=now)
        query = (
            select(lot_table.c.id, lot_table.c.format, lot_table.c.remaining, lot_table.c.pending)
            .where((lot_table.c.member_id == member_id) & (lot_table.c.expires_at <= now) & (lot_table.c.remaining > 0))
            .order_by(lot_table.c.expires_at, lot_table.c.id)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        lots = (await conn.execute(query)).all()
        if not lots:
            return None
        available = sum(int(lot.remaining) for lot in lots if not lot.pending)
        pending = sum(int(lot.remaining) for lot in lots if lot.pending)
        by_format: dict[str, int] = {}
        for lot in lots:
            by_format[lot.format] = by_format.get(lot.format, 0) + int(lot.remaining)
        formats = core.registry.formats
        balance_after = member.points_balance - available
        values = {
            "member_id": member_id,
            "kind": "expire",
            "format": next(iter(by_format)) if len(by_format) == 1 else GROUP_FORMAT,
            "idempotency_scope": EXPIRE_SCOPE,
            "idempotency_key": f"{member_id}:{lots[0].id}",
            "request_hash": request_hash({"lots": [[lot.id, int(lot.remaining)] for lot in lots]}),
            "points": -available,
            "growth": 0,
            "balance_after": balance_after,
            "tier_before": member.tier_code,
            "tier_after": member.tier_code,
            "reason": f"Points expired: -{available + pending} pts" + (f" ({pending} of them pending)" if pending else ""),
            "lines": [
                {
                    "rule": f"expiry.{code}",
                    "points": -points,
                    "growth": 0,
                    "reason": f"{formats[code].name if code in formats else code} points past their expiry date",
                }
                for code, points in by_format.items()
            ],
            "details": {"lots": [int(lot.id) for lot in lots]},
            "occurred_at": now,
            "created_at": now,
        }
        posting_id = await insert_posting(conn, values)
        await insert_entries(
            conn, posting_id, [(WALLET, member_id, -available), (PENDING, member_id, -pending), (EXPIRY, None, available + pending)]
        )
        await consume_lots(conn, posting_id, [(int(lot.id), int(lot.remaining)) for lot in lots])
        moved = await conn.scalar(
            update(member_table)
            .where(
                (member_table.c.id == member_id)
                # A member in debt (gateway.ledger.debt) has a negative wallet and only pending lots.
                & ((member_table.c.points_balance >= available) | (available == 0))
                & (member_table.c.pending_balance >= pending)
            )
            .values(
                points_balance=member_table.c.points_balance - available,
                pending_balance=member_table.c.pending_balance - pending,
            )
            .returning(member_table.c.id)
        )
        if moved is None:
            raise RuntimeError(f"ledger inconsistency: member {member_id}'s expired lots hold more than its balances")
        return MemberExpiry(member_id, posting_id, available, pending, len(lots))


def _month_start(moment: datetime, settings: Settings) -> datetime:
    local = moment.astimezone(settings.zone)
    return datetime(local.year, local.month, 1, tzinfo=settings.zone)


async def expiring_by_month(
    conn: AsyncConnection, settings: Settings, member_id: int, *, now: datetime, months: int
) -> list[tuple[str, int]]:
    """``[("2027-03", points), ...]``: points the member loses in each of the next ``months`` months.

    One query. Months are counted in the group's time zone from the current one, and a lot
    belongs to the month of its last valid instant (a lot expiring at midnight on April 1 is lost
    "in March"). Months without expiring points are left out. Points already past their date but
    not yet taken by the expiry job count in the current month; pending points count too.
    """
    start = _month_start(now, settings)
    end = start + relativedelta(months=months)
    rows = (
        await conn.execute(
            select(lot_table.c.expires_at, lot_table.c.remaining).where(
                (lot_table.c.member_id == member_id)
                & (lot_table.c.remaining > 0)
                & (lot_table.c.expires_at <= end.astimezone(UTC))
            )
        )
    ).all()
    totals: dict[str, int] = {}
    for expires_at, remaining in rows:
        month = max(_month_start(expires_at - timedelta(microseconds=1), settings), start)
        label = f"{month:%Y-%m}"
        totals[label] = totals.get(label, 0) + int(remaining)
    return sorted(totals.items())
