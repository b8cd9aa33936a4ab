"""The campaign part of an earn: which campaigns pay, how much, and the counters they move.

:func:`plan_activity` is the one planner of an earn: the earn rules and the tier bonus
(:func:`gateway.ledger.earn_points.plan_earn`), then every campaign in scope. The real earn calls
it inside its write transaction with ``lock=True``; ``previewEarn`` calls it in a read
transaction with ``lock=False`` and writes nothing. So a preview and the earn it previews
compute the same lines from the same facts.

**Budget and per-member limit.** A campaign pays ``min(what it would add, budget left, member's
limit left)``: a partial award up to what is left, never more, and the line says it was capped.
The real earn reads the budgets of the campaigns in scope with ``SELECT ... FOR UPDATE``
(PostgreSQL; on SQLite the write transaction already holds the database), ordered by code so
two earns lock them in the same order, and :func:`record_awards` moves ``issued`` in the same
transaction. Concurrent earns under one budgeted campaign therefore queue on its budget row
from planning to commit: exact, at the price of serialising them. A CHECK constraint
(``issued <= cap``) backs the rule in the database itself. Per-member usage needs no lock of its
own: the earn already holds the member's row.

**Where campaign points sit.** They are issued from the activity's format's issuance account,
like the rest of the earn, and fill the earn's latest lot: if any of the activity's points wait
for a return window, its campaign points wait as long (a campaign rewards the activity, which
can be returned until then). So settlement treats them as points of the format where the
activity happened, and a refund claws them back in proportion like every point of the posting.
A refund does not give budget back to the campaign: ``issued`` counts what the campaign paid out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.campaigns.model import CampaignConfig, LimitPeriod
from gateway.campaigns.rules import (
    Boost,
    boost,
    in_scope,
    is_cross_format_checkin,
    limit_period_key,
    month_bounds,
    winners,
)
from gateway.campaigns.store import Budget, campaign_configs
from gateway.core import Core
from gateway.ledger.earn_points import EarnPlan, plan_earn
from gateway.members import MemberRow
from gateway.persistence.campaign_tables import (
    campaign_budget_table,
    campaign_member_usage_table,
)
from gateway.persistence.models import member_table, posting_table
from gateway.plugin_api import Activity, MemberContext
from gateway.tiers import current_ladder


class Outcome(str, Enum):
    """What a campaign in scope did for one activity."""

    AWARDED = "awarded"
    CAPPED_BY_BUDGET = "capped_by_budget"
    CAPPED_BY_MEMBER_LIMIT = "capped_by_member_limit"
    BUDGET_SPENT = "budget_spent"
    MEMBER_LIMIT_REACHED = "member_limit_reached"
    OUTRANKED = "outranked"
    """It could pay, but an exclusive campaign paid instead (or it is exclusive and lost to another)."""


@dataclass(frozen=True)
class CampaignResult:
    """One campaign in scope of an activity: what it would add, what it pays, and what is left after."""

    campaign: CampaignConfig
    boost: Boost
    points: int
    outcome: Outcome
    budget_left: int | None
    member_left: int | None
    period: str | None


@dataclass(frozen=True)
class ActivityPlan:
    """Everything an earn posts (``earn``, campaign lines and points included) and each campaign's result."""

    earn: EarnPlan
    campaigns: tuple[CampaignResult, ...] = ()

    @property
    def awarded(self) -> tuple[CampaignResult, ...]:
        """The campaigns that pay something."""
        return tuple(result for result in self.campaigns if result.points > 0)


@dataclass(frozen=True)
class _Counters:
    budget: Budget
    member_issued: int


async def formats_used_in_month(conn: AsyncConnection, member_id: int, moment: datetime, zone: ZoneInfo) -> set[str]:
    """Formats the member earned in during the calendar month of ``moment`` (group time zone),
    counting the earns of member records merged into it: a merge joins one person's activity."""
    start, end = month_bounds(moment, zone)
    table = posting_table
    records = select(member_table.c.id).where((member_table.c.id == member_id) | (member_table.c.merged_into_id == member_id))
    query = select(table.c.format).distinct().where(
        table.c.member_id.in_(records) & (table.c.kind == "earn") & (table.c.occurred_at >= start) & (table.c.occurred_at < end)
    )
    return set((await conn.execute(query)).scalars())


