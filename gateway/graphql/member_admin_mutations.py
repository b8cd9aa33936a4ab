"""Group admins' mutations on member records: merge two records of one person, erase a member on request.

Admin tokens only (``FORBIDDEN`` otherwise), each with a mandatory reason, each audited. The
rules live in :mod:`gateway.merge` and :mod:`gateway.erasure`; this module only maps inputs and
payloads and drops what the request's data loaders cached about the members it changed.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from gateway.auth import Role
from gateway.erasure import erase_member
from gateway.graphql.context import Context
from gateway.graphql.inputs import MemberRefInput, member_ref
from gateway.graphql.mutations import MemberPayload, as_payload, forget
from gateway.merge import merge_members


@strawberry.input(
    description=(
        "Merge two member records of one person: identities, points, lots, holds, coupons, growth, benefit quota "
        "usage and campaign usage move to `survivor` (usage is summed per period)."
    )
)
class MergeMembersInput:
    survivor: MemberRefInput = strawberry.field(description="The record that stays.")
    merged: MemberRefInput = strawberry.field(
        description="The record merged away; its id keeps resolving to the survivor, its history shows in the survivor's."
    )
    reason: str = strawberry.field(description="Why, for the audit log (1 to 500 characters).")


@strawberry.input(description="Erase a member on request: its identities are deleted, its ledger stays, anonymous.")
class EraseMemberInput:
    member: MemberRefInput
    reason: str = strawberry.field(description="Why, for the audit log (1 to 500 characters); do not repeat personal data here.")


@strawberry.type(description="The survivor as the merge left it.")
class MergeMembersPayload(MemberPayload):
    pass


@strawberry.type(description="The erased member: status ERASED, no identities, its balance unchanged.")
class EraseMemberPayload(MemberPayload):
    pass


def _forget_member(info: Info[Context, None], *member_ids: int) -> None:
    for member_id in member_ids:
        forget(info.context.members, member_id)
        forget(info.context.identities, member_id)


@strawberry.type
class MemberAdminMutation:
    @strawberry.mutation(
        description=(
            "Merge two records of one person (admin only). A retry, or records that already are one, changes nothing; "
            "a survivor that was itself merged away is refused with MEMBER_MERGED."
        )
    )
    async def merge_members(self, info: Info[Context, None], input: MergeMembersInput) -> MergeMembersPayload:
        async def work() -> MergeMembersPayload:
            principal = info.context.require_role(Role.ADMIN)
            result = await merge_members(
                info.context.core,
                member_ref(info.context, input.survivor, "input.survivor"),
                member_ref(info.context, input.merged, "input.merged"),
                actor=principal.subject,
                reason=input.reason,
                now=info.context.now(),
            )
            _forget_member(info, result.survivor_id, result.merged_id)
            return MergeMembersPayload(member_id=result.survivor_id)

        return await as_payload(MergeMembersPayload, work)

    @strawberry.mutation(
        description="Erase a member's identities on request (admin only); it can no longer earn or redeem (MEMBER_ERASED)."
    )
    async def erase_member(self, info: Info[Context, None], input: EraseMemberInput) -> EraseMemberPayload:
        async def work() -> EraseMemberPayload:
            principal = info.context.require_role(Role.ADMIN)
            result = await erase_member(
                info.context.core,
                member_ref(info.context, input.member, "input.member"),
                actor=principal.subject,
                reason=input.reason,
                now=info.context.now(),
            )
            _forget_member(info, result.member_id)
            return EraseMemberPayload(member_id=result.member_id)

        return await as_payload(EraseMemberPayload, work)
