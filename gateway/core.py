"""The gateway core: settings, database, plugins and configuration cache of one running app.

Built once per app (and per test) by :func:`open_core`; services receive it keyword-only. Nothing
here is global, so two apps with different plugins can live in one process. Group configuration
(the tier ladder, benefits, campaigns ...) is not kept here: admins change it while the app runs,
so services read it through ``core.cache`` (e.g. :func:`gateway.tiers.current_ladder`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

from gateway.config_cache import ConfigCache
from gateway.errors import PluginLoadError
from gateway.persistence.database import Database
from gateway.plugins import PluginHost, PluginRegistry, build_plugin_host
from gateway.settings import Settings
from gateway.tiers import load_ladder


@dataclass
class Core:
    """Everything a service needs, and nothing of HTTP or GraphQL."""

    settings: Settings
    db: Database
    host: PluginHost
    cache: ConfigCache

    @property
    def registry(self) -> PluginRegistry:
        """What the loaded plugins registered."""
        return self.host.registry

    async def close(self) -> None:
        """Release database and cache connections."""
        await self.cache.close()
        await self.db.dispose()


def build_host(settings: Settings, extra_plugins: Iterable[tuple[str, object]] = (), *, load_entry_points: bool = True) -> PluginHost:
    """The plugin host for ``settings`` (allowlist, tracing) plus any extra plugin objects."""
    return build_plugin_host(
        allowlist=settings.plugins,
        extra_plugins=extra_plugins,
        load_entry_points=load_entry_points,
        trace=settings.trace_hooks,
    )


async def open_core(settings: Settings, host: PluginHost) -> Core:
    """Connect to the database and check the plugins' tiers against the ladder; the schema must be migrated."""
    db = Database(settings.database_url, pool_size=settings.database_pool_size, echo=settings.database_echo)
    try:
        async with db.read() as conn:
            ladder = await load_ladder(conn)
    except (DBAPIError, ValueError) as exc:
        await db.dispose()
        raise RuntimeError(
            f"The database at {db.display_url} is not ready ({exc.__class__.__name__}); run `atrium db upgrade` first."
        ) from exc
    for benefit in host.registry.benefits.values():
        if benefit.min_tier not in ladder:
            raise PluginLoadError(f"benefit {benefit.format}.{benefit.code} needs unknown tier {benefit.min_tier!r}")
    for reward in host.registry.redemption_types.values():
        if reward.min_tier is not None and reward.min_tier not in ladder:
            raise PluginLoadError(f"reward {reward.format}.{reward.code} needs unknown tier {reward.min_tier!r}")
    cache = ConfigCache(
        settings.cache_url,
        database_url=settings.database_url,
        ttl_seconds=settings.cache_ttl_seconds,
        namespace=settings.cache_namespace,
    )
    return Core(settings=settings, db=db, host=host, cache=cache)
