"""Upgrades at once: the tier an earn leaves a member in, decided inside the earn's transaction.

The earn has locked the member row; one aggregate (:func:`standing_before_earn`) reads the
member's standing over the window ending now, the earn's own growth (and format) is added when
its activity falls in the window, and the ladder says whether that reaches a higher tier. A
member already at the top needs no statement. An earn never downgrades: that is evaluation's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.plugin_api import Activity, TierInfo
from gateway.tier_history import (
    TierChangeSource,
    change_reason,
    history_row,
    write_tier_changes,
)
from gateway.tier_qualification import standing_before_earn
from gateway.tiers import Ladder, Standing


@dataclass(frozen=True)
class EarnTier:
    """The member's tier before and after an earn, and the standing that decided it (``None``: not read, at the top)."""

    before: TierInfo
    after: TierInfo
    standing: Standing | None
    window_months: int

    @property
    def changed(self) -> bool:
        """Whether the earn upgraded the member."""
        return self.after.code != self.before.code

    @property
    def reason(self) -> str:
        """Why the tier changed, for the history and the plugins."""
        return change_reason(self.before, self.after, self.standing or Standing(), self.window_months)

    def member_values(self, now: datetime) -> dict[str, Any]:
        """Columns the earn's update of the member row sets: the tier; after an upgrade, no grace, decided now."""
        return {"tier_code": self.after.code, **({"tier_grace_until": None, "tier_decided_at": now} if self.changed else {})}


async def tier_after_earn(
    conn: AsyncConnection, ladder: Ladder, zone: tzinfo, member_id: int, tier: TierInfo, *, activity: Activity, growth: int, now: datetime
) -> EarnTier:
    """The tier after an earn of ``growth`` for ``activity`` by a member (row locked) now in ``tier``."""
    policy = ladder.policy
    if tier.rank >= ladder.top.rank:
        return EarnTier(tier, tier, None, policy.window_months)
    since = policy.window_start(now, zone)
    before, seen = await standing_before_earn(conn, member_id, since=since, format_code=activity.format)
    counts = activity.occurred_at >= since
    standing = Standing(
        growth=before.growth + (growth if counts else 0),
        formats=before.formats + (1 if counts and not seen else 0),
    )
    return EarnTier(tier, ladder.after_earning(tier, standing), standing, policy.window_months)


async def write_earn_tier_change(conn: AsyncConnection, tier: EarnTier, *, member_id: int, posting_id: int, now: datetime) -> None:
    """Record an upgrade in the member's tier history (nothing when the tier stayed)."""
    if tier.changed:
        row = history_row(
            member_id,
            tier.before,
            tier.after,
            source=TierChangeSource.EARN,
            reason=tier.reason,
            standing=tier.standing or Standing(),
            at=now,
            posting_id=posting_id,
        )
        await write_tier_changes(conn, [row])
