"""GraphQL for coupons at the till: look a code up, use it once, cancel it (points back).

A format's service account sees and acts on its own format's coupons only (another format's code
is ``COUPON_NOT_FOUND``, like a missing one); an admin on every format's. A member token may look
up its own coupons; using and cancelling are the till's.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from gateway.actor import actor_of
from gateway.auth import Principal, Role
from gateway.coupons import (
    CancelCouponRequest,
    UseCouponRequest,
    cancel_coupon,
    lookup_coupon,
    use_coupon,
)
from gateway.errors import AtriumError, ErrorCode
from gateway.graphql.context import Context, as_graphql_error
from gateway.graphql.coupon_types import Coupon
from gateway.graphql.error_fields import placed
from gateway.graphql.mutations import MemberPayload, as_payload, forget
from gateway.graphql.types import Posting, UserError


@strawberry.input(description="Use a coupon at a till, once; a retry with the same key returns the same success.")
class UseCouponInput:
    code: str = strawberry.field(description="The code the member shows; spaces and case do not matter.")
    idempotency_key: str = strawberry.field(description="The till's transaction id, unique within the format.")
    till: str | None = strawberry.field(default=None, description="The till or store using it (up to 64 characters), recorded with the use.")


@strawberry.input(description="Cancel an unused coupon: its redemption is cancelled with all its coupons and the points go back.")
class CancelCouponInput:
    code: str
    idempotency_key: str = strawberry.field(description="Unique per cancellation; a retry with the same key is safe.")


@strawberry.type(description="The coupon as it stands after the attempt (also when refused, to show why), and whether this answered a retry.")
class UseCouponPayload:
    coupon: Coupon | None = None
    replayed: bool = strawberry.field(default=False, description="True when this answers a retry of the use that succeeded.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The cancellation's posting (the original one on a replay), every coupon it cancelled, and the member after it.")
class CancelCouponPayload(MemberPayload):
    posting: Posting | None = None
    coupons: list[Coupon] = strawberry.field(default_factory=list)


def _till(info: Info[Context, None]) -> Principal:
    """The caller if it is a service account or an admin; ``FORBIDDEN`` otherwise."""
    return info.context.require_role(Role.SERVICE, Role.ADMIN)


@strawberry.type
class CouponQuery:
    @strawberry.field(
        description="Look a coupon code up (a till of the issuing format, an admin, or the member holding it): "
        "its status, reward, value, member and expiry. Unknown codes and other formats' are COUPON_NOT_FOUND."
    )
    async def coupon(self, info: Info[Context, None], code: str) -> Coupon:
        try:
            principal = info.context.caller()
            row = await lookup_coupon(
                info.context.core,
                code,
                format_code=principal.format if principal.role is Role.SERVICE else None,
                member_id=principal.member_id if principal.role is Role.MEMBER else None,
            )
        except AtriumError as exc:
            raise as_graphql_error(exc) from None
        return Coupon.from_row(row, info.context.now())


@strawberry.type
class CouponMutation:
    @strawberry.mutation(
        description="Use a coupon once (a till of the issuing format, or an admin): of any number of concurrent uses "
        "exactly one succeeds; the others get COUPON_NOT_USABLE saying why (used, expired, cancelled)."
    )
    async def use_coupon(self, info: Info[Context, None], input: UseCouponInput) -> UseCouponPayload:
        async def work() -> UseCouponPayload:
            principal = _till(info)
            scope = principal.format if principal.role is Role.SERVICE else None
            request = UseCouponRequest(
                code=input.code,
                idempotency_key=input.idempotency_key,
                used_by=actor_of(principal),
                format_code=scope,
                till=input.till,
            )
            now = info.context.now()
            try:
                used = await use_coupon(info.context.core, request, now=now)
            except AtriumError as exc:
                if exc.code is not ErrorCode.COUPON_NOT_USABLE:
                    raise
                current = await lookup_coupon(info.context.core, input.code, format_code=scope)
                return UseCouponPayload(coupon=Coupon.from_row(current, now), errors=[UserError.from_error(placed(exc))])
            return UseCouponPayload(coupon=Coupon.from_row(used.coupon, now), replayed=used.replayed)

        return await as_payload(UseCouponPayload, work)

    @strawberry.mutation(
        description="Cancel an unused coupon (a till of the issuing format, or an admin): the redemption that issued it "
        "is cancelled with all of its coupons and the points go back to their lots. Refused (COUPON_NOT_USABLE) when "
        "any of those coupons was used or has expired."
    )
    async def cancel_coupon(self, info: Info[Context, None], input: CancelCouponInput) -> CancelCouponPayload:
        async def work() -> CancelCouponPayload:
            principal = _till(info)
            request = CancelCouponRequest(
                code=input.code,
                idempotency_key=input.idempotency_key,
                format_code=principal.format if principal.role is Role.SERVICE else None,
            )
            now = info.context.now()
            done = await cancel_coupon(info.context.core, request, now=now)
            forget(info.context.members, done.posting.member_id)
            return CancelCouponPayload(
                posting=Posting.from_result(done.posting),
                coupons=[Coupon.from_row(row, now) for row in done.coupons],
                member_id=done.posting.member_id,
            )

        return await as_payload(CancelCouponPayload, work)
