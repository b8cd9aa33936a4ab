"""The loaded plugins in GraphQL: which distribution and version each came from, which hooks it implements.

What ``/-/plugins.json`` shows operators, for admins through the one endpoint: a plugin author
checks here that the gateway found every hook they wrote (a hook without ``@hookimpl`` is
silently ignored).
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from gateway.auth import Role
from gateway.errors import AtriumError
from gateway.graphql.context import Context, as_graphql_error
from gateway.plugins import LoadedPlugin as LoadedPluginItem


@strawberry.type(description="A plugin the gateway loaded at start-up.")
class LoadedPlugin:
    name: str = strawberry.field(description="The plugin's name: its entry point in the `atrium` group, e.g. `retail`.")
    distribution: str | None = strawberry.field(
        description="The installed distribution that provides it, e.g. `atrium-retail`; null for a plugin no distribution holds."
    )
    version: str | None = strawberry.field(description="The distribution's version (or the plugin's `__version__`).")
    hooks: list[str] = strawberry.field(description="The hooks it implements, sorted, e.g. `atrium_register_earn_rules`.")

    @classmethod
    def from_item(cls, item: LoadedPluginItem) -> LoadedPlugin:
        """The GraphQL view of a loaded plugin."""
        return cls(name=item.name, distribution=item.distribution, version=item.version, hooks=list(item.hooks))


@strawberry.type
class PluginQuery:
    @strawberry.field(description="The plugins loaded at start-up, sorted by name, with their versions and hooks (admin tokens).")
    def plugins(self, info: Info[Context, None]) -> list[LoadedPlugin]:
        try:
            info.context.require_role(Role.ADMIN)
        except AtriumError as exc:
            raise as_graphql_error(exc) from None
        return [LoadedPlugin.from_item(item) for item in info.context.core.host.loaded]
