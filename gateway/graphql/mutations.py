"""Root mutation fields. Expected failures are data: every payload carries ``errors: [UserError!]!``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from gateway.auth import Principal, Role, forbidden
from gateway.errors import AtriumError, ErrorCode
from gateway.graphql.context import Context
from gateway.graphql.error_fields import INPUT_ONLY, placed
from gateway.graphql.inputs import (
    EnrolInput,
    LinkIdentityInput,
    RedeemInput,
    identity_key,
    member_ref,
)
from gateway.graphql.types import Member, Posting, UserError, member_or_none
from gateway.identity import (
    IdentityKey,
    IdentityKind,
    enrol,
    find_member_id,
    link_identity,
)
from gateway.ledger.postings import MemberRef, PostingResult
from gateway.ledger.redeem import RedeemRequest, find_reward, redeem

P = TypeVar("P")


@strawberry.type
class MemberPayload:
    """A payload that can show the member as the mutation left it, read only when asked for."""

    member_id: strawberry.Private[int | None] = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @strawberry.field(description="The member as it is after the mutation; null when it failed.")
    async def member(self, info: Info[Context, None]) -> Member | None:
        if self.member_id is None:
            return None
        return member_or_none(await info.context.members.load(self.member_id))


@strawberry.type
class EnrolPayload(MemberPayload):
    pass


@strawberry.type
class LinkIdentityPayload(MemberPayload):
    pass


@strawberry.type(description="The posting an activity made (or the original one, on a replay), and the member after it.")
class RecordActivityPayload(MemberPayload):
    posting: Posting | None = None


@strawberry.type
class RedeemPayload(MemberPayload):
    posting: Posting | None = None


def forget(loader: DataLoader[int, Any], key: int) -> None:
    """Drop ``key`` from a loader's per-request cache after a write changed it."""
    try:
        loader.clear(key)
    except KeyError:
        pass


async def as_payload(payload: type[P], work: Callable[[], Awaitable[P]], *, arguments: Collection[str] = INPUT_ONLY) -> P:
    """Run ``work``; an :class:`AtriumError` becomes ``payload(errors=[...])`` instead of an exception.

    The error's field is placed among the mutation's ``arguments`` (:func:`gateway.graphql.error_fields.placed`).
    """
    try:
        return await work()
    except AtriumError as exc:
        return payload(errors=[UserError.from_error(placed(exc, arguments))])  # type: ignore[call-arg]


def posting_payload(info: Info[Context, None], payload: type[P], result: PostingResult) -> P:
    """A payload holding ``result``; the member, if asked for, is read fresh after the posting."""
    forget(info.context.members, result.member_id)
    return payload(posting=Posting.from_result(result), member_id=result.member_id)  # type: ignore[call-arg]


def _check_identity_scope(principal: Principal, identity: IdentityKey) -> None:
    if identity.kind is IdentityKind.CUSTOMER_ID and not principal.can_act_for_format(identity.namespace):
        raise forbidden(f"A {principal.format} service account cannot set {identity.namespace} customer ids.", "input.identity.format")


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Enrol a new member recognised by one identity (service and admin tokens).")
    async def enrol(self, info: Info[Context, None], input: EnrolInput) -> EnrolPayload:
        async def work() -> EnrolPayload:
            principal = info.context.require_role(Role.SERVICE, Role.ADMIN)
            key = identity_key(info.context, input.identity, "input.identity")
            _check_identity_scope(principal, key)
            core = info.context.core
            member_id = await enrol(
                core.db,
                identity=key,
                ladder=await info.context.ladder(),
                enrolled_format=principal.format,
                now=info.context.now(),
                birth_date=input.birth_date,
            )
            return EnrolPayload(member_id=member_id)

        return await as_payload(EnrolPayload, work)

    @strawberry.mutation(description="Link another identity (e.g. a dining app id) to an existing member.")
    async def link_identity(self, info: Info[Context, None], input: LinkIdentityInput) -> LinkIdentityPayload:
        async def work() -> LinkIdentityPayload:
            principal = info.context.require_role(Role.SERVICE, Role.ADMIN)
            key = identity_key(info.context, input.identity, "input.identity")
            _check_identity_scope(principal, key)
            member_id = await resolve_member_id(info, member_ref(info.context, input.member, "input.member"))
            await link_identity(info.context.core.db, member_id=member_id, identity=key, now=info.context.now())
            forget(info.context.identities, member_id)
            forget(info.context.members, member_id)
            return LinkIdentityPayload(member_id=member_id)

        return await as_payload(LinkIdentityPayload, work)

    @strawberry.mutation(description="Spend points earned in any format on a reward (member token: your own points).")
    async def redeem(self, info: Info[Context, None], input: RedeemInput) -> RedeemPayload:
        async def work() -> RedeemPayload:
            principal = info.context.caller()
            core = info.context.core
            find_reward(core, input.format, input.reward)
            if principal.role is Role.MEMBER:
                ref = MemberRef(member_id=principal.member_id)
                if input.member is not None:
                    asked = await resolve_member_id(info, member_ref(info.context, input.member, "input.member"))
                    if asked != principal.member_id:
                        raise forbidden("A member token can only redeem its own points.", "input.member")
            else:
                if not principal.can_act_for_format(input.format):
                    raise forbidden(f"A {principal.format} service account cannot redeem {input.format} rewards.", "input.format")
                if input.member is None:
                    raise AtriumError(ErrorCode.INVALID_INPUT, "Say whose points to redeem.", "input.member")
                ref = member_ref(info.context, input.member, "input.member")
            request = RedeemRequest(
                member=ref, format=input.format, reward=input.reward, quantity=input.quantity, idempotency_key=input.idempotency_key
            )
            result = await redeem(core, request, now=info.context.now())
            return posting_payload(info, RedeemPayload, result)

        return await as_payload(RedeemPayload, work)


async def resolve_member_id(info: Info[Context, None], ref: MemberRef, field: str = "input.member") -> int:
    """The member id behind a reference, or ``MEMBER_NOT_FOUND`` on ``field`` (the argument that named it)."""
    if ref.member_id is not None:
        row = await info.context.members.load(ref.member_id)
        if row is not None:
            return row.id
    else:
        assert ref.identity is not None
        async with info.context.core.db.read() as conn:
            found = await find_member_id(conn, ref.identity)
        if found is not None:
            return found
    raise AtriumError(ErrorCode.MEMBER_NOT_FOUND, "No such member.", field)

