"""GraphQL types of coupons: a coupon as a till or its member sees it, and a member's coupons page."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from gateway.coupons import MAX_PAGE, member_coupons
from gateway.errors import AtriumError, ErrorCode
from gateway.graphql.actor import actor_for_caller
from gateway.graphql.context import Context, as_graphql_error
from gateway.ledger.coupons import CouponRow
from gateway.money import Money

if TYPE_CHECKING:
    from gateway.graphql.types import Member, Reward


@strawberry.enum(name="CouponStatus")
class CouponStatusEnum(Enum):
    """Where a coupon stands. It leaves ISSUED once: used at a till, cancelled with its redemption
    (points returned), or expired (past `expiresAt`, no points returned)."""

    ISSUED = "issued"
    USED = "used"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


@strawberry.type(description="A coupon a redemption issued: used once at a till of its format, cancelled with its points returned, or expired.")
class Coupon:
    code: str = strawberry.field(description="What the member shows at the till, e.g. \"RET-7LI2MST5GRQA\".")
    status: CouponStatusEnum = strawberry.field(description="As of now: an issued coupon past `expiresAt` reads EXPIRED.")
    format: str = strawberry.field(description="The issuing format's code; only its tills can use the coupon.")
    reward_code: str = strawberry.field(description="The code of the reward redeemed for it, within `format`.")
    face_value: str | None = strawberry.field(description="What one coupon is worth at the till, in major units, e.g. \"10.00\"; null for an item.")
    currency: str | None = strawberry.field(description="The currency of `faceValue`.")
    item: str | None = strawberry.field(description="What the coupon is good for, e.g. \"Dessert of the day\"; null for a face value only.")
    issued_at: datetime
    expires_at: datetime = strawberry.field(description="Unusable from this moment on.")
    used_at: datetime | None
    used_by_label: strawberry.Private[str | None]
    used_till: str | None = strawberry.field(description="The till or store the service named when using it.")
    cancelled_at: datetime | None
    redemption_posting: strawberry.ID = strawberry.field(description="The redemption that issued it (a Posting global id).")
    cancellation_posting: strawberry.ID | None = strawberry.field(description="The cancellation that returned its points (a Posting global id).")
    member_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: CouponRow, now: datetime) -> Coupon:
        """Wrap a stored coupon, its status read at ``now``."""
        face = Money(row.value_minor, row.currency) if row.value_minor is not None and row.currency else None
        return cls(
            code=row.code,
            status=CouponStatusEnum(row.status_at(now)),
            format=row.format,
            reward_code=row.reward_code,
            face_value=str(face.amount) if face else None,
            currency=face.currency if face else None,
            item=row.item,
            issued_at=row.issued_at,
            expires_at=row.expires_at,
            used_at=row.used_at,
            used_by_label=row.used_by,
            used_till=row.used_till,
            cancelled_at=row.cancelled_at,
            redemption_posting=strawberry.ID(relay.to_base64("Posting", row.redemption_posting_id)),
            cancellation_posting=(
                strawberry.ID(relay.to_base64("Posting", row.cancel_posting_id)) if row.cancel_posting_id else None
            ),
            member_id=row.member_id,
        )

    @strawberry.field(
        description="Who used it: `service:<format>[:<till subject>]` or `admin[:<subject>]`. "
        "The member holding the coupon reads only `service:<format>` or `admin`, never a staff subject."
    )
    def used_by(self, info: Info[Context, None]) -> str | None:
        return actor_for_caller(info.context, self.used_by_label)

    @strawberry.field(description="The catalogue entry of the reward; null when its plugin no longer offers it.")
    def reward(self, info: Info[Context, None]) -> Annotated["Reward", strawberry.lazy("gateway.graphql.types")] | None:
        # imported here: gateway.graphql.types imports this module for Member.coupons
        from gateway.graphql.types import Reward

        item = info.context.core.registry.reward(self.format, self.reward_code)
        return Reward.from_item(item, info) if item is not None else None

    @strawberry.field(description="The member holding the coupon (after a merge, the surviving member).")
    async def member(self, info: Info[Context, None]) -> Annotated["Member", strawberry.lazy("gateway.graphql.types")] | None:
        # imported here: gateway.graphql.types imports this module for Member.coupons
        from gateway.graphql.types import Member

        row = await info.context.members.load(self.member_id)
        return Member.from_row(row) if row is not None else None


@strawberry.type(description="A page of a member's coupons, newest first.")
class CouponConnection(relay.Connection[Coupon]):
    """Relay connection over coupons; cursors are opaque."""


def _after(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        type_name, value = relay.from_base64(cursor)
        if type_name != "Coupon":
            raise ValueError(type_name)
        return int(value)
    except Exception:
        raise as_graphql_error(AtriumError(ErrorCode.INVALID_INPUT, "Not a coupons cursor.", "after")) from None


async def member_coupon_page(
    info: Info[Context, None], member_id: int, *, status: CouponStatusEnum | None, first: int, after: str | None
) -> CouponConnection:
    """``Member.coupons``: one page of the member's coupons, newest first. One query."""
    if not 1 <= first <= MAX_PAGE:
        raise as_graphql_error(AtriumError(ErrorCode.INVALID_INPUT, f"first must be 1 to {MAX_PAGE}.", "first"))
    now = info.context.now()
    async with info.context.core.db.read() as conn:
        rows, more = await member_coupons(
            conn, member_id, now=now, first=first, before_id=_after(after), status=status.value if status else None
        )
    edges = [relay.Edge(node=Coupon.from_row(row, now), cursor=relay.to_base64("Coupon", row.id)) for row in rows]
    return CouponConnection(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=more,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
