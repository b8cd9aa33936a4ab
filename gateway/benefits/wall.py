"""The member's benefits wall: every benefit of every format, unlocked or locked and why, with this period's usage.

The catalogue comes from memory (plugins) and the configuration cache (shared benefits); the
usage of every quota'd benefit comes from one read of the member's counters since the earliest
current period start (:func:`read_counters`, batched over members by the GraphQL data loader).
Benefits whose validity has ended, whose tier the ladder no longer has, or that were retired are
left off; benefits not valid yet are shown locked, so members see what is coming.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.benefits.catalogue import BenefitDefinition
from gateway.benefits.eligibility import Lock, lock_of
from gateway.benefits.periods import period_bounds
from gateway.persistence.benefit_tables import benefit_counter_table
from gateway.tiers import Ladder

Counters = Mapping[tuple[str, datetime], int]
"""Uses by ``(benefit id, period start)`` of one member."""


@dataclass(frozen=True)
class QuotaUsage:
    """How much of a quota the member used in the current period, and when it resets."""

    count: int
    period: str
    used: int
    period_start: datetime
    resets_at: datetime

    @property
    def remaining(self) -> int:
        """Uses left in the period (never negative, even if the quota was lowered meanwhile)."""
        return max(self.count - self.used, 0)


@dataclass(frozen=True)
class WallEntry:
    """One benefit as one member sees it."""

    benefit: BenefitDefinition
    lock: Lock | None
    usage: QuotaUsage | None

    @property
    def unlocked(self) -> bool:
        """Whether the member can use it now (quota aside)."""
        return self.lock is None


async def read_counters(conn: AsyncConnection, member_ids: Sequence[int], since: datetime) -> dict[int, dict[tuple[str, datetime], int]]:
    """Counters of ``member_ids`` for periods starting at or after ``since``, by member (one statement)."""
    counter = benefit_counter_table
    rows = (
        await conn.execute(
            select(counter.c.member_id, counter.c.benefit, counter.c.period_start, counter.c.used).where(
                counter.c.member_id.in_(list(member_ids)) & (counter.c.period_start >= since)
            )
        )
    ).all()
    found: dict[int, dict[tuple[str, datetime], int]] = {member_id: {} for member_id in member_ids}
    for member_id, benefit, start, used in rows:
        found[member_id][(benefit, start)] = int(used)
    return found


def needs_counters(catalogue: Sequence[BenefitDefinition]) -> bool:
    """Whether any benefit has a quota, i.e. whether the wall must read counters at all."""
    return any(benefit.quota is not None for benefit in catalogue)


def benefit_wall(
    catalogue: Sequence[BenefitDefinition],
    *,
    tier_code: str,
    birth_date: date | None,
    counters: Counters,
    ladder: Ladder,
    now: datetime,
    zone: ZoneInfo,
) -> list[WallEntry]:
    """The wall of a member in ``tier_code`` born on ``birth_date``: by unlocking tier, then format and code."""
    entries = []
    for benefit in catalogue:
        if benefit.min_tier not in ladder or (benefit.valid_until is not None and now >= benefit.valid_until):
            continue
        usage = None
        if benefit.quota is not None:
            bounds = period_bounds(benefit.quota.period, now, zone)
            usage = QuotaUsage(
                count=benefit.quota.count,
                period=benefit.quota.period,
                used=counters.get((benefit.id, bounds.start), 0),
                period_start=bounds.start,
                resets_at=bounds.end,
            )
        lock = lock_of(benefit, tier_code=tier_code, birth_date=birth_date, ladder=ladder, now=now, zone=zone)
        entries.append(WallEntry(benefit=benefit, lock=lock, usage=usage))
    entries.sort(key=lambda entry: (ladder.get(entry.benefit.min_tier).rank, entry.benefit.format, entry.benefit.code))
    return entries
