"""GraphQL for tills: holds (reserve, capture, void) and points plus cash (quote, apply).

A format's service account acts only in its format; an admin acts in any. A member token may ask
for a points-plus-cash quote of its own points; placing, capturing, voiding and applying are the
till's (service or admin tokens). Holds are named by the key the till placed them with.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum
from typing import TypeVar

import strawberry
from strawberry.types import Info

from gateway.auth import Principal, Role, forbidden
from gateway.errors import AtriumError, ErrorCode
from gateway.graphql.context import Context, as_graphql_error
from gateway.graphql.inputs import MemberRefInput, member_ref
from gateway.graphql.mutations import (
    MemberPayload,
    as_payload,
    forget,
    posting_payload,
    resolve_member_id,
)
from gateway.graphql.types import Posting
from gateway.ledger.cash import (
    OffsetQuote,
    OffsetRequest,
    apply_points_offset,
    quote_points_offset,
)
from gateway.ledger.holds import (
    CaptureRequest,
    HoldRequest,
    HoldResult,
    HoldRow,
    VoidRequest,
    capture_hold,
    place_hold,
    void_hold,
)
from gateway.ledger.postings import MemberRef
from gateway.money import Money
from gateway.plugin_api import MoneyInput

P = TypeVar("P")


@strawberry.enum(name="HoldStatus")
class HoldStatusEnum(Enum):
    """Where a hold stands: still reserving points, spent, or given back."""

    HELD = "held"
    CAPTURED = "captured"
    VOIDED = "voided"


@strawberry.type(description="Points a till reserved for a payment: captured (spent) or voided (given back) once, or void by itself when it lapses.")
class Hold:
    key: str = strawberry.field(description="The idempotency key the till placed it with; capture and void name the hold by it.")
    format: str
    points: int = strawberry.field(description="Points reserved.")
    status: HoldStatusEnum
    created_at: datetime
    expires_at: datetime = strawberry.field(description="When it voids itself unless captured or voided before.")
    settled_at: datetime | None = strawberry.field(description="When it was captured or voided.")
    lapsed: bool = strawberry.field(description="True when nobody captured it in time and it voided itself.")

    @classmethod
    def from_row(cls, row: HoldRow) -> Hold:
        """Wrap a stored hold."""
        return cls(
            key=row.idempotency_key,
            format=row.format,
            points=row.points,
            status=HoldStatusEnum(row.status),
            created_at=row.created_at,
            expires_at=row.expires_at,
            settled_at=row.settled_at,
            lapsed=row.lapsed,
        )


@strawberry.input(description="Reserve a member's points at a till; a retry with the same key is safe.")
class PlaceHoldInput:
    member: MemberRefInput
    format: str = strawberry.field(description="The till's format, e.g. dining.")
    points: int = strawberry.field(description="Points to reserve, at least 1; never more than the member has.")
    idempotency_key: str = strawberry.field(description="The till's payment id; later names the hold in captureHold and voidHold.")
    ttl_minutes: int | None = strawberry.field(
        default=None, description="Minutes before the hold voids itself (1 to 1440); omitted: the group's default (30)."
    )


@strawberry.input(description="Spend points of a hold; the rest goes back to the member.")
class CaptureHoldInput:
    format: str
    hold: str = strawberry.field(description="The key the hold was placed with.")
    idempotency_key: str = strawberry.field(description="Unique per capture; a retry with the same key is safe.")
    points: int | None = strawberry.field(default=None, description="Points to spend, at most the hold's; omitted: all of them.")


@strawberry.input(description="Give back every point of a hold.")
class VoidHoldInput:
    format: str
    hold: str = strawberry.field(description="The key the hold was placed with.")
    idempotency_key: str = strawberry.field(description="Unique per void; a retry with the same key is safe.")


@strawberry.type(description="The hold and the posting that placed, captured or voided it (the original one on a replay), and the member after it.")
class HoldPayload(MemberPayload):
    hold: Hold | None = None
    posting: Posting | None = None


@strawberry.type
class PlaceHoldPayload(HoldPayload):
    pass


@strawberry.type
class CaptureHoldPayload(HoldPayload):
    pass


@strawberry.type
class VoidHoldPayload(HoldPayload):
    pass


@strawberry.input(description="Pay part of a bill with points (积分抵现), the rest in cash; a retry with the same key is safe.")
class ApplyPointsOffsetInput:
    member: MemberRefInput
    format: str = strawberry.field(description="The format whose bill it is, e.g. property.")
    bill: MoneyInput = strawberry.field(description="The whole bill, in the group's currency.")
    points: int = strawberry.field(description="Points to pay with: at most what pointsOffsetQuote allows.")
    idempotency_key: str = strawberry.field(description="The bill id: unique per payment.")


@strawberry.type(description="The offset posting (details: billMinor, offsetMinor, cashMinor, currency), and the member after it.")
class ApplyPointsOffsetPayload(MemberPayload):
    posting: Posting | None = None


@strawberry.type(description="How far a member's points go on one bill: points pay up to a capped share, cash the rest. Amounts in major units.")
class PointsOffsetQuote:
    format: str
    currency: str
    bill: str = strawberry.field(description="The bill, e.g. \"120.00\".")
    points: int = strawberry.field(description="Most points that may pay this bill now: the balance or the cap, whichever is less.")
    offset: str = strawberry.field(description="What those points pay.")
    cash: str = strawberry.field(description="What is left to pay in cash.")
    max_points: int = strawberry.field(description="Most points the cap allows on this bill, whatever the balance.")
    balance: int = strawberry.field(description="The member's points available now.")
    points_value_minor: int = strawberry.field(description="Minor units (fen, cents) one point pays in this format.")
    cap_percent: int = strawberry.field(description="Largest share of a bill, in percent, points may pay in this format.")

    @classmethod
    def from_quote(cls, quote: OffsetQuote) -> PointsOffsetQuote:
        """Wrap a service quote."""
        return cls(
            format=quote.format,
            currency=quote.bill.currency,
            bill=str(quote.bill.amount),
            points=quote.points,
            offset=str(quote.offset.amount),
            cash=str(quote.cash.amount),
            max_points=quote.max_points,
            balance=quote.balance,
            points_value_minor=quote.policy.points_value_minor,
            cap_percent=quote.policy.cap_percent,
        )


def _till(info: Info[Context, None], format_code: str) -> Principal:
    """The caller, if it is the service account of ``format_code`` or an admin; ``FORBIDDEN`` otherwise."""
    principal = info.context.require_role(Role.SERVICE, Role.ADMIN)
    if not principal.can_act_for_format(format_code):
        raise forbidden(f"A {principal.format} service account cannot act for {format_code}.", "input.format")
    return principal


def _hold_payload(info: Info[Context, None], payload: type[P], result: HoldResult) -> P:
    forget(info.context.members, result.posting.member_id)
    return payload(  # type: ignore[call-arg]
        hold=Hold.from_row(result.hold), posting=Posting.from_result(result.posting), member_id=result.posting.member_id
    )


def _bill(value: MoneyInput, field: str) -> Money:
    return value.to_money(field=field)


@strawberry.type
class HoldMutation:
    @strawberry.mutation(description="Reserve a member's points at a till (service of the format, or admin); it voids itself unless captured in time.")
    async def place_hold(self, info: Info[Context, None], input: PlaceHoldInput) -> PlaceHoldPayload:
        async def work() -> PlaceHoldPayload:
            _till(info, input.format)
            request = HoldRequest(
                member=member_ref(info.context, input.member, "input.member"),
                format=input.format,
                points=input.points,
                idempotency_key=input.idempotency_key,
                ttl=timedelta(minutes=input.ttl_minutes) if input.ttl_minutes is not None else None,
            )
            result = await place_hold(info.context.core, request, now=info.context.now())
            return _hold_payload(info, PlaceHoldPayload, result)

        return await as_payload(PlaceHoldPayload, work)

    @strawberry.mutation(description="Spend some or all points of a hold at its format; the rest goes back (service of the format, or admin).")
    async def capture_hold(self, info: Info[Context, None], input: CaptureHoldInput) -> CaptureHoldPayload:
        async def work() -> CaptureHoldPayload:
            _till(info, input.format)
            request = CaptureRequest(
                format=input.format, hold_key=input.hold, idempotency_key=input.idempotency_key, points=input.points
            )
            result = await capture_hold(info.context.core, request, now=info.context.now())
            return _hold_payload(info, CaptureHoldPayload, result)

        return await as_payload(CaptureHoldPayload, work)

    @strawberry.mutation(description="Give back every point of a hold (service of the format, or admin).")
    async def void_hold(self, info: Info[Context, None], input: VoidHoldInput) -> VoidHoldPayload:
        async def work() -> VoidHoldPayload:
            _till(info, input.format)
            request = VoidRequest(format=input.format, hold_key=input.hold, idempotency_key=input.idempotency_key)
            result = await void_hold(info.context.core, request, now=info.context.now())
            return _hold_payload(info, VoidHoldPayload, result)

        return await as_payload(VoidHoldPayload, work)

    @strawberry.mutation(description="Pay part of a bill with points, the rest in cash (service of the format, or admin).")
    async def apply_points_offset(self, info: Info[Context, None], input: ApplyPointsOffsetInput) -> ApplyPointsOffsetPayload:
        async def work() -> ApplyPointsOffsetPayload:
            _till(info, input.format)
            request = OffsetRequest(
                member=member_ref(info.context, input.member, "input.member"),
                format=input.format,
                bill=_bill(input.bill, "input.bill"),
                points=input.points,
                idempotency_key=input.idempotency_key,
            )
            result = await apply_points_offset(info.context.core, request, now=info.context.now())
            return posting_payload(info, ApplyPointsOffsetPayload, result)

        return await as_payload(ApplyPointsOffsetPayload, work)


@strawberry.type
class PointsOffsetQuery:
    @strawberry.field(
        description=(
            "How many points may pay a bill in a format now, and the cash left (service of the format or admin; "
            "a member token for its own points, `member` omitted)."
        )
    )
    async def points_offset_quote(
        self, info: Info[Context, None], format: str, bill: MoneyInput, member: MemberRefInput | None = None
    ) -> PointsOffsetQuote:
        try:
            principal = info.context.caller()
            if principal.role is Role.MEMBER:
                ref = MemberRef(member_id=principal.member_id)
                if member is not None:
                    asked = await resolve_member_id(info, member_ref(info.context, member, "member"), "member")
                    if asked != principal.member_id:
                        raise forbidden("A member token can only quote its own points.", "member")
            else:
                if not principal.can_act_for_format(format):
                    raise forbidden(f"A {principal.format} service account cannot quote {format} bills.", "format")
                if member is None:
                    raise AtriumError(ErrorCode.INVALID_INPUT, "Say whose points to quote.", "member")
                ref = member_ref(info.context, member, "member")
            quote = await quote_points_offset(
                info.context.core, ref, format, _bill(bill, "bill"), now=info.context.now()
            )
        except AtriumError as exc:
            raise as_graphql_error(exc) from None
        return PointsOffsetQuote.from_quote(quote)
