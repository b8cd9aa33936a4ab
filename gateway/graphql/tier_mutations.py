"""Group admins' mutations on the tier ladder: its tiers, its policy, and a member's tier by hand.

Admin tokens only (``FORBIDDEN`` otherwise); a bad ladder or policy is ``INVALID_CONFIG`` with
the field at fault and writes nothing; every accepted change is in the configuration audit log
(``configChanges(entity: "tier")`` / ``"tier_policy"``). The rules live in
:mod:`gateway.tier_config` and :mod:`gateway.tier_assign`.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from gateway.auth import Role
from gateway.graphql.context import Context
from gateway.graphql.inputs import MemberRefInput, member_ref
from gateway.graphql.mutations import MemberPayload, as_payload, forget
from gateway.graphql.tier_types import TierDowngradeEnum, TierPolicyView
from gateway.graphql.types import Tier, UserError
from gateway.tier_assign import assign_tier
from gateway.tier_config import TierDraft, set_ladder, set_policy
from gateway.tiers import DowngradeMode, Ladder, TierPolicy


@strawberry.input(description="One tier of the ladder.")
class TierInput:
    code: str = strawberry.field(description="Stable code, e.g. \"gold\": lower case, digits and '_'. Members keep their tier by code.")
    name: str = strawberry.field(description="What members read, 1 to 64 characters.")
    rank: int = strawberry.field(description="Position on the ladder, 0 or more; unique. The lowest rank is where members start.")
    threshold: int = strawberry.field(description="Growth value over the window that qualifies; 0 for the lowest tier, increasing with rank.")
    multiplier: str = strawberry.field(description="Earn multiplier, 1 to 100, at most 3 decimals, e.g. \"1.25\".")
    min_formats: int | None = strawberry.field(
        default=None, description="Breadth rule: formats with an earn in the window also needed (to reach and to keep the tier); null: none."
    )
    retention_threshold: int | None = strawberry.field(
        default=None, description="Window growth that keeps the tier at evaluation, 0 to the threshold; null: the threshold."
    )


@strawberry.input(description="The whole ladder: tiers named are created or changed, tiers left out are removed.")
class SetTierLadderInput:
    tiers: list[TierInput]
    reason: str | None = strawberry.field(default=None, description="Why, for the configuration audit log.")


@strawberry.input(description="The ladder's policy.")
class SetTierPolicyInput:
    window_months: int = strawberry.field(default=12, description="Rolling window, 1 to 36 months.")
    evaluation_every_months: int = strawberry.field(default=1, description="1, 2, 3, 4, 6 or 12: months between evaluations, from January.")
    evaluation_day: int = strawberry.field(default=1, description="Day of the month evaluations run (1 to 28), at midnight in the group's time zone.")
    grace_months: int = strawberry.field(default=0, description="0 to 24: how long a member failing to keep its tier keeps it.")
    downgrade: TierDowngradeEnum = strawberry.field(default=DowngradeMode.ONE_STEP)  # type: ignore[valid-type]
    reason: str | None = strawberry.field(default=None, description="Why, for the configuration audit log.")


@strawberry.input(description="Put a member in a tier by hand (a VIP, a correction).")
class AssignMemberTierInput:
    member: MemberRefInput
    tier: str = strawberry.field(description="The tier's code.")
    reason: str = strawberry.field(description="Why, for the tier history and the audit log (1 to 500 characters).")


@strawberry.type(description="The ladder as it is after the change.")
class TierLadderPayload:
    tiers: list[Tier] | None = None
    policy: TierPolicyView | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    def of(cls, ladder: Ladder) -> TierLadderPayload:
        """The payload showing ``ladder``."""
        return cls(tiers=[Tier.from_info(tier) for tier in ladder.tiers], policy=TierPolicyView.from_policy(ladder.policy))


@strawberry.type(description="The member in its new tier.")
class AssignMemberTierPayload(MemberPayload):
    pass


@strawberry.type
class TierMutation:
    @strawberry.mutation(
        description=(
            "Replace the tier ladder (admin only). Validated as a whole: INVALID_CONFIG with the field at fault, nothing written. "
            "Members move on the new ladder at their next earn (up) or the next evaluation (down)."
        )
    )
    async def set_tier_ladder(self, info: Info[Context, None], input: SetTierLadderInput) -> TierLadderPayload:
        async def work() -> TierLadderPayload:
            principal = info.context.require_role(Role.ADMIN)
            drafts = [
                TierDraft(
                    code=tier.code,
                    name=tier.name,
                    rank=tier.rank,
                    threshold=tier.threshold,
                    multiplier=tier.multiplier,
                    min_formats=tier.min_formats,
                    retention_threshold=tier.retention_threshold,
                )
                for tier in input.tiers
            ]
            ladder = await set_ladder(info.context.core, drafts, actor=principal.subject, reason=input.reason, now=info.context.now())
            info.context.ladder_changed(ladder)
            return TierLadderPayload.of(ladder)

        return await as_payload(TierLadderPayload, work)

    @strawberry.mutation(description="Set the ladder's window, evaluation schedule, grace and downgrade mode (admin only).")
    async def set_tier_policy(self, info: Info[Context, None], input: SetTierPolicyInput) -> TierLadderPayload:
        async def work() -> TierLadderPayload:
            principal = info.context.require_role(Role.ADMIN)
            policy = TierPolicy(
                window_months=input.window_months,
                evaluation_every_months=input.evaluation_every_months,
                evaluation_day=input.evaluation_day,
                grace_months=input.grace_months,
                downgrade=DowngradeMode(input.downgrade),
            )
            ladder = await set_policy(info.context.core, policy, actor=principal.subject, reason=input.reason, now=info.context.now())
            info.context.ladder_changed(ladder)
            return TierLadderPayload.of(ladder)

        return await as_payload(TierLadderPayload, work)

    @strawberry.mutation(description="Put a member in a tier by hand, with a reason (admin only); in its tier history and the audit log.")
    async def assign_member_tier(self, info: Info[Context, None], input: AssignMemberTierInput) -> AssignMemberTierPayload:
        async def work() -> AssignMemberTierPayload:
            principal = info.context.require_role(Role.ADMIN)
            ref = member_ref(info.context, input.member, "input.member")
            member_id = await assign_tier(
                info.context.core, ref, input.tier, actor=principal.subject, reason=input.reason, now=info.context.now()
            )
            forget(info.context.members, member_id)
            return AssignMemberTierPayload(member_id=member_id)

        return await as_payload(AssignMemberTierPayload, work)
