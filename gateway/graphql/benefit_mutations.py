"""Benefits in GraphQL: tills and members use them, admins define the shared ones.

``useBenefit`` / ``cancelBenefitUse``: a format's service token (where the benefit is usable), an
admin, or the member itself. ``createSharedBenefit`` / ``updateSharedBenefit`` /
``retireSharedBenefit`` and the ``sharedBenefits`` listing: admin tokens only. The rules live in
:mod:`gateway.benefits`; this module maps inputs, callers and payloads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from gateway.actor import actor_of
from gateway.auth import Principal, Role, forbidden
from gateway.benefits.admin import (
    SharedBenefitDraft,
    create_shared_benefit,
    retire_shared_benefit,
    update_shared_benefit,
)
from gateway.benefits.catalogue import (
    BenefitDefinition,
    SharedBenefitConfig,
    shared_benefits,
)
from gateway.benefits.use import UseRequest, cancel_benefit_use, use_benefit
from gateway.errors import AtriumError, ErrorCode
from gateway.graphql.benefit_types import Benefit, BenefitUse, QuotaPeriodEnum
from gateway.graphql.context import Context, as_graphql_error
from gateway.graphql.inputs import MemberRefInput, member_ref
from gateway.graphql.mutations import (
    MemberPayload,
    UserError,
    as_payload,
    resolve_member_id,
)
from gateway.ledger.postings import MemberRef
from gateway.plugin_api import Quota
from gateway.tiers import current_ladder


@strawberry.input(description="Use a benefit for a member; a retry with the same key is safe.")
class UseBenefitInput:
    benefit: str = strawberry.field(description="`group.<code>` for a shared benefit, `<format>.<code>` for a format's.")
    idempotency_key: str = strawberry.field(description="Unique per use, e.g. the till's ticket id; a retry returns the first result.")
    quantity: int = 1
    member: MemberRefInput | None = strawberry.field(
        default=None, description="Whose benefit; required for service and admin tokens, implied by a member token."
    )
    format: str | None = strawberry.field(
        default=None,
        description="Where it is used; a service token's is its own format. Needed only for a benefit usable in several formats.",
    )


@strawberry.input(description="Cancel a use of a benefit, giving its quota back; cancelling twice is safe.")
class CancelBenefitUseInput:
    idempotency_key: str = strawberry.field(description="The key the use was made with, by the same caller.")


@strawberry.type(description="The use (or the original one, on a replay) and the member after it.")
class UseBenefitPayload(MemberPayload):
    use: BenefitUse | None = None


@strawberry.type(description="The cancelled use and the member after it.")
class CancelBenefitUsePayload(MemberPayload):
    use: BenefitUse | None = None


@strawberry.input(description="A quota: `count` uses per `period`.")
class QuotaInput:
    count: int
    period: QuotaPeriodEnum


@strawberry.input(description="A new shared benefit of the group, valid in any format unless `formats` says otherwise.")
class CreateSharedBenefitInput:
    code: str = strawberry.field(description="Lowercase letters, digits and _; the benefit's id is `group.<code>`.")
    name: str
    min_tier: str = strawberry.field(description="The lowest tier code that unlocks it, e.g. gold.")
    description: str = ""
    valid_from: datetime | None = strawberry.field(default=None, description="From when it can be used; null: at once.")
    valid_until: datetime | None = strawberry.field(default=None, description="Until when (exclusive); null: no end.")
    quota: QuotaInput | None = strawberry.field(default=None, description="How often a member may use it; null: no limit.")
    birthday_month: bool = strawberry.field(default=False, description="Usable only in the member's birth month.")
    formats: list[str] = strawberry.field(default_factory=list, description="Formats where it can be used; empty: any.")
    reason: str | None = strawberry.field(default=None, description="Why, for the configuration audit log.")


@strawberry.input(description="Change a shared benefit: a field left out keeps its value; null clears an optional one.")
class UpdateSharedBenefitInput:
    code: str
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    min_tier: str | None = strawberry.UNSET
    valid_from: datetime | None = strawberry.UNSET
    valid_until: datetime | None = strawberry.UNSET
    quota: QuotaInput | None = strawberry.UNSET
    birthday_month: bool | None = strawberry.UNSET
    formats: list[str] | None = strawberry.UNSET
    active: bool | None = strawberry.field(default=strawberry.UNSET, description="True brings a retired benefit back.")
    reason: str | None = strawberry.field(default=None, description="Why, for the configuration audit log.")


@strawberry.input(description="Retire a shared benefit: it leaves every wall and can no longer be used.")
class RetireSharedBenefitInput:
    code: str
    reason: str | None = strawberry.field(default=None, description="Why, for the configuration audit log.")


@strawberry.type(description="The shared benefit as the change left it.")
class SharedBenefitPayload:
    benefit: Benefit | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def key_space(principal: Principal) -> str:
    """The caller's own space of idempotency keys: each format's tills, the admins, each member."""
    if principal.role is Role.SERVICE:
        return f"service:{principal.format}"
    if principal.role is Role.MEMBER:
        return f"member:{principal.member_id}"
    return "admin"


async def _whose(info: Info[Context, None], principal: Principal, member: MemberRefInput | None) -> MemberRef:
    if principal.role is Role.MEMBER:
        if member is not None:
            asked = await resolve_member_id(info, member_ref(info.context, member, "input.member"))
            if asked != principal.member_id:
                raise forbidden("A member token can only use its own benefits.", "input.member")
        return MemberRef(member_id=principal.member_id)
    if member is None:
        raise AtriumError(ErrorCode.INVALID_INPUT, "Say whose benefit to use.", "input.member")
    return member_ref(info.context, member, "input.member")


def _where(principal: Principal, asked: str | None) -> str | None:
    if principal.role is not Role.SERVICE:
        return asked
    if asked is not None and asked != principal.format:
        raise forbidden(f"A {principal.format} service account uses benefits in {principal.format} only.", "input.format")
    return principal.format


async def _benefit_view(info: Info[Context, None], config: SharedBenefitConfig) -> Benefit:
    core = info.context.core
    return Benefit.from_definition(BenefitDefinition.from_shared(config), core, await current_ladder(core))


_NOT_NULL = {"name": "name", "min_tier": "minTier", "birthday_month": "birthdayMonth", "active": "active"}


def _changes(input: UpdateSharedBenefitInput) -> dict[str, Any]:
    """The fields an update sets, as the service names them; null for a field that cannot be empty is refused."""
    changes: dict[str, Any] = {}
    for name in ("name", "description", "min_tier", "valid_from", "valid_until", "birthday_month", "active"):
        value = getattr(input, name)
        if value is not strawberry.UNSET:
            changes[name] = value
    if input.quota is not strawberry.UNSET:
        changes["quota"] = Quota(input.quota.count, input.quota.period.value) if input.quota else None
    if input.formats is not strawberry.UNSET:
        changes["formats"] = tuple(input.formats or ())
    for name, field in _NOT_NULL.items():
        if name in changes and changes[name] is None:
            raise AtriumError(ErrorCode.INVALID_CONFIG, "This field cannot be null.", field)
    if "description" in changes and changes["description"] is None:
        changes["description"] = ""
    return changes


@strawberry.type
class BenefitMutation:
    @strawberry.mutation(
        description=(
            "Use a benefit for a member (a till of a format where it is usable, an admin, or the member itself). "
            "Refused with BENEFIT_NOT_FOUND, BENEFIT_LOCKED, QUOTA_EXCEEDED, MEMBER_FROZEN ...; never past its quota."
        )
    )
    async def use_benefit(self, info: Info[Context, None], input: UseBenefitInput) -> UseBenefitPayload:
        async def work() -> UseBenefitPayload:
            principal = info.context.caller()
            request = UseRequest(
                member=await _whose(info, principal, input.member),
                benefit=input.benefit,
                quantity=input.quantity,
                idempotency_key=input.idempotency_key,
                scope=key_space(principal),
                actor=actor_of(principal),
                where=_where(principal, input.format),
            )
            result = await use_benefit(info.context.core, request, now=info.context.now())
            info.context.benefit_usage.clear_all()
            return UseBenefitPayload(use=BenefitUse.from_result(result), member_id=result.member_id)

        return await as_payload(UseBenefitPayload, work)

    @strawberry.mutation(description="Cancel a benefit use made with `idempotencyKey` by the same caller; its quota comes back.")
    async def cancel_benefit_use(self, info: Info[Context, None], input: CancelBenefitUseInput) -> CancelBenefitUsePayload:
        async def work() -> CancelBenefitUsePayload:
            principal = info.context.caller()
            result = await cancel_benefit_use(
                info.context.core, scope=key_space(principal), idempotency_key=input.idempotency_key, now=info.context.now()
            )
            info.context.benefit_usage.clear_all()
            return CancelBenefitUsePayload(use=BenefitUse.from_result(result), member_id=result.member_id)

        return await as_payload(CancelBenefitUsePayload, work)

    @strawberry.mutation(description="Define a shared benefit of the group (admin only); audited.")
    async def create_shared_benefit(self, info: Info[Context, None], input: CreateSharedBenefitInput) -> SharedBenefitPayload:
        async def work() -> SharedBenefitPayload:
            principal = info.context.require_role(Role.ADMIN)
            draft = SharedBenefitDraft(
                code=input.code,
                name=input.name,
                description=input.description,
                min_tier=input.min_tier,
                valid_from=input.valid_from,
                valid_until=input.valid_until,
                quota=Quota(input.quota.count, input.quota.period.value) if input.quota else None,
                birthday_month=input.birthday_month,
                formats=tuple(input.formats),
            )
            created = await create_shared_benefit(
                info.context.core, draft, actor=principal.subject, reason=input.reason, now=info.context.now()
            )
            return SharedBenefitPayload(benefit=await _benefit_view(info, created))

        return await as_payload(SharedBenefitPayload, work)

    @strawberry.mutation(description="Change a shared benefit (admin only); fields left out keep their value; audited.")
    async def update_shared_benefit(self, info: Info[Context, None], input: UpdateSharedBenefitInput) -> SharedBenefitPayload:
        async def work() -> SharedBenefitPayload:
            principal = info.context.require_role(Role.ADMIN)
            updated = await update_shared_benefit(
                info.context.core, input.code, _changes(input), actor=principal.subject, reason=input.reason, now=info.context.now()
            )
            return SharedBenefitPayload(benefit=await _benefit_view(info, updated))

        return await as_payload(SharedBenefitPayload, work)

    @strawberry.mutation(description="Retire a shared benefit (admin only): off every wall, no longer usable; audited.")
    async def retire_shared_benefit(self, info: Info[Context, None], input: RetireSharedBenefitInput) -> SharedBenefitPayload:
        async def work() -> SharedBenefitPayload:
            principal = info.context.require_role(Role.ADMIN)
            retired = await retire_shared_benefit(
                info.context.core, input.code, actor=principal.subject, reason=input.reason, now=info.context.now()
            )
            return SharedBenefitPayload(benefit=await _benefit_view(info, retired))

        return await as_payload(SharedBenefitPayload, work)


@strawberry.type
class BenefitQuery:
    @strawberry.field(description="The group's shared benefits, by code (admin tokens); retired ones too when asked.")
    async def shared_benefits(self, info: Info[Context, None], include_retired: bool = False) -> list[Benefit]:
        try:
            info.context.require_role(Role.ADMIN)
        except AtriumError as exc:
            raise as_graphql_error(exc) from None
        core = info.context.core
        ladder = await current_ladder(core)
        return [
            Benefit.from_definition(BenefitDefinition.from_shared(item), core, ladder)
            for item in await shared_benefits(core)
            if (item.active or include_retired) and item.min_tier in ladder
        ]
