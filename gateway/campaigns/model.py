"""What a campaign is: when it runs, which activity it rewards, what it adds, its limits and how it stacks.

A :class:`CampaignConfig` is immutable (it is shared by every request through the config cache)
and always valid: :func:`validate_campaign` is the one way an admin's input becomes one, and it
refuses bad input with ``INVALID_CONFIG`` naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from gateway.errors import AtriumError, ErrorCode
from gateway.tiers import plain_decimal

CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
MAX_MULTIPLIER = Decimal(10)
MAX_BONUS = 1_000_000
MAX_BUDGET = 10**15
MAX_PRIORITY = 1_000_000


class Stacking(str, Enum):
    """How a campaign combines with the others that reward the same activity.

    ``stackable`` campaigns add to each other. An ``exclusive`` campaign applies alone: when one or
    more exclusive campaigns reward an activity, the one with the highest priority (then the
    largest award, then the first code) wins and no other campaign adds anything.
    """

    STACKABLE = "stackable"
    EXCLUSIVE = "exclusive"


class LimitPeriod(str, Enum):
    """What a per-member limit counts: the campaign's whole life, a calendar month or a day (group time zone)."""

    CAMPAIGN = "campaign"
    MONTH = "month"
    DAY = "day"


@dataclass(frozen=True)
class CampaignScope:
    """Which activity a campaign rewards; every condition must hold, an empty list does not restrict.

    ``days_of_month`` (1-31) and ``weekdays`` (1 = Monday ... 7 = Sunday) are read on the
    activity's date in the group's time zone; ``birthday_month`` needs the member's birth month
    to be the activity's month. ``min_tier`` and ``tiers`` (give one or neither) are the member's
    tier before the activity.
    """

    formats: tuple[str, ...] = ()
    min_tier: str | None = None
    tiers: tuple[str, ...] = ()
    activity_kinds: tuple[str, ...] = ()
    days_of_month: tuple[int, ...] = ()
    weekdays: tuple[int, ...] = ()
    birthday_month: bool = False
    min_amount_minor: int | None = None


@dataclass(frozen=True)
class CampaignReward:
    """What a campaign adds to an activity in scope.

    ``multiplier`` is the multiple of the base points the activity earns in all under the campaign
    (2 = double points); the campaign itself adds ``floor(base × (multiplier − 1))``, on the earn
    rules' base points, never on the tier bonus nor on another campaign's points. ``fixed_bonus``
    is added to every activity in scope; ``cross_format_bonus`` only to a cross-format check-in
    (:func:`gateway.campaigns.rules.is_cross_format_checkin`).
    """

    multiplier: Decimal = Decimal(1)
    fixed_bonus: int = 0
    cross_format_bonus: int = 0


@dataclass(frozen=True)
class MemberLimit:
    """At most ``points`` from the campaign per member and ``period``."""

    points: int
    period: LimitPeriod


@dataclass(frozen=True)
class CampaignConfig:
    """One campaign as configured. ``budget_cap`` is the most points it may issue in all (``None``: no cap)."""

    code: str
    name: str
    starts_at: datetime
    ends_at: datetime
    scope: CampaignScope = field(default_factory=CampaignScope)
    reward: CampaignReward = field(default_factory=CampaignReward)
    budget_cap: int | None = None
    member_limit: MemberLimit | None = None
    stacking: Stacking = Stacking.STACKABLE
    priority: int = 0

    def runs_at(self, moment: datetime) -> bool:
        """Whether ``moment`` falls in the campaign's window ``[starts_at, ends_at)``."""
        return self.starts_at <= moment < self.ends_at

    def to_json(self) -> dict[str, Any]:
        """The campaign as plain JSON values: what the audit log keeps before and after a change."""
        scope, reward, limit = self.scope, self.reward, self.member_limit
        return {
            "code": self.code,
            "name": self.name,
            "startsAt": self.starts_at.isoformat(),
            "endsAt": self.ends_at.isoformat(),
            "scope": {
                "formats": list(scope.formats),
                "minTier": scope.min_tier,
                "tiers": list(scope.tiers),
                "activityKinds": list(scope.activity_kinds),
                "daysOfMonth": list(scope.days_of_month),
                "weekdays": list(scope.weekdays),
                "birthdayMonth": scope.birthday_month,
                "minAmountMinor": scope.min_amount_minor,
            },
            "reward": {
                "multiplier": str(reward.multiplier),
                "fixedBonus": reward.fixed_bonus,
                "crossFormatBonus": reward.cross_format_bonus,
            },
            "budgetCap": self.budget_cap,
            "memberLimit": None if limit is None else {"points": limit.points, "period": limit.period.value},
            "stacking": self.stacking.value,
            "priority": self.priority,
        }


def _invalid(message: str, field_name: str) -> AtriumError:
    return AtriumError(ErrorCode.INVALID_CONFIG, message, field_name)


def _int_in(value: Any, low: int, high: int, field_name: str, what: str) -> int:
    if type(value) is not int or not low <= value <= high:
        raise _invalid(f"{what} must be a whole number from {low} to {high}.", field_name)
    return value


def _codes(values: Iterable[str], known: Collection[str], field_name: str, what: str) -> tuple[str, ...]:
    found = []
    for index, value in enumerate(values):
        if value not in known:
            raise _invalid(f"There is no {what} {value!r}.", f"{field_name}.{index}")
        found.append(value)
    return tuple(sorted(set(found)))


