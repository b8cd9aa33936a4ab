"""The tier ladder: tiers qualified by growth value over a rolling window, and how members move on it.

A member's **standing** is its qualifying activity over the policy's window (12 months by
default): the growth value of its postings in the window (a refund counts at the date of the
activity it refunds, and reduces it) and the number of formats it earned in. A tier is
**reached** when the standing meets its threshold and its breadth rule (``min_formats``), and
**kept** when it meets the retention threshold (default: the threshold) and the breadth rule.

- **Upgrades** happen at once, in the earn that reaches a higher tier.
- **Downgrades** happen only at evaluation (on the policy's schedule, ``atrium tiers evaluate``):
  a member that no longer keeps its tier starts a grace period of ``grace_months`` at its first
  failing evaluation (none: it moves down at once); still failing at an evaluation on or after
  the end of grace, it moves down one step or straight to the highest tier it keeps, as the
  policy says. Keeping the tier at any evaluation clears the grace.

The ladder and the policy are configuration: admins change them (:mod:`gateway.tier_config`),
every request reads them through the configuration cache with :func:`current_ladder`, never
from a copy kept at start-up. :class:`Ladder` and everything in it are immutable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING

from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.persistence.models import tier_table
from gateway.persistence.tier_tables import tier_policy_table
from gateway.plugin_api import TierInfo

if TYPE_CHECKING:
    from gateway.core import Core

LADDER_CACHE_KEY = "tiers"
"""The configuration cache key of the ladder with its policy (one key: they change together)."""

EVALUATION_INTERVALS = (1, 2, 3, 4, 6, 12)
"""Months between evaluations the schedule allows: evaluations fall in months 1, 1+n, 1+2n ... of the year."""


class DowngradeMode(str, Enum):
    """Where a member that lost its tier at evaluation goes."""

    ONE_STEP = "one_step"
    TO_QUALIFIED = "to_qualified"


@dataclass(frozen=True)
class TierPolicy:
    """The window that qualifies, when evaluations run, how long grace lasts and how far a downgrade goes.

    Evaluations run at midnight (in the group's time zone) on ``evaluation_day`` of every
    ``evaluation_every_months``-th month, counted from January.
    """

    window_months: int = 12
    evaluation_every_months: int = 1
    evaluation_day: int = 1
    grace_months: int = 0
    downgrade: DowngradeMode = DowngradeMode.ONE_STEP

    def describe(self) -> str:
        """The schedule in words, e.g. ``monthly on day 1``."""
        every = {1: "monthly", 3: "quarterly", 12: "yearly (January)"}.get(
            self.evaluation_every_months, f"every {self.evaluation_every_months} months"
        )
        return f"{every} on day {self.evaluation_day}"

    def window_start(self, end: datetime, zone: tzinfo) -> datetime:
        """The first instant of the window that ends at ``end`` (same local time, ``window_months`` earlier)."""
        return (end.astimezone(zone) - relativedelta(months=self.window_months)).astimezone(UTC)

    def grace_end(self, at: datetime, zone: tzinfo) -> datetime:
        """When grace started by the evaluation at ``at`` ends."""
        return (at.astimezone(zone) + relativedelta(months=self.grace_months)).astimezone(UTC)

    def _scheduled(self, year: int, month: int, zone: tzinfo) -> datetime | None:
        if (month - 1) % self.evaluation_every_months:
            return None
        return datetime(year, month, self.evaluation_day, tzinfo=zone).astimezone(UTC)

    def _months_around(self, moment: datetime, zone: tzinfo, step: int) -> list[tuple[int, int]]:
        """``(year, month)`` of the month of ``moment`` and the 13 before (``step`` -1) or after (+1) it."""
        local = moment.astimezone(zone)
        months = [datetime(local.year, local.month, 1) + relativedelta(months=step * k) for k in range(14)]
        return [(month.year, month.month) for month in months]

    def last_evaluation(self, now: datetime, zone: tzinfo) -> datetime:
        """The latest scheduled evaluation at or before ``now``."""
        for year, month in self._months_around(now, zone, -1):
            moment = self._scheduled(year, month, zone)
            if moment is not None and moment <= now:
                return moment
        raise AssertionError("a schedule has an evaluation at least once a year")

    def next_evaluation(self, now: datetime, zone: tzinfo) -> datetime:
        """The earliest scheduled evaluation after ``now``."""
        for year, month in self._months_around(now, zone, 1):
            moment = self._scheduled(year, month, zone)
            if moment is not None and moment > now:
                return moment
        raise AssertionError("a schedule has an evaluation at least once a year")


@dataclass(frozen=True)
class Standing:
    """A member's qualifying activity over a window: growth value and formats earned in."""

    growth: int = 0
    formats: int = 0


@dataclass(frozen=True)
class TierRule:
    """A tier and what it takes to reach and to keep it."""

    info: TierInfo
    min_formats: int | None = None
    retention_threshold: int | None = None

    @property
    def code(self) -> str:
        """The tier's code."""
        return self.info.code

    @property
    def rank(self) -> int:
        """The tier's rank (0 for the lowest)."""
        return self.info.rank

    @property
    def threshold(self) -> int:
        """Window growth that reaches the tier."""
        return self.info.threshold

    @property
    def keep_threshold(self) -> int:
        """Window growth that keeps the tier at evaluation."""
        return self.threshold if self.retention_threshold is None else self.retention_threshold

    def reached_by(self, standing: Standing) -> bool:
        """Whether ``standing`` qualifies for the tier (threshold and breadth)."""
        return standing.growth >= self.threshold and standing.formats >= (self.min_formats or 0)

    def kept_by(self, standing: Standing) -> bool:
        """Whether ``standing`` keeps the tier at evaluation (retention threshold and breadth)."""
        return standing.growth >= self.keep_threshold and standing.formats >= (self.min_formats or 0)


class Outcome(str, Enum):
    """What an evaluation did to one member."""

    UNCHANGED = "unchanged"
    UPGRADED = "upgraded"
    REQUALIFIED = "requalified"
    GRACE_STARTED = "grace_started"
    IN_GRACE = "in_grace"
    DOWNGRADED = "downgraded"


@dataclass(frozen=True)
class Verdict:
    """The tier and grace a member has after an evaluation, and what changed."""

    outcome: Outcome
    tier: TierInfo
    grace_until: datetime | None

    @property
    def changes_member(self) -> bool:
        """Whether the member row must be written (tier or grace changed)."""
        return self.outcome in (Outcome.UPGRADED, Outcome.REQUALIFIED, Outcome.GRACE_STARTED, Outcome.DOWNGRADED)


@dataclass(frozen=True)
class TierProgress:
    """Where a member stands now and what the next evaluation will ask of it."""

    current: TierInfo
    next: TierInfo | None
    standing: Standing
    growth_to_next: int | None
    formats_to_next: int | None
    growth_to_keep: int
    formats_to_keep: int
    window_start: datetime
    next_evaluation: datetime
    grace_until: datetime | None

    @property
    def growth_value(self) -> int:
        """Growth value in the window now."""
        return self.standing.growth


@dataclass(frozen=True)
class Ladder:
    """The group's tiers in rank order and the ladder's policy; immutable, shared by every request."""

    rules: tuple[TierRule, ...]
    policy: TierPolicy = field(default_factory=TierPolicy)

    def __post_init__(self) -> None:
        if not self.rules:
            raise ValueError("the tier ladder is empty: run the migrations")
        ordered = tuple(sorted(self.rules, key=lambda rule: rule.rank))
        object.__setattr__(self, "rules", ordered)
        if ordered[0].threshold != 0:
            raise ValueError("the lowest tier must start at growth value 0")

    @property
    def tiers(self) -> tuple[TierInfo, ...]:
        """The tiers, lowest first."""
        return tuple(rule.info for rule in self.rules)

    def __contains__(self, code: object) -> bool:
        return any(rule.code == code for rule in self.rules)

    def rule(self, code: str) -> TierRule:
        """The rule of tier ``code``; a stored code always exists (foreign key)."""
        for rule in self.rules:
            if rule.code == code:
                return rule
        raise KeyError(code)

    def get(self, code: str) -> TierInfo:
        """The tier with ``code``."""
        return self.rule(code).info

    @property
    def entry(self) -> TierInfo:
        """The tier new members start in."""
        return self.rules[0].info

    @property
    def top(self) -> TierInfo:
        """The highest tier."""
        return self.rules[-1].info

    def reached(self, standing: Standing) -> TierInfo:
        """The highest tier ``standing`` qualifies for (the entry tier at least)."""
        reached = self.rules[0]
        for rule in self.rules:
            if rule.reached_by(standing):
                reached = rule
        return reached.info

    def after_earning(self, current: TierInfo, standing: Standing) -> TierInfo:
        """The tier after an earn that leaves the member at ``standing``: up at once, never down."""
        reached = self.reached(standing)
        return reached if reached.rank > current.rank else current

    def next_above(self, tier: TierInfo) -> TierInfo | None:
        """The tier right above ``tier``, or ``None`` at the top."""
        higher = [rule.info for rule in self.rules if rule.rank > tier.rank]
        return higher[0] if higher else None

    def next_below(self, tier: TierInfo) -> TierInfo:
        """The tier right below ``tier`` (the entry tier stays where it is)."""
        lower = [rule.info for rule in self.rules if rule.rank < tier.rank]
        return lower[-1] if lower else self.entry

    def kept_below(self, tier: TierInfo, standing: Standing) -> TierInfo:
        """The highest tier below ``tier`` that ``standing`` keeps (the entry tier at least)."""
        kept = self.rules[0].info
        for rule in self.rules:
            if rule.rank < tier.rank and rule.kept_by(standing):
                kept = rule.info
        return kept

    def at_least(self, tier_code: str, minimum_code: str) -> bool:
        """Whether ``tier_code`` ranks at or above ``minimum_code``."""
        return self.get(tier_code).rank >= self.get(minimum_code).rank

    def evaluate(self, tier_code: str, grace_until: datetime | None, standing: Standing, *, at: datetime, zone: tzinfo) -> Verdict:
        """The verdict of the evaluation at ``at`` for a member in ``tier_code`` with ``standing`` (see the module docstring)."""
        current = self.rule(tier_code)
        reached = self.reached(standing)
        if reached.rank > current.rank:
            return Verdict(Outcome.UPGRADED, reached, None)
        if current.kept_by(standing):
            return Verdict(Outcome.REQUALIFIED if grace_until is not None else Outcome.UNCHANGED, current.info, None)
        if grace_until is None and self.policy.grace_months > 0:
            return Verdict(Outcome.GRACE_STARTED, current.info, self.policy.grace_end(at, zone))
        if grace_until is not None and at < grace_until:
            return Verdict(Outcome.IN_GRACE, current.info, grace_until)
        if self.policy.downgrade is DowngradeMode.ONE_STEP:
            target = self.next_below(current.info)
        else:
            target = self.kept_below(current.info, standing)
        return Verdict(Outcome.DOWNGRADED, target, None)

    def progress(
        self,
        tier_code: str,
        *,
        now_standing: Standing,
        standing_at_evaluation: Standing,
        window_start: datetime,
        next_evaluation: datetime,
        grace_until: datetime | None,
    ) -> TierProgress:
        """Growth and formats still needed for the next tier, and to keep the current one at ``next_evaluation``.

        ``standing_at_evaluation`` is the activity already in the window that ends at the next
        evaluation (what will still count then).
        """
        current = self.rule(tier_code)
        upcoming = self.next_above(current.info)
        to_next = formats_to_next = None
        if upcoming is not None:
            rule = self.rule(upcoming.code)
            to_next = max(rule.threshold - now_standing.growth, 0)
            formats_to_next = max((rule.min_formats or 0) - now_standing.formats, 0)
        return TierProgress(
            current=current.info,
            next=upcoming,
            standing=now_standing,
            growth_to_next=to_next,
            formats_to_next=formats_to_next,
            growth_to_keep=max(current.keep_threshold - standing_at_evaluation.growth, 0),
            formats_to_keep=max((current.min_formats or 0) - standing_at_evaluation.formats, 0),
            window_start=window_start,
            next_evaluation=next_evaluation,
            grace_until=grace_until,
        )


def plain_decimal(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and never in exponent form (``2``, ``1.25``, ``10``; not ``1E+1``)."""
    normalized = value.normalize()
    return normalized.quantize(Decimal(1)) if normalized == normalized.to_integral_value() else normalized


async def load_ladder(conn: AsyncConnection) -> Ladder:
    """Read the ladder and its policy from the database (no policy row: the defaults)."""
    rows = (await conn.execute(select(tier_table).order_by(tier_table.c.rank))).mappings().all()
    policy_row = (await conn.execute(select(tier_policy_table).where(tier_policy_table.c.id == 1))).mappings().first()
    policy = TierPolicy()
    if policy_row is not None:
        policy = TierPolicy(
            window_months=int(policy_row["window_months"]),
            evaluation_every_months=int(policy_row["evaluation_every_months"]),
            evaluation_day=int(policy_row["evaluation_day"]),
            grace_months=int(policy_row["grace_months"]),
            downgrade=DowngradeMode(policy_row["downgrade_mode"]),
        )
    return Ladder(
        tuple(
            TierRule(
                info=TierInfo(
                    code=row["code"],
                    name=row["name"],
                    rank=row["rank"],
                    threshold=int(row["threshold"]),
                    multiplier=plain_decimal(Decimal(str(row["multiplier"]))),
                ),
                min_formats=row["min_formats"],
                retention_threshold=None if row["retention_threshold"] is None else int(row["retention_threshold"]),
            )
            for row in rows
        ),
        policy,
    )


async def current_ladder(core: Core) -> Ladder:
    """The ladder as it is now, read through the configuration cache (no SQL when warm).

    Admin changes invalidate :data:`LADDER_CACHE_KEY` after they commit; read the ladder once
    per request or job and pass it down rather than keeping it.
    """

    async def load() -> Ladder:
        async with core.db.read() as conn:
            return await load_ladder(conn)

    return await core.cache.get(LADDER_CACHE_KEY, load)