async def _counters(
    conn: AsyncConnection, member_id: int, codes: list[str], periods: dict[str, str], *, lock: bool
) -> dict[str, _Counters]:
    """Budgets of ``codes`` and the member's usage in each one's limit period, in one statement (budget rows locked if ``lock``)."""
    budget, usage = campaign_budget_table, campaign_member_usage_table
    period = case(periods, value=budget.c.campaign_code, else_=literal("")) if periods else literal("")
    query = (
        select(budget.c.campaign_code, budget.c.cap, budget.c.issued, usage.c.issued.label("member_issued"))
        .select_from(
            budget.outerjoin(
                usage,
                and_(usage.c.campaign_code == budget.c.campaign_code, usage.c.member_id == member_id, usage.c.period == period),
            )
        )
        .where(budget.c.campaign_code.in_(codes))
        .order_by(budget.c.campaign_code)
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(of=budget)
    rows = (await conn.execute(query)).mappings().all()
    return {
        row["campaign_code"]: _Counters(
            budget=Budget(issued=int(row["issued"]), cap=None if row["cap"] is None else int(row["cap"])),
            member_issued=int(row["member_issued"] or 0),
        )
        for row in rows
    }


def _payable(campaign: CampaignConfig, wanted: int, counters: _Counters) -> tuple[int, Outcome]:
    budget_left = counters.budget.left
    limit = campaign.member_limit
    member_left = None if limit is None else max(limit.points - counters.member_issued, 0)
    points, outcome = wanted, Outcome.AWARDED
    if member_left is not None and member_left < points:
        points, outcome = member_left, Outcome.CAPPED_BY_MEMBER_LIMIT if member_left else Outcome.MEMBER_LIMIT_REACHED
    if budget_left is not None and budget_left < points:
        points, outcome = budget_left, Outcome.CAPPED_BY_BUDGET if budget_left else Outcome.BUDGET_SPENT
    return points, outcome


def _reason(core: Core, result: CampaignResult, activity: Activity, base: int, available_from: str | None) -> str:
    campaign, parts = result.campaign, []
    if result.boost.multiplier_bonus:
        parts.append(f"×{campaign.reward.multiplier} on {base} base pts +{result.boost.multiplier_bonus} pts")
    if result.boost.fixed_bonus:
        parts.append(f"bonus +{result.boost.fixed_bonus} pts")
    if result.boost.cross_format_bonus:
        format_name = core.registry.formats[activity.format].name
        parts.append(f"cross-format check-in (first {format_name} activity this month) +{result.boost.cross_format_bonus} pts")
    reason = f"{campaign.name}: " + ", ".join(parts)
    if result.outcome is Outcome.CAPPED_BY_BUDGET:
        reason += f"; capped at {result.points} pts, the rest of the campaign's budget"
    elif result.outcome is Outcome.CAPPED_BY_MEMBER_LIMIT:
        limit = campaign.member_limit
        assert limit is not None
        per = "" if limit.period is LimitPeriod.CAMPAIGN else f" a {limit.period.value}"
        reason += f"; capped at {result.points} pts by the limit of {limit.points} pts per member{per}"
    if available_from:
        reason += f" (available from {available_from})"
    return reason


async def plan_activity(
    core: Core, conn: AsyncConnection, member: MemberRow, activity: Activity, context: MemberContext, *, now: datetime, lock: bool
) -> ActivityPlan:
    """Plan an earn: the earn rules' lines, the tier bonus, then each campaign in scope, by the stacking rule.

    Issues no SQL when no campaign is in scope (campaign configuration comes from the cache); else
    one statement for budgets and usage, plus one for the month's formats if a campaign in scope
    has a cross-format bonus. Writes nothing: :func:`record_awards` moves the counters.
    """
    plan = plan_earn(core, activity, context, now=now)
    if plan.base <= 0 or not plan.lots:
        return ActivityPlan(plan)
    zone = core.settings.zone
    ladder = await current_ladder(core)

    def tier_rank(code: str) -> int | None:
        return ladder.get(code).rank if code in ladder else None

    scoped = [
        campaign
        for campaign in await campaign_configs(core)
        if in_scope(campaign, activity, zone=zone, tier=context.tier, tier_rank=tier_rank, birth_date=member.birth_date)
    ]
    if not scoped:
        return ActivityPlan(plan)
    checkin = False
    if any(campaign.reward.cross_format_bonus for campaign in scoped):
        used = await formats_used_in_month(conn, member.id, activity.occurred_at, zone)
        checkin = is_cross_format_checkin(activity.format, used)
    boosts = {campaign.code: boost(campaign, plan.base, checkin=checkin) for campaign in scoped}
    scoped = [campaign for campaign in scoped if boosts[campaign.code].total > 0]
    if not scoped:
        return ActivityPlan(plan)
    periods = {
        campaign.code: limit_period_key(campaign.member_limit.period, activity.occurred_at, zone)
        for campaign in scoped
        if campaign.member_limit is not None
    }
    counters = await _counters(conn, member.id, [campaign.code for campaign in scoped], periods, lock=lock)
    payable = {campaign.code: _payable(campaign, boosts[campaign.code].total, counters[campaign.code]) for campaign in scoped}
    paying = {campaign.code for campaign, _ in winners([(campaign, payable[campaign.code][0]) for campaign in scoped])}

    results: list[CampaignResult] = []
    for campaign in sorted(scoped, key=lambda c: (-c.priority, c.code)):
        points, outcome = payable[campaign.code]
        if points and campaign.code not in paying:
            points, outcome = 0, Outcome.OUTRANKED
        left = counters[campaign.code]
        limit = campaign.member_limit
        results.append(
            CampaignResult(
                campaign=campaign,
                boost=boosts[campaign.code],
                points=points,
                outcome=outcome,
                budget_left=None if left.budget.left is None else left.budget.left - points,
                member_left=None if limit is None else max(limit.points - left.member_issued, 0) - points,
                period=periods.get(campaign.code),
            )
        )
    return ActivityPlan(_with_campaign_points(core, plan, results, activity), tuple(results))


def _with_campaign_points(core: Core, plan: EarnPlan, results: list[CampaignResult], activity: Activity) -> EarnPlan:
    """``plan`` plus a line per paying campaign, their points added to the earn's latest lot."""
    extra = sum(result.points for result in results)
    if not extra:
        return plan
    lots = list(plan.lots)
    last = max(range(len(lots)), key=lambda index: lots[index].available_at)
    lots[last] = replace(lots[last], points=lots[last].points + extra)
    available_from = f"{lots[last].available_at.astimezone(core.settings.zone):%Y-%m-%d}" if lots[last].pending else None
    lines = [
        {
            "rule": f"campaign.{result.campaign.code}",
            "points": result.points,
            "growth": 0,
            "reason": _reason(core, result, activity, plan.base, available_from),
        }
        for result in results
        if result.points
    ]
    return replace(plan, lines=[*plan.lines, *lines], lots=lots)


async def record_awards(conn: AsyncConnection, plan: ActivityPlan, *, member_id: int) -> None:
    """Move the paying campaigns' budget counters and the member's usage, in the earn's transaction.

    One statement for the budgets and, if a paying campaign has a per-member limit, one for the usage.
    """
    awarded = plan.awarded
    if not awarded:
        return
    budget = campaign_budget_table
    points = {result.campaign.code: result.points for result in awarded}
    await conn.execute(
        update(budget)
        .where(budget.c.campaign_code.in_(list(points)))
        .values(issued=budget.c.issued + case(points, value=budget.c.campaign_code, else_=0))
    )
    limited = [result for result in awarded if result.period is not None]
    if not limited:
        return
    usage = campaign_member_usage_table
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(usage).values(
        [
            {"campaign_code": result.campaign.code, "member_id": member_id, "period": result.period, "issued": result.points}
            for result in limited
        ]
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[usage.c.campaign_code, usage.c.member_id, usage.c.period],
            set_={"issued": usage.c.issued + statement.excluded.issued},
        )
    )
