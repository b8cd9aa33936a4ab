"""Campaigns in GraphQL: admins create, update and end them; admins and tills list them.

``createCampaign`` / ``updateCampaign`` / ``endCampaign``: admin tokens only (``FORBIDDEN``
otherwise), each validated (``INVALID_CONFIG`` naming the field, nothing written) and audited
(``configChanges(entity: "campaign")``). ``campaigns``: admin and service tokens. The rules live
in :mod:`gateway.campaigns`; this module maps inputs and payloads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from gateway.auth import Role
from gateway.campaigns.model import (
    CampaignConfig,
    CampaignReward,
    CampaignScope,
    LimitPeriod,
    MemberLimit,
    Stacking,
)
from gateway.campaigns.store import (
    Budget,
    budgets,
    campaign_configs,
    create_campaign,
    end_campaign,
    update_campaign,
)
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.graphql.context import Context, as_graphql_error
from gateway.graphql.error_fields import placed
from gateway.graphql.scalars import BigInt
from gateway.graphql.types import UserError
from gateway.money import Money
from gateway.plugin_api import MoneyInput

CampaignStackingEnum = strawberry.enum(
    Stacking,
    name="CampaignStacking",
    description=(
        "STACKABLE campaigns add to each other; an EXCLUSIVE campaign pays alone: the exclusive one with the highest "
        "priority (then the most points) wins and no other campaign adds anything to that activity."
    ),
)
CampaignLimitPeriodEnum = strawberry.enum(
    LimitPeriod, name="CampaignLimitPeriod", description="What a per-member limit counts: the whole campaign, a month or a day."
)


@strawberry.enum(name="CampaignStatus", description="Where a campaign stands now.")
class CampaignStatusEnum(Enum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    ENDED = "ended"


@strawberry.input(description="Which activity a campaign rewards; every condition must hold, an empty list does not restrict.")
class CampaignScopeInput:
    formats: list[str] = strawberry.field(default_factory=list, description="Format codes; empty: every format.")
    min_tier: str | None = strawberry.field(default=None, description="The lowest tier that qualifies (give this or `tiers`).")
    tiers: list[str] = strawberry.field(default_factory=list, description="The tiers that qualify; empty: every tier.")
    activity_kinds: list[str] = strawberry.field(default_factory=list, description="Activity kinds, e.g. purchase; empty: every kind.")
    days_of_month: list[int] = strawberry.field(
        default_factory=list, description="Days of the month (1-31) in the group's time zone, e.g. [18] for member day."
    )
    weekdays: list[int] = strawberry.field(default_factory=list, description="ISO weekdays, 1 = Monday ... 7 = Sunday.")
    birthday_month: bool = strawberry.field(default=False, description="Only in the member's birth month.")
    min_amount: MoneyInput | None = strawberry.field(default=None, description="The least an activity must amount to.")


@strawberry.input(description="What a campaign adds to an activity in scope; give at least one.")
class CampaignRewardInput:
    multiplier: str = strawberry.field(
        default="1",
        description=(
            "Multiple of the base points earned in all, as a decimal string: \"2\" is double points, so the campaign adds "
            "1 × base. Applied to the earn rules' base points only (additively, never compounding), rounded down."
        ),
    )
    fixed_bonus: int = strawberry.field(default=0, description="Points added to every activity in scope.")
    cross_format_bonus: int = strawberry.field(
        default=0,
        description=(
            "Points added to a cross-format check-in: the member's first activity this month in a format, "
            "when it already earned in another format this month."
        ),
    )


@strawberry.input(description="At most `points` from the campaign per member and `period`.")
class CampaignMemberLimitInput:
    points: int
    period: CampaignLimitPeriodEnum = LimitPeriod.CAMPAIGN  # type: ignore[assignment]


@strawberry.input(description="A campaign's whole configuration (an update replaces the previous one; the code stays).")
class CampaignInput:
    code: str = strawberry.field(description="2 to 32 of a-z, 0-9 and _, e.g. member_day; lines name it `campaign.<code>`.")
    name: str = strawberry.field(description="What members read in the reason of the points, e.g. \"Member day\".")
    starts_at: datetime
    ends_at: datetime = strawberry.field(description="Exclusive: activity at or after it earns nothing from the campaign.")
    reward: CampaignRewardInput
    scope: CampaignScopeInput | None = strawberry.field(default=None, description="Null: every activity in the window.")
    budget: BigInt | None = strawberry.field(
        default=None, description="Most points the campaign may issue in all (a group-wide cap may pass 2^31); null: no cap."
    )
    member_limit: CampaignMemberLimitInput | None = strawberry.field(default=None, description="Null: no per-member limit.")
    stacking: CampaignStackingEnum = Stacking.STACKABLE  # type: ignore[assignment]
    priority: int = strawberry.field(default=0, description="Higher wins among exclusive campaigns.")
    reason: str | None = strawberry.field(default=None, description="Why, for the configuration audit log.")


@strawberry.input(description="End a campaign now: activity from now on earns nothing from it.")
class EndCampaignInput:
    code: str
    reason: str | None = strawberry.field(default=None, description="Why, for the configuration audit log.")


@strawberry.type(name="CampaignScope", description="Which activity a campaign rewards; an empty list does not restrict.")
class CampaignScopeView:
    formats: list[str]
    min_tier: str | None
    tiers: list[str]
    activity_kinds: list[str]
    days_of_month: list[int]
    weekdays: list[int]
    birthday_month: bool
    min_amount: str | None = strawberry.field(description="In the group's currency, e.g. \"100.00\"; null: any amount.")


@strawberry.type(name="CampaignReward", description="What a campaign adds to an activity in scope.")
class CampaignRewardView:
    multiplier: str
    fixed_bonus: int
    cross_format_bonus: int


@strawberry.type(description="A campaign's budget: points issued so far, the cap and what is left (null: no cap).")
class CampaignBudget:
    cap: BigInt | None
    issued: BigInt
    left: BigInt | None


@strawberry.type(description="At most `points` from the campaign per member and `period`.")
class CampaignMemberLimit:
    points: int
    period: CampaignLimitPeriodEnum


@strawberry.type(description="A time-boxed earn boost of the group.")
class Campaign:
    code: str
    name: str
    starts_at: datetime
    ends_at: datetime
    status: CampaignStatusEnum
    scope: CampaignScopeView
    reward: CampaignRewardView
    budget: CampaignBudget
    member_limit: CampaignMemberLimit | None
    stacking: CampaignStackingEnum
    priority: int

    @classmethod
    def from_config(cls, config: CampaignConfig, budget: Budget, *, now: datetime, currency: str) -> Campaign:
        """The GraphQL view of a campaign and its live budget."""
        scope, reward, limit = config.scope, config.reward, config.member_limit
        status = (
            CampaignStatusEnum.SCHEDULED
            if now < config.starts_at
            else CampaignStatusEnum.RUNNING
            if now < config.ends_at
            else CampaignStatusEnum.ENDED
        )
        return cls(
            code=config.code,
            name=config.name,
            starts_at=config.starts_at,
            ends_at=config.ends_at,
            status=status,
            scope=CampaignScopeView(
                formats=list(scope.formats),
                min_tier=scope.min_tier,
                tiers=list(scope.tiers),
                activity_kinds=list(scope.activity_kinds),
                days_of_month=list(scope.days_of_month),
                weekdays=list(scope.weekdays),
                birthday_month=scope.birthday_month,
                min_amount=None if scope.min_amount_minor is None else str(Money(scope.min_amount_minor, currency).amount),
            ),
            reward=CampaignRewardView(
                multiplier=str(reward.multiplier), fixed_bonus=reward.fixed_bonus, cross_format_bonus=reward.cross_format_bonus
            ),
            budget=CampaignBudget(cap=budget.cap, issued=budget.issued, left=budget.left),
            member_limit=None if limit is None else CampaignMemberLimit(points=limit.points, period=limit.period),  # type: ignore[arg-type]
            stacking=config.stacking,  # type: ignore[arg-type]
            priority=config.priority,
        )


@strawberry.type(description="The campaign as the change left it.")
class CampaignPayload:
    campaign: Campaign | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _min_amount(core: Core, value: MoneyInput | None) -> int | None:
    if value is None:
        return None
    field = "input.scope.minAmount"
    try:
        money = value.to_money(field=field)
    except AtriumError as exc:
        raise AtriumError(ErrorCode.INVALID_CONFIG, exc.message, exc.field) from None
    if money.currency != core.settings.currency:
        raise AtriumError(ErrorCode.INVALID_CONFIG, f"The group runs its points in {core.settings.currency}.", f"{field}.currency")
    return money.minor


def config_from_input(core: Core, value: CampaignInput) -> CampaignConfig:
    """The (not yet validated) configuration an admin's input asks for."""
    scope = value.scope or CampaignScopeInput()
    limit = value.member_limit
    return CampaignConfig(
        code=value.code,
        name=value.name,
        starts_at=value.starts_at,
        ends_at=value.ends_at,
        scope=CampaignScope(
            formats=tuple(scope.formats),
            min_tier=scope.min_tier,
            tiers=tuple(scope.tiers),
            activity_kinds=tuple(scope.activity_kinds),
            days_of_month=tuple(scope.days_of_month),
            weekdays=tuple(scope.weekdays),
            birthday_month=scope.birthday_month,
            min_amount_minor=_min_amount(core, scope.min_amount),
        ),
        reward=CampaignReward(
            multiplier=value.reward.multiplier,  # type: ignore[arg-type] - validated into a Decimal
            fixed_bonus=value.reward.fixed_bonus,
            cross_format_bonus=value.reward.cross_format_bonus,
        ),
        budget_cap=value.budget,
        member_limit=None if limit is None else MemberLimit(points=limit.points, period=LimitPeriod(limit.period.value)),
        stacking=Stacking(value.stacking.value),
        priority=value.priority,
    )


