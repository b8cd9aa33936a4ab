"""The one GraphQL schema, composed at start-up from the gateway's types and the plugins' contributions.

Each plugin's activity kind becomes a mutation ``record<Format><Kind>(member, idempotencyKey,
input)``, and one that refunds by parts also ``refund<Format><Kind>(original, idempotencyKey, input)``. A GraphQL name given by two plugins, or by a plugin and the gateway, fails start-up with
a message naming both: strawberry's ``merge_types`` would only warn.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError, GraphQLScalarType
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as alias_validator
from strawberry.extensions.query_depth_limiter import (
    create_validator as depth_validator,
)
from strawberry.tools import create_type, merge_types
from strawberry.types import Info

from gateway.auth import Role, forbidden
from gateway.errors import AtriumError, PluginLoadError
from gateway.graphql.actor import ActorExtension
from gateway.graphql.admin_mutations import AdminMutation
from gateway.graphql.benefit_mutations import BenefitMutation, BenefitQuery
from gateway.graphql.campaigns import CampaignMutation, CampaignQuery
from gateway.graphql.config_queries import ConfigAuditQuery
from gateway.graphql.context import Context
from gateway.graphql.coupon_mutations import CouponMutation, CouponQuery
from gateway.graphql.earn_preview import EarnPreviewQuery
from gateway.graphql.error_fields import ACTIVITY_ARGUMENTS
from gateway.graphql.hold_mutations import HoldMutation, PointsOffsetQuery
from gateway.graphql.inputs import MemberRefInput, member_ref
from gateway.graphql.member_admin_mutations import MemberAdminMutation
from gateway.graphql.mutations import (
    Mutation,
    RecordActivityPayload,
    as_payload,
    posting_payload,
)
from gateway.graphql.part_refunds import refund_field_name, refund_mutation
from gateway.graphql.plugin_queries import PluginQuery
from gateway.graphql.plugin_settings import PluginSettingsMutation, PluginSettingsQuery
from gateway.graphql.queries import Query
from gateway.graphql.reversal_mutations import ReversalMutation
from gateway.graphql.scalars import schema_config
from gateway.graphql.settlement import SettlementQuery
from gateway.graphql.settlement_closing import (
    SettlementClosingMutation,
    SettlementClosingQuery,
)
from gateway.graphql.tender_inputs import PaidWithInput, tenders_of
from gateway.graphql.tier_mutations import TierMutation
from gateway.graphql.tier_types import TierQuery
from gateway.graphql.transfer_price_mutations import TransferPriceMutation
from gateway.ledger.earn import ActivityRequest, record_activity
from gateway.plugin_api import ActivityDetails, ActivityKind, MoneyInput
from gateway.plugins import PluginRegistry
from gateway.settings import Settings

GatewayMutation: type = merge_types(
    "Mutation", (Mutation, AdminMutation, MemberAdminMutation, ReversalMutation, HoldMutation, CouponMutation, BenefitMutation,
                 PluginSettingsMutation, CampaignMutation, TransferPriceMutation, TierMutation,
                 SettlementClosingMutation)
)
"""The gateway's own mutations: the core ones and the group admins'; plugins' activity mutations join at start-up."""

GatewayQuery: type = merge_types("Query", (Query, PointsOffsetQuery, ConfigAuditQuery, CouponQuery, PluginQuery, BenefitQuery,
                                           PluginSettingsQuery, CampaignQuery, EarnPreviewQuery, SettlementQuery, TierQuery,
                                           SettlementClosingQuery))
"""The gateway's own query fields: the core ones and the tills' points-plus-cash quote."""


def _camel(code: str) -> str:
    return "".join(part.capitalize() for part in code.split("_"))


def activity_field_name(kind: ActivityKind) -> str:
    """The mutation name of an activity kind: ``record`` + format + kind, camel-cased."""
    return f"record{_camel(kind.format)}{_camel(kind.name)}"


def _activity_mutation(kind: ActivityKind) -> Any:
    async def resolve(info, member, idempotency_key, input, paid_with=None):  # type: ignore[no-untyped-def]
        async def work() -> RecordActivityPayload:
            principal = info.context.require_role(Role.SERVICE, Role.ADMIN)
            if not principal.can_act_for_format(kind.format):
                raise forbidden(f"A {principal.format} service account cannot record {kind.format} activity.")
            request = ActivityRequest(
                member=member_ref(info.context, member, "member"),
                format=kind.format,
                kind=kind.name,
                idempotency_key=idempotency_key,
                input=input,
                tenders=tenders_of(paid_with),
            )
            result = await record_activity(info.context.core, request, now=info.context.now())
            return posting_payload(info, RecordActivityPayload, result)

        return await as_payload(RecordActivityPayload, work, arguments=ACTIVITY_ARGUMENTS)

    resolve.__name__ = resolve.__qualname__ = f"record_{kind.format}_{kind.name}"
    resolve.__annotations__ = {
        "info": Info[Context, None],
        "member": Annotated[MemberRefInput, strawberry.argument(description="The member's id or an identity.")],
        "idempotency_key": Annotated[
            str, strawberry.argument(description="The receipt or bill id: a retry with the same key earns once.")
        ],
        "input": kind.input_type,
        "paid_with": Annotated[
            PaidWithInput | None,
            strawberry.argument(description="Points offsets and coupons that paid part of the bill: that part earns nothing."),
        ],
        "return": RecordActivityPayload,
    }
    description = kind.description or f"Record a {kind.format} {kind.name.replace('_', ' ')} and earn points."
    return strawberry.mutation(resolver=resolve, name=activity_field_name(kind), description=description)



