"""Upgrades at once: the tier an earn leaves a member in, decided inside the earn's transaction.

The earn has locked the member row; one aggregate (:func:`standing_before_earn`) reads the
member's standing over the window ending now, the earn's own growth (and format) is added when
its activity falls in the window, and the ladder says whether that reaches a higher tier. An earn
never downgrades: that is evaluation's job.

An earn needs no statement at all when no upgrade is in reach (:func:`upgrade_out_of_reach`): a
member at the top, or one whose lifetime growth value after the earn is still below every higher
tier's threshold, cannot be upgraded, because growth in the window never exceeds the growth value (the argument is in
:mod:`gateway.tier_qualification`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

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
    """The member's tier before and after an earn, and the standing that decided it (``None``: not read, no upgrade in reach)."""

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


def upgrade_out_of_reach(ladder: Ladder, tier: TierInfo, growth_value_after: int) -> bool:
    """Whether no earn leaving the member's growth value at ``growth_value_after`` can lift it above ``tier``.

    True at the top, and when ``growth_value_after`` is below the threshold of every higher tier:
    the window's growth after the earn is at most the growth value after it
    (the argument is in :mod:`gateway.tier_qualification`), and a tier is reached
    only when the window's growth meets its threshold (its breadth rule can only make it harder;
    retention thresholds play no part in upgrades). Then the window need not be read.
    """
    higher = [rule.threshold for rule in ladder.rules if rule.rank > tier.rank]
    return not higher or growth_value_after < min(higher)


async def tier_after_earn(
    conn: AsyncConnection,
    ladder: Ladder,
    zone: tzinfo,
    member_id: int,
    tier: TierInfo,
    *,
    activity: Activity,
    growth: int,
    growth_value: int,
    now: datetime,
) -> EarnTier:
    """The tier after an earn of ``growth`` for ``activity`` by a member (row locked) now in ``tier``.

    ``growth_value`` is the member's (stored, lifetime) growth value before the earn: when even
    that plus ``growth`` reaches no higher tier, no statement is issued (:func:`upgrade_out_of_reach`).
    """
    policy = ladder.policy
    if upgrade_out_of_reach(ladder, tier, growth_value + growth):
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