async def _payload(work: Callable[[], Awaitable[CampaignConfig]], info: Info[Context, None]) -> CampaignPayload:
    try:
        config = await work()
    except AtriumError as exc:
        return CampaignPayload(errors=[UserError.from_error(placed(exc))])
    core = info.context.core
    async with core.db.read() as conn:
        budget = (await budgets(conn, [config.code]))[config.code]
    return CampaignPayload(campaign=Campaign.from_config(config, budget, now=info.context.now(), currency=core.settings.currency))


@strawberry.type
class CampaignMutation:
    @strawberry.mutation(description="Create a campaign (admin only); validated (INVALID_CONFIG) and audited.")
    async def create_campaign(self, info: Info[Context, None], input: CampaignInput) -> CampaignPayload:
        async def work() -> CampaignConfig:
            principal = info.context.require_role(Role.ADMIN)
            core = info.context.core
            config = config_from_input(core, input)
            return await create_campaign(core, config, actor=principal.subject, now=info.context.now(), reason=input.reason)

        return await _payload(work, info)

    @strawberry.mutation(
        description="Replace a campaign's configuration (admin only); its budget cannot go below what it already issued."
    )
    async def update_campaign(self, info: Info[Context, None], input: CampaignInput) -> CampaignPayload:
        async def work() -> CampaignConfig:
            principal = info.context.require_role(Role.ADMIN)
            core = info.context.core
            config = config_from_input(core, input)
            return await update_campaign(core, config, actor=principal.subject, now=info.context.now(), reason=input.reason)

        return await _payload(work, info)

    @strawberry.mutation(description="End a campaign now (admin only): activity from now on earns nothing from it.")
    async def end_campaign(self, info: Info[Context, None], input: EndCampaignInput) -> CampaignPayload:
        async def work() -> CampaignConfig:
            principal = info.context.require_role(Role.ADMIN)
            return await end_campaign(
                info.context.core, input.code, actor=principal.subject, now=info.context.now(), reason=input.reason
            )

        return await _payload(work, info)


@strawberry.type
class CampaignQuery:
    @strawberry.field(description="The group's campaigns with their budgets (admin and service tokens), by code.")
    async def campaigns(self, info: Info[Context, None], include_ended: bool = False) -> list[Campaign]:
        try:
            info.context.require_role(Role.ADMIN, Role.SERVICE)
        except AtriumError as exc:
            raise as_graphql_error(exc) from None
        core, now = info.context.core, info.context.now()
        configs = [config for config in await campaign_configs(core) if include_ended or now < config.ends_at]
        async with core.db.read() as conn:
            found = await budgets(conn, [config.code for config in configs])
        return [Campaign.from_config(config, found[config.code], now=now, currency=core.settings.currency) for config in configs]
