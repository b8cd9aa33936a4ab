"""Plugin settings in GraphQL: admins read a format's typed settings and change them, validated and audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.auth import Role
from gateway.errors import AtriumError
from gateway.graphql.context import Context, as_graphql_error
from gateway.graphql.error_fields import placed
from gateway.graphql.mutations import as_payload
from gateway.graphql.types import UserError
from gateway.plugin_settings import (
    SettingsView,
    read_settings,
    reset_settings,
    update_settings,
)
from gateway.plugin_settings_schema import InvalidSettings


@strawberry.type(
    name="PluginSettings",
    description="A format's settings: the plugin's typed model (as a JSON schema), the values in force, "
    "the plugin's defaults, and the fields an admin changed.",
)
class PluginSettingsType:
    format: str = strawberry.field(description="The format code, e.g. retail.")
    description: str = strawberry.field(description="What the settings govern, as the plugin says.")
    json_schema: JSON = strawberry.field(
        description="JSON schema of the settings model: each field's type, constraints, default and description."
    )
    values: JSON = strawberry.field(description="The values in force, keyed by field name: defaults plus changes.")
    defaults: JSON = strawberry.field(description="The plugin's defaults, keyed by field name.")
    changed: list[str] = strawberry.field(description="Fields whose value differs from the default, in model order.")
    updated_at: datetime | None = strawberry.field(description="When an admin last changed them; null if never.")
    updated_by: str | None = strawberry.field(description="The admin token's subject that last changed them.")

    @classmethod
    def from_view(cls, view: SettingsView) -> PluginSettingsType:
        """The GraphQL view of a format's settings."""
        return cls(
            format=view.format,
            description=view.description,
            json_schema=view.json_schema,
            values=view.values,
            defaults=view.defaults,
            changed=list(view.changed),
            updated_at=view.updated_at,
            updated_by=view.updated_by,
        )


@strawberry.input(description="Change some of a format's settings; fields left out keep their values.")
class UpdatePluginSettingsInput:
    format: str = strawberry.field(description="The format code, e.g. retail.")
    values: JSON = strawberry.field(
        description="A JSON object of field names to new values, e.g. {\"excluded_categories\": [\"gift_card\", \"tobacco\", \"alcohol\"]}."
    )
    reason: str = strawberry.field(description="Why, for the audit log (1 to 500 characters).")


@strawberry.input(description="Put some or all of a format's settings back to the plugin's defaults.")
class ResetPluginSettingsInput:
    format: str = strawberry.field(description="The format code, e.g. retail.")
    fields: list[str] | None = strawberry.field(default=None, description="Field names to reset; null resets every field.")
    reason: str = strawberry.field(description="Why, for the audit log (1 to 500 characters).")


@strawberry.type(description="The format's settings after the change; null when it was refused.")
class UpdatePluginSettingsPayload:
    settings: PluginSettingsType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The format's settings after the reset; null when it was refused.")
class ResetPluginSettingsPayload:
    settings: PluginSettingsType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PluginSettingsQuery:
    @strawberry.field(description="A format's settings (admin tokens): schema, values, defaults and changed fields.")
    async def plugin_settings(self, info: Info[Context, None], format: str) -> PluginSettingsType:
        try:
            info.context.require_role(Role.ADMIN)
            view = await read_settings(info.context.core, format)
        except AtriumError as exc:
            raise as_graphql_error(exc) from None
        return PluginSettingsType.from_view(view)


def _each_error(payload: Any, exc: InvalidSettings) -> Any:
    """A payload listing every problem of a refused change, each with its field under ``input``."""
    return payload(errors=[UserError.from_error(placed(error)) for error in exc.errors])


@strawberry.type
class PluginSettingsMutation:
    @strawberry.mutation(
        description="Change a format's settings (admin only): validated by the plugin's model as a whole, "
        "audited as config.plugin_settings; a refused change writes nothing and lists every problem."
    )
    async def update_plugin_settings(
        self, info: Info[Context, None], input: UpdatePluginSettingsInput
    ) -> UpdatePluginSettingsPayload:
        async def work() -> UpdatePluginSettingsPayload:
            principal = info.context.require_role(Role.ADMIN)
            try:
                view = await update_settings(
                    info.context.core,
                    input.format,
                    input.values,
                    actor=principal.subject,
                    reason=input.reason,
                    now=info.context.now(),
                )
            except InvalidSettings as exc:
                return _each_error(UpdatePluginSettingsPayload, exc)
            return UpdatePluginSettingsPayload(settings=PluginSettingsType.from_view(view))

        return await as_payload(UpdatePluginSettingsPayload, work)

    @strawberry.mutation(description="Put a format's settings, or some fields of them, back to the plugin's defaults (admin only; audited).")
    async def reset_plugin_settings(
        self, info: Info[Context, None], input: ResetPluginSettingsInput
    ) -> ResetPluginSettingsPayload:
        async def work() -> ResetPluginSettingsPayload:
            principal = info.context.require_role(Role.ADMIN)
            try:
                view = await reset_settings(
                    info.context.core,
                    input.format,
                    input.fields,
                    actor=principal.subject,
                    reason=input.reason,
                    now=info.context.now(),
                )
            except InvalidSettings as exc:
                return _each_error(ResetPluginSettingsPayload, exc)
            return ResetPluginSettingsPayload(settings=PluginSettingsType.from_view(view))

        return await as_payload(ResetPluginSettingsPayload, work)
