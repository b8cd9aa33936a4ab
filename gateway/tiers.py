"""The tier ladder: which tier a growth value earns, its multiplier, and the way to the next one."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.persistence.models import tier_table
from gateway.plugin_api import TierInfo


@dataclass(frozen=True)
class TierProgress:
    """Where a member stands: current tier, next tier and the growth value still needed."""

    current: TierInfo
    next: TierInfo | None
    growth_value: int
    growth_to_next: int | None


class Ladder:
    """The group's tiers in rank order; loaded once per app and kept in memory."""

    def __init__(self, tiers: list[TierInfo]) -> None:
        if not tiers:
            raise ValueError("the tier ladder is empty: run the migrations")
        self.tiers = sorted(tiers, key=lambda tier: tier.rank)
        self._by_code = {tier.code: tier for tier in self.tiers}
        if self.tiers[0].threshold != 0:
            raise ValueError("the lowest tier must start at growth value 0")

    def __contains__(self, code: str) -> bool:
        return code in self._by_code

    def get(self, code: str) -> TierInfo:
        """The tier with ``code``; a stored code always exists (foreign key)."""
        return self._by_code[code]

    @property
    def entry(self) -> TierInfo:
        """The tier new members start in."""
        return self.tiers[0]

    def for_growth(self, growth_value: int) -> TierInfo:
        """The highest tier whose threshold ``growth_value`` reaches."""
        reached = self.tiers[0]
        for tier in self.tiers:
            if growth_value >= tier.threshold:
                reached = tier
        return reached

    def after_earning(self, current: TierInfo, growth_value: int) -> TierInfo:
        """The tier after an earn: upgrades happen at once, downgrades only at evaluation."""
        reached = self.for_growth(growth_value)
        return reached if reached.rank > current.rank else current

    def next_above(self, tier: TierInfo) -> TierInfo | None:
        """The tier right above ``tier``, or ``None`` at the top."""
        higher = [t for t in self.tiers if t.rank > tier.rank]
        return higher[0] if higher else None

    def progress(self, tier_code: str, growth_value: int) -> TierProgress:
        """Current tier, next tier and how much growth value the member still needs for it."""
        current = self.get(tier_code)
        upcoming = self.next_above(current)
        needed = max(upcoming.threshold - growth_value, 0) if upcoming else None
        return TierProgress(current=current, next=upcoming, growth_value=growth_value, growth_to_next=needed)

    def at_least(self, tier_code: str, minimum_code: str) -> bool:
        """Whether ``tier_code`` ranks at or above ``minimum_code``."""
        return self.get(tier_code).rank >= self.get(minimum_code).rank


async def load_ladder(conn: AsyncConnection) -> Ladder:
    """Read the ladder from the database."""
    rows = (await conn.execute(select(tier_table).order_by(tier_table.c.rank))).mappings().all()
    return Ladder(
        [
            TierInfo(
                code=row["code"],
                name=row["name"],
                rank=row["rank"],
                threshold=int(row["threshold"]),
                multiplier=Decimal(str(row["multiplier"])).normalize(),
            )
            for row in rows
        ]
    )