def _numbers(values: Iterable[int], low: int, high: int, field_name: str, what: str) -> tuple[int, ...]:
    return tuple(sorted({_int_in(value, low, high, f"{field_name}.{index}", what) for index, value in enumerate(values)}))


def _multiplier(value: Any, field_name: str) -> Decimal:
    try:
        multiplier = Decimal(str(value))
    except InvalidOperation:
        raise _invalid(f"{value!r} is not a number.", field_name) from None
    if not multiplier.is_finite() or not Decimal(1) <= multiplier <= MAX_MULTIPLIER:
        raise _invalid(f"The multiplier must be from 1 to {MAX_MULTIPLIER} (2 = double points).", field_name)
    if multiplier != multiplier.quantize(Decimal("0.001")):
        raise _invalid("The multiplier has at most 3 decimal places.", field_name)
    return plain_decimal(multiplier)


def validate_campaign(
    config: CampaignConfig,
    *,
    formats: Collection[str],
    activity_kinds: Mapping[str, Collection[str]],
    tier_codes: Collection[str],
    field_prefix: str = "input",
) -> CampaignConfig:
    """``config`` checked and normalised (lists de-duplicated and sorted), or ``INVALID_CONFIG`` naming the field.

    ``formats`` are the loaded formats' codes, ``activity_kinds`` each format's activity kind
    names, ``tier_codes`` the ladder's tiers. A campaign must reward something: a multiplier
    above 1, a fixed bonus or a cross-format bonus.
    """
    p = field_prefix
    if not isinstance(config.code, str) or not CODE.match(config.code):
        raise _invalid("A campaign code is 2 to 32 of a-z, 0-9 and _, starting with a letter (e.g. member_day).", f"{p}.code")
    name = config.name.strip() if isinstance(config.name, str) else ""
    if not 1 <= len(name) <= 128:
        raise _invalid("The name must be 1 to 128 characters.", f"{p}.name")
    for moment, field_name in ((config.starts_at, "startsAt"), (config.ends_at, "endsAt")):
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise _invalid("Give a time with its time zone.", f"{p}.{field_name}")
    if config.ends_at <= config.starts_at:
        raise _invalid("The campaign must end after it starts.", f"{p}.endsAt")

    scope = config.scope
    scope_formats = _codes(scope.formats, formats, f"{p}.scope.formats", "format")
    if scope.min_tier is not None and scope.tiers:
        raise _invalid("Give a minimum tier or a list of tiers, not both.", f"{p}.scope.tiers")
    if scope.min_tier is not None and scope.min_tier not in tier_codes:
        raise _invalid(f"There is no tier {scope.min_tier!r}.", f"{p}.scope.minTier")
    tiers = _codes(scope.tiers, tier_codes, f"{p}.scope.tiers", "tier")
    kinds_in_scope = {kind for code in (scope_formats or formats) for kind in activity_kinds.get(code, ())}
    kinds = _codes(scope.activity_kinds, kinds_in_scope, f"{p}.scope.activityKinds", "activity kind in the campaign's formats")
    days = _numbers(scope.days_of_month, 1, 31, f"{p}.scope.daysOfMonth", "A day of the month")
    weekdays = _numbers(scope.weekdays, 1, 7, f"{p}.scope.weekdays", "A weekday (1 = Monday ... 7 = Sunday)")
    if scope.min_amount_minor is not None:
        _int_in(scope.min_amount_minor, 1, MAX_BUDGET, f"{p}.scope.minAmount", "The minimum amount in minor units")

    reward = config.reward
    multiplier = _multiplier(reward.multiplier, f"{p}.reward.multiplier")
    fixed = _int_in(reward.fixed_bonus, 0, MAX_BONUS, f"{p}.reward.fixedBonus", "The fixed bonus")
    cross = _int_in(reward.cross_format_bonus, 0, MAX_BONUS, f"{p}.reward.crossFormatBonus", "The cross-format bonus")
    if multiplier == 1 and not fixed and not cross:
        raise _invalid("The campaign rewards nothing: give a multiplier above 1, a fixed bonus or a cross-format bonus.", f"{p}.reward")

    if config.budget_cap is not None:
        _int_in(config.budget_cap, 1, MAX_BUDGET, f"{p}.budget", "The budget in points")
    limit = config.member_limit
    if limit is not None:
        _int_in(limit.points, 1, MAX_BUDGET, f"{p}.memberLimit.points", "The per-member limit in points")
        if not isinstance(limit.period, LimitPeriod):
            raise _invalid("The period is CAMPAIGN, MONTH or DAY.", f"{p}.memberLimit.period")
    if not isinstance(config.stacking, Stacking):
        raise _invalid("Stacking is STACKABLE or EXCLUSIVE.", f"{p}.stacking")
    _int_in(config.priority, -MAX_PRIORITY, MAX_PRIORITY, f"{p}.priority", "The priority")

    return replace(
        config,
        name=name,
        starts_at=config.starts_at.astimezone(UTC),
        ends_at=config.ends_at.astimezone(UTC),
        scope=CampaignScope(
            formats=scope_formats,
            min_tier=scope.min_tier,
            tiers=tiers,
            activity_kinds=kinds,
            days_of_month=days,
            weekdays=weekdays,
            birthday_month=bool(scope.birthday_month),
            min_amount_minor=scope.min_amount_minor,
        ),
        reward=CampaignReward(multiplier=multiplier, fixed_bonus=fixed, cross_format_bonus=cross),
    )
