"""Group admins' mutations on one member: freeze, unfreeze, adjust points. Admin tokens only; all audited."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from gateway.auth import Principal, Role
from gateway.graphql.context import Context
from gateway.graphql.inputs import MemberRefInput, member_ref
from gateway.graphql.mutations import MemberPayload, as_payload, forget, posting_payload
from gateway.graphql.types import Posting
from gateway.ledger.adjust import AdjustRequest, adjust_points
from gateway.member_status import freeze_member, unfreeze_member


@strawberry.input(description="Freeze a member: it can neither earn nor redeem until unfrozen.")
class FreezeMemberInput:
    member: MemberRefInput
    reason: str = strawberry.field(description="Why, for the audit log (1 to 500 characters).")


@strawberry.input(description="Unfreeze a member: it can earn and redeem again.")
class UnfreezeMemberInput:
    member: MemberRefInput
    reason: str = strawberry.field(description="Why, for the audit log (1 to 500 characters).")


@strawberry.input(description="Credit or debit a member's points by hand, with a reason; a retry with the same key is safe.")
class AdjustPointsInput:
    member: MemberRefInput
    points: int = strawberry.field(description="Non-zero: positive credits the member, negative debits (never below zero).")
    reason: str = strawberry.field(description="Why, shown in the member's history and kept in the audit log (1 to 500 characters).")
    idempotency_key: str = strawberry.field(description="Unique per adjustment, e.g. the support ticket id.")


@strawberry.type(description="The adjustment's posting (or the original one, on a replay), and the member after it.")
class AdjustPointsPayload(MemberPayload):
    posting: Posting | None = None


@strawberry.type
class FreezeMemberPayload(MemberPayload):
    pass


@strawberry.type
class UnfreezeMemberPayload(MemberPayload):
    pass


def _admin(info: Info[Context, None]) -> Principal:
    """The caller, if it holds an admin token; ``FORBIDDEN`` otherwise."""
    return info.context.require_role(Role.ADMIN)


@strawberry.type
class AdminMutation:
    @strawberry.mutation(description="Freeze a member (admin only): earning and redeeming are refused with MEMBER_FROZEN.")
    async def freeze_member(self, info: Info[Context, None], input: FreezeMemberInput) -> FreezeMemberPayload:
        async def work() -> FreezeMemberPayload:
            principal = _admin(info)
            ref = member_ref(info.context, input.member, "input.member")
            member_id = await freeze_member(
                info.context.core.db, ref, actor=principal.subject, reason=input.reason, now=info.context.now()
            )
            forget(info.context.members, member_id)
            return FreezeMemberPayload(member_id=member_id)

        return await as_payload(FreezeMemberPayload, work)

    @strawberry.mutation(description="Unfreeze a member (admin only).")
    async def unfreeze_member(self, info: Info[Context, None], input: UnfreezeMemberInput) -> UnfreezeMemberPayload:
        async def work() -> UnfreezeMemberPayload:
            principal = _admin(info)
            ref = member_ref(info.context, input.member, "input.member")
            member_id = await unfreeze_member(
                info.context.core.db, ref, actor=principal.subject, reason=input.reason, now=info.context.now()
            )
            forget(info.context.members, member_id)
            return UnfreezeMemberPayload(member_id=member_id)

        return await as_payload(UnfreezeMemberPayload, work)

    @strawberry.mutation(description="Credit or debit a member's points with a reason (admin only); debits never overdraw.")
    async def adjust_points(self, info: Info[Context, None], input: AdjustPointsInput) -> AdjustPointsPayload:
        async def work() -> AdjustPointsPayload:
            principal = _admin(info)
            request = AdjustRequest(
                member=member_ref(info.context, input.member, "input.member"),
                points=input.points,
                reason=input.reason,
                idempotency_key=input.idempotency_key,
                actor=principal.subject,
            )
            result = await adjust_points(info.context.core, request, now=info.context.now())
            return posting_payload(info, AdjustPointsPayload, result)

        return await as_payload(AdjustPointsPayload, work)
