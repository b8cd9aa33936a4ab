"""What an activity earns: the earn rules' lines, the tier bonus, and the lots the points fill.

Points that an earn rule makes available later (:attr:`EarnLine.pending_days`, a return window)
fill a lot of their own, one per availability date. The tier bonus follows the points it
multiplies: it is computed per availability group and rounded down per group, so a bonus on
pending points is pending too, and the sum of the groups' bonuses may be a point below the bonus
on the whole (earn never rounds up).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.tenders import money_share_of
from gateway.money import apply_multiplier
from gateway.plugin_api import Activity, ActivityRejected, EarnLine, MemberContext

MAX_PENDING_DAYS = 366
"""Longest wait an earn rule may put on points; more is taken for a plugin bug."""


@dataclass(frozen=True)
class LotPlan:
    """Points for one lot: available from ``available_at``, pending until then if that is later than now."""

    points: int
    available_at: datetime
    pending: bool


@dataclass(frozen=True)
class EarnPlan:
    """Everything an earn posts: the lines a member reads, growth value and the lots to create."""

    lines: list[dict[str, Any]]
    growth: int
    lots: list[LotPlan]
    base: int = 0
    """Points the earn rules gave, before any bonus: what tier and campaign multipliers apply to."""

    @property
    def points(self) -> int:
        """All points earned, available now or pending."""
        return sum(lot.points for lot in self.lots)

    @property
    def available(self) -> int:
        """Points the member can spend at once (credited to the wallet)."""
        return sum(lot.points for lot in self.lots if not lot.pending)

    @property
    def pending(self) -> int:
        """Points that wait for their date (credited to ``member.pending``)."""
        return sum(lot.points for lot in self.lots if lot.pending)


def rule_lines(core: Core, activity: Activity, context: MemberContext) -> list[tuple[dict[str, Any], int]]:
    """Each earn rule's lines for ``activity`` with their ``pending_days``; a bad line is ``PLUGIN_FAILED``.

    A rule may refuse the activity with :class:`ActivityRejected` (a receipt line that claims more
    than the settings allow): that is the till's error, typed, with its field under ``input``.
    """
    lines: list[tuple[dict[str, Any], int]] = []
    for rule in core.registry.earn_rules.get(activity.format, []):
        plugin = core.registry.owner[("earn rule", rule.format, rule.code)]
        try:
            produced = rule.compute(activity, context)
        except ActivityRejected as exc:  # the activity is wrong for these settings or this member: the till's error
            raise exc.with_field_prefix("input") from None
        except Exception as exc:
            raise AtriumError(
                ErrorCode.PLUGIN_FAILED, f"Plugin {plugin!r} failed in earn rule {rule.code!r}: {exc!r}."
            ) from exc
        items: Iterable[Any] = () if produced is None else [produced] if isinstance(produced, EarnLine) else produced
        for line in items:
            valid = (
                isinstance(line, EarnLine)
                and type(line.points) is int
                and type(line.growth) is int
                and type(line.pending_days) is int
                and line.points >= 0
                and line.growth >= 0
                and 0 <= line.pending_days <= MAX_PENDING_DAYS
            )
            if not valid:
                raise AtriumError(
                    ErrorCode.PLUGIN_FAILED, f"Plugin {plugin!r} earn rule {rule.code!r} returned {line!r}."
                )
            line = money_share_of(line, activity)
            if line.points or line.growth:
                entry = {"rule": f"{rule.format}.{rule.code}", "points": line.points, "growth": line.growth, "reason": line.reason}
                lines.append((entry, line.pending_days if line.points else 0))
    return lines


def _day(core: Core, moment: datetime) -> str:
    return f"{moment.astimezone(core.settings.zone):%Y-%m-%d}"


def plan_earn(core: Core, activity: Activity, context: MemberContext, *, now: datetime) -> EarnPlan:
    """The lines, growth and lots of an earn: base points per availability group, each with its tier bonus.

    Points available at once go to a lot available from the activity (or now, if a till's clock
    runs ahead). Points with ``pending_days`` are available ``pending_days`` after the activity;
    if that date has already passed (a late-recorded activity), they are available at once.
    """
    produced = rule_lines(core, activity, context)
    tier = context.tier
    available_from = {
        days: activity.occurred_at + timedelta(days=days) if days else min(activity.occurred_at, now)
        for days in sorted({days for _, days in produced} | {0})
    }
    lines: list[dict[str, Any]] = []
    groups: dict[int, int] = {}
    for line, days in produced:
        groups[days] = groups.get(days, 0) + line["points"]
        if available_from[days] > now:
            line = {**line, "reason": f"{line['reason']} (available from {_day(core, available_from[days])})"}
        lines.append(line)
    lots: list[LotPlan] = []
    for days in sorted(groups):
        base = groups[days]
        bonus = apply_multiplier(base, tier.multiplier) - base
        available_at = available_from[days]
        pending = available_at > now
        if bonus:
            reason = f"{tier.name} tier ×{tier.multiplier}: +{bonus} pts"
            if pending:
                reason += f" (available from {_day(core, available_at)})"
            lines.append({"rule": f"tier.{tier.code}", "points": bonus, "growth": 0, "reason": reason})
        if base + bonus:
            lots.append(LotPlan(points=base + bonus, available_at=available_at, pending=pending))
    return EarnPlan(lines=lines, growth=sum(line["growth"] for line, _ in produced), lots=lots, base=sum(groups.values()))
