"""GraphQL types of the tier ladder beyond ``Tier``: the policy, a member's progress and tier history."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from gateway.errors import AtriumError, ErrorCode
from gateway.graphql.context import Context, as_graphql_error
from gateway.graphql.tier_loaders import TierHistoryKey
from gateway.graphql.types import Tier, TierProgress
from gateway.members import MemberRow
from gateway.tier_history import TierHistoryRow
from gateway.tiers import DowngradeMode, TierPolicy

MAX_HISTORY = 100

TierDowngradeEnum = strawberry.enum(
    DowngradeMode,
    name="TierDowngrade",
    description="Where a member that lost its tier at evaluation goes: ONE_STEP down, or TO_QUALIFIED: the highest tier it keeps.",
)


@strawberry.enum(name="TierChangeSource", description="What changed a member's tier.")
class TierChangeSourceEnum(Enum):
    EARN = "earn"
    EVALUATION = "evaluation"
    ADMIN = "admin"
    MERGE = "merge"


@strawberry.type(name="TierPolicy", description="How the ladder qualifies members and when it evaluates them.")
class TierPolicyView:
    window_months: int = strawberry.field(description="Growth value counts over this many months, ending now (or at the evaluation).")
    evaluation_every_months: int = strawberry.field(description="Evaluations run in months 1, 1+n, 1+2n ... of the year.")
    evaluation_day: int = strawberry.field(description="Day of the month evaluations run, at midnight in the group's time zone.")
    grace_months: int = strawberry.field(description="A member failing to keep its tier keeps it this long (0: down at once).")
    downgrade: TierDowngradeEnum  # type: ignore[valid-type]
    schedule: str = strawberry.field(description="The schedule in words, e.g. \"monthly on day 1\".")

    @classmethod
    def from_policy(cls, policy: TierPolicy) -> TierPolicyView:
        """Wrap the ladder's policy."""
        return cls(
            window_months=policy.window_months,
            evaluation_every_months=policy.evaluation_every_months,
            evaluation_day=policy.evaluation_day,
            grace_months=policy.grace_months,
            downgrade=policy.downgrade,
            schedule=policy.describe(),
        )


@strawberry.type(description="One change of a member's tier: from, to, why, and the qualifying activity then.")
class TierChange:
    at: datetime
    source: TierChangeSourceEnum
    from_code: str = strawberry.field(description="Code of the tier before (kept even if the tier was since removed).")
    to_code: str = strawberry.field(description="Code of the tier after.")
    reason: str
    qualifying_growth: int = strawberry.field(description="Growth value over the window when the tier changed.")
    formats: int = strawberry.field(description="Formats earned in within the window when the tier changed.")

    @strawberry.field(name="from", description="The tier before, as the ladder has it now; null if it was removed.")
    async def from_tier(self, info: Info[Context, None]) -> Tier | None:
        ladder = await info.context.ladder()
        return Tier.from_info(ladder.get(self.from_code)) if self.from_code in ladder else None

    @strawberry.field(name="to", description="The tier after, as the ladder has it now; null if it was removed.")
    async def to_tier(self, info: Info[Context, None]) -> Tier | None:
        ladder = await info.context.ladder()
        return Tier.from_info(ladder.get(self.to_code)) if self.to_code in ladder else None

    @classmethod
    def from_row(cls, row: TierHistoryRow) -> TierChange:
        """Wrap a history row."""
        return cls(
            at=row.at,
            source=TierChangeSourceEnum(row.source.value),
            from_code=row.from_tier,
            to_code=row.to_tier,
            reason=row.reason,
            qualifying_growth=row.qualifying_growth,
            formats=row.formats,
        )


async def member_tier_progress(info: Info[Context, None], row: MemberRow) -> TierProgress:
    """The member's progress: its standing (batched per request) on the request's ladder."""
    ladder = await info.context.ladder()
    standing = await info.context.tier_standings.load(row.id)
    progress = ladder.progress(
        row.tier_code,
        now_standing=standing.now,
        standing_at_evaluation=standing.at_next_evaluation,
        window_start=standing.window_start,
        next_evaluation=standing.next_evaluation,
        grace_until=row.tier_grace_until,
    )
    return TierProgress(
        current=Tier.from_info(progress.current),
        next=Tier.from_info(progress.next) if progress.next else None,
        growth_value=progress.growth_value,
        growth_to_next=progress.growth_to_next,
        formats=progress.standing.formats,
        formats_to_next=progress.formats_to_next,
        growth_to_keep=progress.growth_to_keep,
        formats_to_keep=progress.formats_to_keep,
        window_months=ladder.policy.window_months,
        window_start=progress.window_start,
        next_evaluation=progress.next_evaluation,
        grace_until=progress.grace_until,
    )


async def member_tier_history(info: Info[Context, None], member_id: int, first: int) -> list[TierChange]:
    """The member's newest ``first`` tier changes (batched per request)."""
    if not 1 <= first <= MAX_HISTORY:
        raise as_graphql_error(AtriumError(ErrorCode.INVALID_INPUT, f"first must be 1 to {MAX_HISTORY}.", "first"))
    return [TierChange.from_row(row) for row in await info.context.tier_histories.load(TierHistoryKey(member_id, first))]


@strawberry.type
class TierQuery:
    @strawberry.field(description="The ladder's policy: window, evaluation schedule, grace and downgrade mode (any token).")
    async def tier_policy(self, info: Info[Context, None]) -> TierPolicyView:
        try:
            info.context.caller()
        except AtriumError as exc:
            raise as_graphql_error(exc) from None
        return TierPolicyView.from_policy((await info.context.ladder()).policy)