@functools.cache
def _type_names(types: tuple[type, ...]) -> frozenset[str]:
    @strawberry.type
    class Query:
        ping: bool = True

    type_map = strawberry.Schema(query=Query, types=list(types))._schema.type_map
    return frozenset(name for name, graphql_type in type_map.items() if not isinstance(graphql_type, GraphQLScalarType))


@functools.cache
def _gateway_type_names() -> frozenset[str]:
    return frozenset(strawberry.Schema(
        query=GatewayQuery, mutation=GatewayMutation, types=[MoneyInput, ActivityDetails], config=schema_config()
    )._schema.type_map)


def check_clashes(registry: PluginRegistry) -> None:
    """Fail when two plugins, or a plugin and the gateway, give one GraphQL type or mutation name."""
    gateway_names = _gateway_type_names()
    owners: dict[str, str] = {}
    contributed: dict[str, list[type]] = {}
    for (format_code, name), kind in registry.activity_kinds.items():
        plugin = registry.owner[("activity kind", format_code, name)]
        contributed.setdefault(plugin, []).append(kind.input_type)
        if kind.details_type is not None:
            contributed[plugin].append(kind.details_type)
        if kind.refund_input_type is not None:
            contributed[plugin].append(kind.refund_input_type)
    for plugin, item in registry.graphql_types:
        contributed.setdefault(plugin, []).append(item)
    for plugin in sorted(contributed):
        names = _type_names(tuple(contributed[plugin])) - _type_names(()) - {"MoneyInput", "ActivityDetails"}
        for name in sorted(names):
            if name in gateway_names:
                raise PluginLoadError(f"GraphQL type {name!r} of plugin {plugin!r} clashes with the gateway's own {name!r}")
            if name in owners and owners[name] != plugin:
                raise PluginLoadError(f"GraphQL type {name!r} is contributed by both {owners[name]!r} and {plugin!r}")
            owners[name] = plugin
    fields: dict[str, str] = {}
    core_fields = {field.name for field in GatewayMutation.__strawberry_definition__.fields}  # type: ignore[attr-defined]
    for (format_code, name), kind in sorted(registry.activity_kinds.items()):
        plugin = registry.owner[("activity kind", format_code, name)]
        names = [activity_field_name(kind)] + ([refund_field_name(kind)] if kind.to_refund is not None else [])
        for field_name in names:
            if field_name in core_fields:
                raise PluginLoadError(f"mutation {field_name!r} of plugin {plugin!r} clashes with the gateway's own")
            if field_name in fields:
                raise PluginLoadError(f"mutation {field_name!r} is contributed by both {fields[field_name]!r} and {plugin!r}")
            fields[field_name] = plugin


def _should_mask(error: GraphQLError) -> bool:
    """Hide unexpected exceptions' text from clients; typed errors and validation errors pass."""
    original = error.original_error
    return original is not None and not isinstance(original, (GraphQLError, AtriumError))


def extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """The caller as actor (:mod:`gateway.graphql.actor`), caches and limits, as factories. Limiter rules are built once so the validation cache hits."""
    rules = [
        depth_validator(settings.graphql_max_depth, should_ignore=None),
        alias_validator(settings.graphql_max_aliases),
    ]
    return [
        ActorExtension,
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        lambda: ParserCache(maxsize=settings.graphql_parser_cache_size),
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=settings.graphql_validation_cache_size),
        lambda: MaskErrors(should_mask_error=_should_mask, error_message="Internal error; it has been logged."),
    ]


class AtriumSchema(strawberry.Schema):
    """The composed schema; logs only unexpected errors (typed refusals are not incidents)."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Log errors that carry no typed code: bugs, not callers' mistakes."""
        unexpected = [error for error in errors if _should_mask(error)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema(registry: PluginRegistry, settings: Settings) -> strawberry.Schema:
    """Compose the schema from the gateway's types and the registry's contributions."""
    check_clashes(registry)
    kinds = sorted(registry.activity_kinds.values(), key=lambda kind: (kind.format, kind.name))
    mutation: type = GatewayMutation
    if kinds:
        refunds = [refund_mutation(kind) for kind in kinds if kind.to_refund is not None]
        activity = create_type("ActivityMutation", [_activity_mutation(kind) for kind in kinds] + refunds)
        mutation = merge_types("Mutation", (GatewayMutation, activity))
    return AtriumSchema(
        query=GatewayQuery,
        mutation=mutation,
        types=[
            MoneyInput,
            ActivityDetails,
            *[kind.details_type for kind in kinds if kind.details_type is not None],
            *[item for _, item in registry.graphql_types],
        ],
        extensions=extensions(settings),
        config=schema_config(),
    )
