"""GraphQL object types of the gateway. They wrap service rows (``strawberry.Private``), never ORM models."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import func, select
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.coupons import MAX_PAGE as MAX_COUPON_PAGE
from gateway.errors import AtriumError, ErrorCode
from gateway.graphql.actor import ACTOR_DESCRIPTION, resolve_posting_actor
from gateway.graphql.context import Context, as_graphql_error
from gateway.graphql.coupon_types import (
    CouponConnection,
    CouponStatusEnum,
    member_coupon_page,
)
from gateway.graphql.enums import (
    ErrorCodeEnum,
    IdentityKindEnum,
    MemberStatusEnum,
    PostingKindEnum,
)
from gateway.graphql.points import (
    ExpiringPoints,
    PointsLot,
    member_expiring_points,
    member_lots,
)
from gateway.ledger.history import MAX_PAGE, history_page
from gateway.ledger.postings import POSTING_COLUMNS, PostingResult, posting_from_row
from gateway.members import IdentityRow, MemberRow
from gateway.money import Money
from gateway.persistence.models import member_table, posting_table
from gateway.plugin_api import Activity, ActivityDetails, RedemptionType, TierInfo
from gateway.plugin_api import BusinessFormat as FormatItem

if TYPE_CHECKING:
    from gateway.graphql.benefit_types import MemberBenefit
    from gateway.graphql.forecast import MemberForecast
    from gateway.graphql.tier_types import TierChange


@strawberry.type(description="A typed, expected failure: switch on `code`; `field` points at the input (null: the whole request).")
class UserError:
    code: ErrorCodeEnum
    field: str | None
    message: str

    @classmethod
    def from_error(cls, error: AtriumError) -> "UserError":
        """The GraphQL form of a service error."""
        return cls(code=ErrorCodeEnum(error.code.value), field=error.field, message=error.message)


@strawberry.type(description="A business format of the group: retail, dining, property ...")
class BusinessFormat:
    code: str
    name: str
    description: str

    @classmethod
    def from_item(cls, item: FormatItem) -> "BusinessFormat":
        """Wrap a registered format."""
        return cls(code=item.code, name=item.name, description=item.description)


@strawberry.type(description="A rung of the group's tier ladder.")
class Tier:
    code: str
    name: str
    rank: int
    threshold: int = strawberry.field(description="Growth value over the rolling window (see `tierPolicy`) that qualifies for the tier.")
    multiplier: str = strawberry.field(description="Earn multiplier as a decimal string, e.g. \"1.5\".")

    @classmethod
    def from_info(cls, tier: TierInfo) -> "Tier":
        """Wrap a ladder tier."""
        return cls(code=tier.code, name=tier.name, rank=tier.rank, threshold=tier.threshold, multiplier=str(tier.multiplier))

    @strawberry.field(description="Breadth rule: formats with an earn in the window the tier also needs, to reach and to keep it; null: none.")
    async def min_formats(self, info: Info[Context, None]) -> int | None:
        ladder = await info.context.ladder()
        return ladder.rule(self.code).min_formats if self.code in ladder else None

    @strawberry.field(description="Growth value over the window that keeps the tier at evaluation (the threshold unless set lower).")
    async def retention_threshold(self, info: Info[Context, None]) -> int:
        ladder = await info.context.ladder()
        return ladder.rule(self.code).keep_threshold if self.code in ladder else self.threshold


@strawberry.type(description="Where the member stands on the ladder: how far the next tier is, and what keeps the current one.")
class TierProgress:
    current: Tier
    next: Tier | None
    growth_value: int = strawberry.field(description="Growth value over the rolling window ending now: what decides the tier.")
    growth_to_next: int | None = strawberry.field(description="Growth value still needed for `next`; null at the top.")
    formats: int = strawberry.field(description="Formats the member earned in within the window.")
    formats_to_next: int | None = strawberry.field(description="Formats still needed for `next` (its breadth rule); null at the top.")
    growth_to_keep: int = strawberry.field(
        description="Growth value still needed by `nextEvaluation` to keep the current tier, counting what will still be in the window then; 0: kept."
    )
    formats_to_keep: int = strawberry.field(description="Formats still needed by `nextEvaluation` to keep the current tier; 0: kept.")
    window_months: int = strawberry.field(description="Length of the rolling window.")
    window_start: datetime = strawberry.field(description="Start of the window ending now.")
    next_evaluation: datetime = strawberry.field(description="When tiers are next evaluated (downgrades happen only then).")
    grace_until: datetime | None = strawberry.field(
        description="The member failed to keep its tier at an evaluation and keeps it until this evaluation date; null: not in grace."
    )


@strawberry.type(description="A reward of the catalogue, bought with points earned in any format.")
class Reward:
    id: str = strawberry.field(description="`<format>.<code>`; pass format and code to `redeem`.")
    code: str
    name: str
    description: str
    format: BusinessFormat
    points: int = strawberry.field(description="Cost of one unit in points.")
    max_quantity: int
    min_tier_code: strawberry.Private[str | None] = None

    @strawberry.field(description="The tier needed to redeem it; null: everybody.")
    async def min_tier(self, info: Info[Context, None]) -> Tier | None:
        if self.min_tier_code is None:
            return None
        ladder = await info.context.ladder()
        return Tier.from_info(ladder.get(self.min_tier_code)) if self.min_tier_code in ladder else None

    @classmethod
    def from_item(cls, item: RedemptionType, info: Info[Context, None]) -> "Reward":
        """Wrap a registered redemption type."""
        core = info.context.core
        return cls(
            id=f"{item.format}.{item.code}",
            code=item.code,
            name=item.name,
            description=item.description,
            format=BusinessFormat.from_item(core.registry.formats[item.format]),
            points=item.points,
            max_quantity=min(item.max_quantity, core.settings.max_redemption_quantity),
            min_tier_code=item.min_tier,
        )


@strawberry.type(description="One line of a posting: which rule or reward, how many points, and why.")
class PostingLine:
    rule: str
    points: int
    growth: int
    reason: str


@strawberry.type(description="One ledger posting: an earn or a redemption, with the reason a member reads.")
class Posting(relay.Node):
    posting_id: relay.NodeID[int]
    kind: PostingKindEnum
    format: str
    points: int = strawberry.field(
        description="Points the posting gave (positive, pending ones included) or took (negative); balanceAfter is what is spendable after it."
    )
    growth: int
    balance_after: int
    reason: str
    lines: list[PostingLine]
    activity_kind: str | None
    reward: str | None = strawberry.field(description="`<format>.<code>` of the redeemed reward.")
    quantity: int | None
    amount: str | None = strawberry.field(description="Activity amount in major units, e.g. \"120.00\".")
    currency: str | None
    store: str | None
    details: JSON = strawberry.field(description="Format-specific facts: line items, voucher codes ...")
    tier_before: str
    tier_after: str
    idempotency_key: str
    occurred_at: datetime
    created_at: datetime
    replayed: bool = strawberry.field(description="True when this result answers a replayed idempotency key.")
    member_id: strawberry.Private[int]
    amount_minor: strawberry.Private[int | None] = None

    @strawberry.field(description="Format-specific facts of the activity; null for redemptions or formats that show none.")
    def activity(self, info: Info[Context, None]) -> ActivityDetails | None:
        kind = info.context.core.registry.activity_kinds.get((self.format, self.activity_kind or ""))
        if kind is None or kind.details_type is None or self.amount_minor is None or not self.currency:
            return None
        stored = Activity(
            format=self.format,
            kind=kind.name,
            reference=self.idempotency_key,
            amount=Money(self.amount_minor, self.currency),
            occurred_at=self.occurred_at,
            store=self.store,
            details=self.details,
        )
        return kind.details_type.from_activity(stored)  # type: ignore[attr-defined,no-any-return]

    @strawberry.field(description=ACTOR_DESCRIPTION)
    async def actor(self, info: Info[Context, None]) -> str | None:
        return await resolve_posting_actor(info.context, self.posting_id)

    @classmethod
    def from_result(cls, result: PostingResult) -> "Posting":
        """Wrap a ledger posting."""
        amount = None
        if result.amount_minor is not None and result.currency:
            amount = str(Money(result.amount_minor, result.currency).amount)
        return cls(
            posting_id=result.id,
            kind=PostingKindEnum(result.kind),
            format=result.format,
            points=result.points,
            growth=result.growth,
            balance_after=result.balance_after,
            reason=result.reason,
            lines=[PostingLine(**line) for line in result.lines],
            activity_kind=result.activity_kind,
            reward=f"{result.format}.{result.reward_code}" if result.reward_code else None,
            quantity=result.quantity,
            amount=amount,
            currency=result.currency,
            store=result.store,
            details=result.details,
            tier_before=result.tier_before,
            tier_after=result.tier_after,
            idempotency_key=result.idempotency_key,
            occurred_at=result.occurred_at,
            created_at=result.created_at,
            replayed=result.replayed,
            member_id=result.member_id,
            amount_minor=result.amount_minor,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list["Posting | None"]:
        """Postings by global id; a member sees only its own, and those of member records merged into it."""
        try:
            principal = info.context.caller()
        except AtriumError as exc:
            raise as_graphql_error(exc) from None
        ids = [int(node_id) for node_id in node_ids]
        owner = func.coalesce(member_table.c.merged_into_id, member_table.c.id).label("owner_id")
        query = (
            select(*POSTING_COLUMNS, owner)
            .select_from(posting_table.join(member_table, member_table.c.id == posting_table.c.member_id))
            .where(posting_table.c.id.in_(ids))
        )
        async with info.context.core.db.read() as conn:
            rows = (await conn.execute(query)).all()
        found = {row.id: cls.from_result(posting_from_row(row)) for row in rows if principal.can_see_member(row.owner_id)}
        return [found.get(i) for i in ids]


@strawberry.type(description="A way the member is recognised.")
class Identity:
    kind: IdentityKindEnum
    format: str | None = strawberry.field(description="The issuing format of a customer id.")
    value: str

    @classmethod
    def from_row(cls, row: IdentityRow) -> "Identity":
        """Wrap an identity row."""
        return cls(kind=IdentityKindEnum(row.kind.value), format=row.namespace or None, value=row.value)


@strawberry.type(description="A page of the member's history, newest first.")
class HistoryConnection(relay.Connection[Posting]):
    """Relay connection over postings; cursors are opaque."""


def _cursor(posting_id: int) -> str:
    return relay.to_base64("Posting", posting_id)


def _after(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        type_name, value = relay.from_base64(cursor)
        if type_name != "Posting":
            raise ValueError(type_name)
        return int(value)
    except Exception:
        raise as_graphql_error(AtriumError(ErrorCode.INVALID_INPUT, "Not a history cursor.", "after")) from None


@strawberry.type(description="A member of the group: one identity, one balance, one tier across every format.")
class Member(relay.Node):
    member_id: relay.NodeID[int]
    row: strawberry.Private[MemberRow]

    @classmethod
    def from_row(cls, row: MemberRow) -> "Member":
        """Wrap a member row."""
        return cls(member_id=row.id, row=row)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list["Member | None"]:
        """Members by global id; a member token sees only itself."""
        try:
            principal = info.context.caller()
        except AtriumError as exc:
            raise as_graphql_error(exc) from None
        ids = [int(node_id) for node_id in node_ids]
        rows = await info.context.members.load_many(ids)
        return [cls.from_row(row) if row and principal.can_see_member(row.id) else None for row in rows]

    @strawberry.field(description="Member number, as printed on the card.")
    def number(self) -> int:
        return self.row.id

    @strawberry.field
    def status(self) -> MemberStatusEnum:
        return MemberStatusEnum(self.row.status)

    @strawberry.field
    def enrolled_at(self) -> datetime:
        return self.row.enrolled_at

    @strawberry.field(description="The member's birth date, if given at enrolment (birthday campaigns and benefits).")
    def birth_date(self) -> date | None:
        return self.row.birth_date

    @strawberry.field(description="Points available to spend now.")
    def points_balance(self) -> int:
        return self.row.available_points

    @strawberry.field(description="Points earned but not spendable yet (e.g. within a return window); see `lots`.")
    def pending_points(self) -> int:
        return self.row.pending_points

    @strawberry.field(description="Points reserved by tills' holds, not spendable until voided; a lapsed hold no longer counts.")
    def held_points(self) -> int:
        return self.row.held_points

    @strawberry.field(
        description="Lifetime growth value (not spendable). The tier counts growth over the rolling window: see `tierProgress`."
    )
    def growth_value(self) -> int:
        return self.row.growth_value

    @strawberry.field
    async def tier(self, info: Info[Context, None]) -> Tier:
        return Tier.from_info((await info.context.ladder()).get(self.row.tier_code))

    @strawberry.field(description="Growth in the window, growth to the next tier, what keeps the current one by the next evaluation, grace.")
    async def tier_progress(self, info: Info[Context, None]) -> TierProgress:
        from gateway.graphql.tier_types import member_tier_progress

        return await member_tier_progress(info, self.row)

    @strawberry.field(description="The member's changes of tier, newest first: upgrades at earn, evaluations, admins, merges.")
    async def tier_history(
        self, info: Info[Context, None], first: Annotated[int, strawberry.argument(description="1 to 100.")] = 20
    ) -> list[Annotated["TierChange", strawberry.lazy("gateway.graphql.tier_types")]]:
        from gateway.graphql.tier_types import member_tier_history

        return await member_tier_history(info, self.row.id, first)  # type: ignore[return-value]

    @strawberry.field(
        description="At the member's recent pace: projected points and growth in 12 months, the projected tier and the rewards "
        "the projected balance buys (the method is in MemberForecast's description). No recent activity: zeros."
    )
    async def forecast(self, info: Info[Context, None]) -> Annotated["MemberForecast", strawberry.lazy("gateway.graphql.forecast")]:
        from gateway.graphql.forecast import member_forecast_field

        return await member_forecast_field(info, self.row)  # type: ignore[return-value]

    @strawberry.field(
        description=(
            "Every benefit across formats, plugins' and shared ones: unlocked, or locked with the tier that unlocks it "
            "and why; quota'd ones with this period's use."
        )
    )
    async def benefits(
        self, info: Info[Context, None]
    ) -> list[Annotated["MemberBenefit", strawberry.lazy("gateway.graphql.benefit_types")]]:
        from gateway.graphql.benefit_types import member_benefits

        return await member_benefits(info, self.row)  # type: ignore[return-value]

    @strawberry.field
    async def identities(self, info: Info[Context, None]) -> list[Identity]:
        return [Identity.from_row(row) for row in await info.context.identities.load(self.row.id)]

    @strawberry.field(description="Lots still holding points, first-expiring first: what will be spent first.")
    async def lots(self, info: Info[Context, None]) -> list[PointsLot]:
        return await member_lots(info, self.row.id)

    @strawberry.field(description="Points expiring in each of the next `months` months (1 to 60), months with none left out.")
    async def expiring_points(self, info: Info[Context, None], months: int = 12) -> list[ExpiringPoints]:
        return await member_expiring_points(info, self.row.id, months)

    @strawberry.field(description="The member's coupons, newest first; `status` filters (an issued coupon past its expiry reads EXPIRED).")
    async def coupons(
        self,
        info: Info[Context, None],
        status: CouponStatusEnum | None = None,
        first: Annotated[int, strawberry.argument(description=f"Page size, 1 to {MAX_COUPON_PAGE}.")] = 20,
        after: str | None = None,
    ) -> CouponConnection:
        return await member_coupon_page(info, self.row.id, status=status, first=first, after=after)

    @strawberry.field(description="Earns and redemptions, newest first.")
    async def history(
        self,
        info: Info[Context, None],
        first: Annotated[int, strawberry.argument(description=f"Page size, 1 to {MAX_PAGE}.")] = 10,
        after: str | None = None,
    ) -> HistoryConnection:
        if not 1 <= first <= MAX_PAGE:
            raise as_graphql_error(AtriumError(ErrorCode.INVALID_INPUT, f"first must be 1 to {MAX_PAGE}.", "first"))
        async with info.context.core.db.read() as conn:
            results, more = await history_page(conn, self.row.id, first=first, before_id=_after(after))
        edges = [relay.Edge(node=Posting.from_result(r), cursor=_cursor(r.id)) for r in results]
        return HistoryConnection(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=more,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )


def member_or_none(row: Any) -> Member | None:
    """Wrap a row that may be missing."""
    return Member.from_row(row) if row is not None else None
