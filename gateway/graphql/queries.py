"""Root query fields: the member's own view, lookups for tills, and the shared catalogue."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.types import Info

from gateway.auth import Role
from gateway.errors import AtriumError, ErrorCode
from gateway.graphql.context import Context, as_graphql_error
from gateway.graphql.inputs import IdentityInput, identity_key
from gateway.graphql.types import BusinessFormat, Member, Reward, Tier
from gateway.identity import find_member_id


@strawberry.type
class Query:
    @strawberry.field(description="Fetch a Member or Posting by its global id; null when absent or not yours.")
    async def node(self, info: Info[Context, None], id: relay.GlobalID) -> relay.Node | None:
        try:
            return await id.resolve_node(info, required=False)
        except (KeyError, ValueError):
            return None

    @strawberry.field(description="The member behind a member token.")
    async def me(self, info: Info[Context, None]) -> Member:
        try:
            principal = info.context.require_role(Role.MEMBER)
        except AtriumError as exc:
            raise as_graphql_error(exc) from None
        row = await info.context.members.load(principal.member_id)  # type: ignore[arg-type]
        if row is None:
            raise as_graphql_error(AtriumError(ErrorCode.MEMBER_NOT_FOUND, "Your member record no longer exists."))
        return Member.from_row(row)

    @strawberry.field(description="Find a member by phone, email or a format's customer id (service and admin tokens).")
    async def member(self, info: Info[Context, None], identity: IdentityInput) -> Member | None:
        try:
            info.context.require_role(Role.SERVICE, Role.ADMIN)
            key = identity_key(info.context, identity, "identity")
        except AtriumError as exc:
            raise as_graphql_error(exc) from None
        async with info.context.core.db.read() as conn:
            member_id = await find_member_id(conn, key)
        if member_id is None:
            return None
        row = await info.context.members.load(member_id)
        return Member.from_row(row) if row else None

    @strawberry.field(description="The business formats of the group, from the loaded plugins.")
    def formats(self, info: Info[Context, None]) -> list[BusinessFormat]:
        _authenticated(info)
        registry = info.context.core.registry
        return [BusinessFormat.from_item(registry.formats[code]) for code in sorted(registry.formats)]

    @strawberry.field(description="The tier ladder, lowest first.")
    async def tiers(self, info: Info[Context, None]) -> list[Tier]:
        _authenticated(info)
        return [Tier.from_info(tier) for tier in (await info.context.ladder()).tiers]

    @strawberry.field(description="The rewards catalogue across formats, cheapest first; filter by format.")
    def rewards(self, info: Info[Context, None], format: str | None = None) -> list[Reward]:
        _authenticated(info)
        items = [
            item
            for item in info.context.core.registry.redemption_types.values()
            if format is None or item.format == format
        ]
        return [Reward.from_item(item, info) for item in sorted(items, key=lambda r: (r.points, r.format, r.code))]


def _authenticated(info: Info[Context, None]) -> None:
    try:
        info.context.caller()
    except AtriumError as exc:
        raise as_graphql_error(exc) from None

