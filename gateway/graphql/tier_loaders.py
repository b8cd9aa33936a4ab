"""Per-request loaders of tier data: members' standings (for progress) and tier histories, batched (no N+1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from strawberry.dataloader import DataLoader

from gateway.core import Core
from gateway.tier_history import TierHistoryRow, tier_histories
from gateway.tier_qualification import standings
from gateway.tiers import Standing, current_ladder


@dataclass(frozen=True)
class MemberStanding:
    """A member's standing now and the part of it that still counts at the next evaluation."""

    now: Standing
    at_next_evaluation: Standing
    window_start: datetime
    next_evaluation: datetime


@dataclass(frozen=True)
class TierHistoryKey:
    """Which member's history, and how many changes of it."""

    member_id: int
    first: int


def tier_standing_loader(core: Core, clock: Callable[[], datetime]) -> DataLoader[int, MemberStanding]:
    """Standings of many members in one aggregate: the window ending now and the one ending at the next evaluation."""

    async def load(ids: Sequence[int]) -> list[MemberStanding]:
        ladder = await current_ladder(core)
        now, zone = clock(), core.settings.zone
        window_start = ladder.policy.window_start(now, zone)
        next_evaluation = ladder.policy.next_evaluation(now, zone)
        kept_from = ladder.policy.window_start(next_evaluation, zone)
        async with core.db.read() as conn:
            found = await standings(conn, member_ids=list(ids), since=[window_start, kept_from])
        empty = (Standing(), Standing())
        return [
            MemberStanding(*found.get(member_id, empty), window_start=window_start, next_evaluation=next_evaluation)
            for member_id in ids
        ]

    return DataLoader(load_fn=load)


def tier_history_loader(core: Core) -> DataLoader[TierHistoryKey, list[TierHistoryRow]]:
    """Tier histories of many members in one statement (the largest ``first`` asked, cut per key)."""

    async def load(keys: Sequence[TierHistoryKey]) -> list[list[TierHistoryRow]]:
        first = max(key.first for key in keys)
        async with core.db.read() as conn:
            found = await tier_histories(conn, sorted({key.member_id for key in keys}), first=first)
        return [found.get(key.member_id, [])[: key.first] for key in keys]

    return DataLoader(load_fn=load)
