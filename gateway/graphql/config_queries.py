"""The configuration audit log in GraphQL: every change of group configuration, for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.auth import Role
from gateway.config_audit import ConfigChange as ConfigChangeRow
from gateway.config_audit import config_changes
from gateway.errors import AtriumError, ErrorCode
from gateway.graphql.context import Context, as_graphql_error

MAX_PAGE = 200


@strawberry.type(description="One change of group configuration: who, when, and the states before and after.")
class ConfigChange:
    id: int
    actor: str = strawberry.field(description="The admin token's subject that made the change.")
    entity: str = strawberry.field(description="What kind of configuration: tier, benefit, campaign, transfer_price, plugin_settings ...")
    key: str = strawberry.field(description="Which one, e.g. a tier or campaign code.")
    before: JSON | None = strawberry.field(description="The state before; null for a creation.")
    after: JSON | None = strawberry.field(description="The state after; null for a deletion.")
    reason: str | None
    at: datetime

    @classmethod
    def from_row(cls, row: ConfigChangeRow) -> ConfigChange:
        """The GraphQL view of a logged change."""
        return cls(
            id=row.id, actor=row.actor, entity=row.entity, key=row.key, before=row.before, after=row.after, reason=row.reason, at=row.at
        )


@strawberry.type
class ConfigAuditQuery:
    @strawberry.field(description="Configuration changes, newest first (admin tokens). Page with `before`: the last id you saw.")
    async def config_changes(
        self,
        info: Info[Context, None],
        entity: str | None = None,
        before: int | None = None,
        first: int = 50,
    ) -> list[ConfigChange]:
        try:
            info.context.require_role(Role.ADMIN)
            if not 1 <= first <= MAX_PAGE:
                raise AtriumError(ErrorCode.INVALID_INPUT, f"first must be between 1 and {MAX_PAGE}.", "first")
        except AtriumError as exc:
            raise as_graphql_error(exc) from None
        async with info.context.core.db.read() as conn:
            rows: list[Any] = await config_changes(conn, entity=entity, before_id=before, limit=first)
        return [ConfigChange.from_row(row) for row in rows]
