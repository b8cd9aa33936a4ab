"""Group configuration read through aiocache: tiers, benefits, campaigns, prices, plugin settings.

Configuration is read on every request (every earn needs the ladder and the campaigns) and
changes a few times a month, so it is cached: on a warm cache, reading it issues no SQL. Each
area keeps its configuration under one key and calls :meth:`ConfigCache.invalidate` after the
transaction that changed it commits.

``settings.cache_url`` picks the backend: ``memory://`` (the default, one process) or
``redis://host:port/db`` (production: every gateway process sees one cache, so a change made
through one process is seen by all at once). Keys live in a namespace derived from the database
URL (or ``settings.cache_namespace``), so two databases never share entries. Cached objects are
shared by every request: they must be immutable (frozen dataclasses, tuples). Entries also expire after ``cache_ttl_seconds``: a
process that died between commit and invalidation leaves stale configuration for at most that long.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from aiocache import Cache
from aiocache.serializers import NullSerializer, PickleSerializer

T = TypeVar("T")

_MISSING = object()


class ConfigCache:
    """A get-or-load cache of configuration objects, shared by every request of a core."""

    def __init__(self, url: str, *, database_url: str, ttl_seconds: int, namespace: str | None = None) -> None:
        namespace = namespace or "atrium:" + hashlib.sha256(database_url.encode()).hexdigest()[:12] + ":"
        self.url = url
        self.ttl_seconds = ttl_seconds
        self.hits = 0
        self.misses = 0
        if url.startswith("memory://"):
            self._cache: Any = Cache(Cache.MEMORY, namespace=namespace, serializer=NullSerializer())
        elif url.startswith(("redis://", "rediss://")):
            self._cache = Cache.from_url(url)
            self._cache.namespace = namespace
            self._cache.serializer = PickleSerializer()
        else:
            raise ValueError(f"unsupported cache URL {url!r}: use memory:// or redis://host:port/db")

    async def get(self, key: str, load: Callable[[], Awaitable[T]]) -> T:
        """The configuration under ``key``; on a miss, ``load()`` it (from the database) and keep it."""
        found = await self._cache.get(key, default=_MISSING)
        if found is not _MISSING:
            self.hits += 1
            return cast(T, found)
        self.misses += 1
        value = await load()
        await self._cache.set(key, value, ttl=self.ttl_seconds)
        return value

    async def invalidate(self, *keys: str) -> None:
        """Forget ``keys`` (call after the change is committed): the next read loads them again."""
        for key in keys:
            await self._cache.delete(key)

    async def clear(self) -> None:
        """Forget every entry of this namespace (tests, and ``atrium`` commands that edit the database directly)."""
        await self._cache.clear(namespace=self._cache.namespace)

    async def close(self) -> None:
        """Release the backend's connections."""
        await self._cache.close()
