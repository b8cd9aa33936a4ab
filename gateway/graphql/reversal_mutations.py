"""Refunding an activity and cancelling a redemption: a format's service account (or an admin), in its own format."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.types import Info

from gateway.auth import Principal, Role, forbidden
from gateway.errors import AtriumError, ErrorCode
from gateway.graphql.context import Context
from gateway.graphql.mutations import MemberPayload, as_payload, posting_payload
from gateway.graphql.types import Posting
from gateway.ledger.cancel import CancelRequest, cancel_redemption
from gateway.ledger.reverse import RefundRequest, refund_activity
from gateway.plugin_api import MoneyInput


@strawberry.input(description="Refund all or part of an activity: its points and growth value are clawed back in proportion.")
class RefundActivityInput:
    format: str = strawberry.field(description="The format that recorded the activity, e.g. retail.")
    amount: MoneyInput = strawberry.field(description="How much is refunded: more than zero, at most what is left to refund.")
    idempotency_key: str = strawberry.field(description="Unique per refund, e.g. the refund slip id; a retry with the same key is safe.")
    original: str | None = strawberry.field(
        default=None, description="The activity's idempotency key (its receipt or bill id); or give `originalPosting`."
    )
    original_posting: strawberry.ID | None = strawberry.field(
        default=None, description="The activity's posting id (a Posting global id); or give `original`."
    )


@strawberry.input(description="Cancel a redemption: its points go back to the lots they came from (to expiry for lots expired since).")
class CancelRedemptionInput:
    format: str = strawberry.field(description="The format whose reward was redeemed, e.g. dining.")
    idempotency_key: str = strawberry.field(description="Unique per cancellation; a retry with the same key is safe.")
    redemption: str | None = strawberry.field(
        default=None, description="The redemption's idempotency key; or give `redemptionPosting`."
    )
    redemption_posting: strawberry.ID | None = strawberry.field(
        default=None, description="The redemption's posting id (a Posting global id); or give `redemption`."
    )


@strawberry.type(description="The refund's posting (or the original one, on a replay), and the member after it.")
class RefundActivityPayload(MemberPayload):
    posting: Posting | None = None


@strawberry.type(description="The cancellation's posting (or the original one, on a replay), and the member after it.")
class CancelRedemptionPayload(MemberPayload):
    posting: Posting | None = None


def posting_id_from_global(value: str | None, field: str) -> int | None:
    """The posting number inside a Posting global id; ``None`` when not given."""
    if value is None:
        return None
    try:
        global_id = relay.GlobalID.from_id(str(value))
        if global_id.type_name != "Posting":
            raise ValueError(global_id.type_name)
        return int(global_id.node_id)
    except ValueError:  # strawberry's GlobalIDValueError, another type, a non-numeric id
        raise AtriumError(ErrorCode.INVALID_INPUT, f"{value!r} is not a Posting id.", field) from None


def _service_of(info: Info[Context, None], format_code: str, action: str) -> Principal:
    """The caller, if it is the format's service account or an admin; ``FORBIDDEN`` otherwise."""
    principal = info.context.require_role(Role.SERVICE, Role.ADMIN)
    if not principal.can_act_for_format(format_code):
        raise forbidden(f"A {principal.format} service account cannot {action} in {format_code}.", "input.format")
    return principal


@strawberry.type
class ReversalMutation:
    @strawberry.mutation(
        description="Refund all or part of an activity (the format's service account or admin): points and growth "
        "value go back in proportion; the tier changes only at evaluation."
    )
    async def refund_activity(self, info: Info[Context, None], input: RefundActivityInput) -> RefundActivityPayload:
        async def work() -> RefundActivityPayload:
            _service_of(info, input.format, "refund activities")
            request = RefundRequest(
                format=input.format,
                amount=input.amount.to_money(field="input.amount"),
                idempotency_key=input.idempotency_key,
                original_key=input.original,
                original_posting_id=posting_id_from_global(input.original_posting, "input.originalPosting"),
            )
            result = await refund_activity(info.context.core, request, now=info.context.now())
            return posting_payload(info, RefundActivityPayload, result)

        return await as_payload(RefundActivityPayload, work)

    @strawberry.mutation(
        description="Cancel a redemption once (the format's service account or admin): its points go back to their lots."
    )
    async def cancel_redemption(self, info: Info[Context, None], input: CancelRedemptionInput) -> CancelRedemptionPayload:
        async def work() -> CancelRedemptionPayload:
            _service_of(info, input.format, "cancel redemptions")
            request = CancelRequest(
                format=input.format,
                idempotency_key=input.idempotency_key,
                redemption_key=input.redemption,
                redemption_posting_id=posting_id_from_global(input.redemption_posting, "input.redemptionPosting"),
            )
            result = await cancel_redemption(info.context.core, request, now=info.context.now())
            return posting_payload(info, CancelRedemptionPayload, result)

        return await as_payload(CancelRedemptionPayload, work)
