"""``previewEarn``: what an activity would earn now (lines, tier bonus, campaigns, budgets), writing nothing.

``input`` is the activity's input as JSON, in the same shape as the ``record<Format><Kind>``
mutation's ``input`` (so a till can send the very variables it would record with). It is checked
against that mutation's input type and converted exactly as GraphQL converts the mutation's
argument, then planned by the same code as the real earn (:mod:`gateway.ledger.earn_preview`).

Who may ask: a format's service token for its own format, an admin for any, and a member token
for itself (``member`` omitted or naming itself): a member may see what a purchase would earn it.
"""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from graphql import GraphQLError, validate_input_value
from graphql.utilities import coerce_input_value
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry.types.arguments import convert_argument

from gateway.auth import Role, forbidden
from gateway.campaigns.awards import CampaignResult, Outcome
from gateway.errors import AtriumError, ErrorCode
from gateway.graphql.campaigns import CampaignStackingEnum
from gateway.graphql.context import Context, as_graphql_error
from gateway.graphql.inputs import MemberRefInput, member_ref
from gateway.graphql.mutations import resolve_member_id
from gateway.graphql.scalars import BigInt
from gateway.graphql.tender_inputs import PaidWithInput, tenders_of
from gateway.graphql.types import PostingLine, Tier
from gateway.ledger.earn import activity_kind
from gateway.ledger.earn_preview import EarnPreview as PreviewResult
from gateway.ledger.earn_preview import preview_earn
from gateway.ledger.postings import MemberRef
from gateway.plugin_api import ActivityKind

CampaignOutcomeEnum = strawberry.enum(
    Outcome,
    name="CampaignOutcome",
    description=(
        "AWARDED: paid in full; CAPPED_BY_BUDGET / CAPPED_BY_MEMBER_LIMIT: paid what was left; BUDGET_SPENT / "
        "MEMBER_LIMIT_REACHED: nothing left to pay; OUTRANKED: an exclusive campaign paid instead."
    ),
)


@strawberry.type(description="One campaign in scope of a previewed activity: what it would add, what it would pay, what is left.")
class CampaignAward:
    code: str
    name: str
    stacking: CampaignStackingEnum
    priority: int
    outcome: CampaignOutcomeEnum
    points: int = strawberry.field(description="Points the campaign would pay for this activity.")
    wanted: int = strawberry.field(description="Points it would add before its budget and per-member limit.")
    multiplier_bonus: int
    fixed_bonus: int
    cross_format_bonus: int = strawberry.field(description="Non-zero when the activity is a cross-format check-in.")
    budget_left: BigInt | None = strawberry.field(description="The campaign's budget left after this activity; null: no cap.")
    member_limit_left: int | None = strawberry.field(
        description="The member's limit left after this activity (in the limit's period); null: no limit."
    )

    @classmethod
    def from_result(cls, result: CampaignResult) -> CampaignAward:
        """The GraphQL view of one campaign's result."""
        campaign, boost = result.campaign, result.boost
        return cls(
            code=campaign.code,
            name=campaign.name,
            stacking=campaign.stacking,  # type: ignore[arg-type]
            priority=campaign.priority,
            outcome=result.outcome,  # type: ignore[arg-type]
            points=result.points,
            wanted=boost.total,
            multiplier_bonus=boost.multiplier_bonus,
            fixed_bonus=boost.fixed_bonus,
            cross_format_bonus=boost.cross_format_bonus,
            budget_left=result.budget_left,
            member_limit_left=result.member_left,
        )


