"""The campaign rules, pure: scope, cross-format check-in, what a campaign adds, and stacking.

Everything here is a function of its arguments (no database, no clock): the earn and the
preview feed it the same facts, so they cannot disagree.

**Dates.** A campaign looks at the activity's time (``occurred_at``, as the till reported it),
not at the time it is recorded: the window ``[starts_at, ends_at)``, the day of the month, the
weekday and the birthday month are all read on that time in the group's time zone
(``settings.timezone``). A purchase made on member day and recorded the next morning still gets
member-day points; one made before a campaign started gets nothing from it.

**Cross-format check-in.** An activity is a cross-format check-in when, in the calendar month of
the activity (group time zone), the member has no earlier recorded earn in the activity's format
but has one in at least one *other* format. So the first format a member uses in a month earns no
check-in bonus; each further format used that month earns it once (its first activity there).
Earns count whatever happened to them later (a refunded purchase still shows the format was used;
the refund claws back the bonus it earned in proportion, like every point of that earn), and so do
the earns of member records merged into the member (one person's activity).

**Multipliers combine additively on the base, never compounding.** The base is what the earn rules
gave. The tier adds ``floor(base × (tier multiplier − 1))``; each campaign adds
``floor(base × (campaign multiplier − 1))``. A Silver member (×1.2) on double-points day earns
``base + 0.2 × base + 1 × base = 2.2 × base``, not ``2.4 × base``. Every term is rounded down on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from gateway.campaigns.model import CampaignConfig, LimitPeriod, Stacking
from gateway.money import apply_multiplier
from gateway.plugin_api import Activity, TierInfo


@dataclass(frozen=True)
class Boost:
    """What one campaign would add to an activity before budget and limits: its three parts."""

    multiplier_bonus: int
    fixed_bonus: int
    cross_format_bonus: int

    @property
    def total(self) -> int:
        """All the points the campaign would add."""
        return self.multiplier_bonus + self.fixed_bonus + self.cross_format_bonus


def in_scope(
    campaign: CampaignConfig,
    activity: Activity,
    *,
    zone: ZoneInfo,
    tier: TierInfo,
    tier_rank: Callable[[str], int | None],
    birth_date: date | None,
) -> bool:
    """Whether ``activity`` of a member in ``tier`` (born on ``birth_date``) is in ``campaign``'s window and scope.

    ``tier_rank(code)`` is the rank of a tier of the ladder (``None`` if the ladder no longer has
    it: then no member reaches that minimum).
    """
    if not campaign.runs_at(activity.occurred_at):
        return False
    scope = campaign.scope
    local = activity.occurred_at.astimezone(zone)
    if scope.formats and activity.format not in scope.formats:
        return False
    if scope.activity_kinds and activity.kind not in scope.activity_kinds:
        return False
    if scope.tiers and tier.code not in scope.tiers:
        return False
    if scope.min_tier is not None:
        minimum = tier_rank(scope.min_tier)
        if minimum is None or tier.rank < minimum:
            return False
    if scope.days_of_month and local.day not in scope.days_of_month:
        return False
    if scope.weekdays and local.isoweekday() not in scope.weekdays:
        return False
    if scope.birthday_month and (birth_date is None or birth_date.month != local.month):
        return False
    return scope.min_amount_minor is None or activity.amount.minor >= scope.min_amount_minor


def month_bounds(moment: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The calendar month of ``moment`` in ``zone``: its first instant and the next month's, both aware."""
    local = moment.astimezone(zone)
    start = datetime(local.year, local.month, 1, tzinfo=zone)
    end = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=zone)
    return start, end


def is_cross_format_checkin(format_code: str, formats_used_this_month: Collection[str]) -> bool:
    """Whether an activity in ``format_code`` is a cross-format check-in, given the formats the
    member already earned in this month: none in this format yet, at least one other."""
    return format_code not in formats_used_this_month and bool(formats_used_this_month)


def boost(campaign: CampaignConfig, base: int, *, checkin: bool) -> Boost:
    """What ``campaign`` would add to an activity whose earn rules gave ``base`` points (rounded down).

    An activity that earns no base points (a gift-card-only receipt) gets no campaign points either.
    """
    if base <= 0:
        return Boost(0, 0, 0)
    reward = campaign.reward
    return Boost(
        multiplier_bonus=apply_multiplier(base, reward.multiplier) - base,
        fixed_bonus=reward.fixed_bonus,
        cross_format_bonus=reward.cross_format_bonus if checkin else 0,
    )


def limit_period_key(period: LimitPeriod, moment: datetime, zone: ZoneInfo) -> str:
    """The usage row a per-member limit counts in: ``all``, ``YYYY-MM`` or ``YYYY-MM-DD`` of ``moment`` in ``zone``."""
    local = moment.astimezone(zone)
    if period is LimitPeriod.MONTH:
        return f"{local:%Y-%m}"
    if period is LimitPeriod.DAY:
        return f"{local:%Y-%m-%d}"
    return "all"


def winners(candidates: Sequence[tuple[CampaignConfig, int]]) -> list[tuple[CampaignConfig, int]]:
    """The campaigns that pay, from ``(campaign, points it can pay)`` pairs, by the stacking rule.

    Campaigns that can pay nothing (budget or limit used up) are left out first, so they never
    block another. Then, if any exclusive campaign remains, the one with the highest priority
    (then the most points, then the first code) pays alone; otherwise every stackable one pays.
    The result is ordered by priority (highest first), then code.
    """
    paying = [(campaign, points) for campaign, points in candidates if points > 0]
    exclusive = [pair for pair in paying if pair[0].stacking is Stacking.EXCLUSIVE]
    if exclusive:
        return [min(exclusive, key=lambda pair: (-pair[0].priority, -pair[1], pair[0].code))]
    return sorted(paying, key=lambda pair: (-pair[0].priority, pair[0].code))