@strawberry.type(description="What an activity would earn if recorded now. Nothing was written.")
class EarnPreview:
    format: str
    kind: str
    points: int = strawberry.field(description="All points: base, tier bonus and campaigns, available now or pending.")
    available: int = strawberry.field(description="Points spendable at once.")
    pending: int = strawberry.field(description="Points that wait for their date (a return window).")
    growth: int
    base_points: int = strawberry.field(description="What the format's earn rules give, before any bonus.")
    tier_bonus: int
    campaign_points: int
    balance_after: int = strawberry.field(description="The member's available points after the earn.")
    tier_before: Tier
    tier_after: Tier = strawberry.field(description="The tier the earn would leave the member in (upgrades happen at once).")
    lines: list[PostingLine] = strawberry.field(description="The lines the posting would have, each naming its rule or campaign.")
    campaigns: list[CampaignAward] = strawberry.field(description="Every campaign in scope, paying or not.")

    @classmethod
    def from_result(cls, preview: PreviewResult) -> EarnPreview:
        """The GraphQL view of a preview."""
        earn = preview.plan.earn
        return cls(
            format=preview.format,
            kind=preview.kind,
            points=earn.points,
            available=earn.available,
            pending=earn.pending,
            growth=earn.growth,
            base_points=earn.base,
            tier_bonus=preview.points_of("tier."),
            campaign_points=preview.points_of("campaign."),
            balance_after=preview.balance_after,
            tier_before=Tier.from_info(preview.tier_before),
            tier_after=Tier.from_info(preview.tier_after),
            lines=[PostingLine(**line) for line in earn.lines],
            campaigns=[CampaignAward.from_result(result) for result in preview.plan.campaigns],
        )


def activity_input(info: Info[Context, None], kind: ActivityKind, value: Any) -> Any:
    """``value`` (JSON) as the plugin's typed input, as the ``record`` mutation would receive it; ``INVALID_INPUT`` otherwise."""
    schema = info.schema
    converter = schema.schema_converter
    graphql_type = converter.type_map[kind.input_type.__strawberry_definition__.name].implementation  # type: ignore[attr-defined]
    problems: list[tuple[GraphQLError, list[str | int]]] = []
    validate_input_value(value, graphql_type, lambda error, path: problems.append((error, path)))
    if problems:
        error, path = problems[0]
        raise AtriumError(ErrorCode.INVALID_INPUT, error.message, ".".join(["input", *map(str, path)]))
    return convert_argument(coerce_input_value(value, graphql_type), kind.input_type, converter.scalar_registry, schema.config)


@strawberry.type
class EarnPreviewQuery:
    @strawberry.field(
        description=(
            "What an activity would earn now, writing nothing: lines, tier bonus, campaigns and their budgets. `input` is "
            "the JSON the record<Format><Kind> mutation takes. Service tokens of the format, admins, and a member for itself."
        )
    )
    async def preview_earn(
        self,
        info: Info[Context, None],
        format: str,
        kind: str,
        input: JSON,
        member: MemberRefInput | None = None,
        paid_with: Annotated[
            PaidWithInput | None,
            strawberry.argument(description="Points offsets and coupons that paid part of the bill: that part earns nothing."),
        ] = None,
    ) -> EarnPreview:
        try:
            principal = info.context.caller()
            core = info.context.core
            if principal.role is Role.MEMBER:
                ref = MemberRef(member_id=principal.member_id)
                if member is not None:
                    asked = await resolve_member_id(info, member_ref(info.context, member, "member"), "member")
                    if asked != principal.member_id:
                        raise forbidden("A member token can only preview its own earn.", "member")
            else:
                if not principal.can_act_for_format(format):
                    raise forbidden(f"A {principal.format} service account cannot preview {format} activity.", "format")
                if member is None:
                    raise AtriumError(ErrorCode.INVALID_INPUT, "Say whose earn to preview.", "member")
                ref = member_ref(info.context, member, "member")
            registered = activity_kind(core, format, kind)
            raw = activity_input(info, registered, input)
            preview = await preview_earn(core, ref, format, kind, raw, now=info.context.now(), tenders=tenders_of(paid_with))
        except AtriumError as exc:
            raise as_graphql_error(exc) from None
        return EarnPreview.from_result(preview)
