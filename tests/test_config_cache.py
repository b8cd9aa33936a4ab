"""The configuration cache: loads once, serves warm reads without the loader, forgets on invalidation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pytest

from gateway.config_cache import ConfigCache


@dataclass(frozen=True)
class Ladder:
    codes: tuple[str, ...]


def _caches(redis_url: str | None) -> ConfigCache:
    if redis_url is None:
        return ConfigCache("memory://", database_url="sqlite+aiosqlite:///x.db", ttl_seconds=60)
    return ConfigCache(redis_url, database_url="unused", ttl_seconds=60, namespace=f"atrium-test:{secrets.token_hex(6)}:")


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    cache = _caches(url)
    try:
        yield cache
    finally:
        await cache.clear()
        await cache.close()


async def test_a_warm_cache_answers_without_calling_the_loader(cache: ConfigCache) -> None:
    calls: list[int] = []

    async def load() -> Ladder:
        calls.append(1)
        return Ladder(("member", "silver"))

    first = await cache.get("tiers", load)
    second = await cache.get("tiers", load)
    assert first == second == Ladder(("member", "silver"))
    assert len(calls) == 1


async def test_invalidating_a_key_makes_the_next_read_load_the_new_value(cache: ConfigCache) -> None:
    versions = iter([Ladder(("member",)), Ladder(("member", "gold"))])

    async def load() -> Ladder:
        return next(versions)

    assert await cache.get("tiers", load) == Ladder(("member",))
    await cache.invalidate("tiers")
    assert await cache.get("tiers", load) == Ladder(("member", "gold"))


async def test_two_caches_on_one_redis_share_entries_and_invalidations(redis_url: str) -> None:
    namespace = f"atrium-test:{secrets.token_hex(6)}:"
    one = ConfigCache(redis_url, database_url="unused", ttl_seconds=60, namespace=namespace)
    other = ConfigCache(redis_url, database_url="unused", ttl_seconds=60, namespace=namespace)
    try:
        async def old() -> Ladder:
            return Ladder(("member",))

        async def new() -> Ladder:
            return Ladder(("member", "gold"))

        await one.get("tiers", old)
        assert await other.get("tiers", new) == Ladder(("member",))
        await one.invalidate("tiers")
        assert await other.get("tiers", new) == Ladder(("member", "gold"))
    finally:
        await one.clear()
        await one.close()
        await other.close()


def test_an_unknown_cache_url_is_refused() -> None:
    with pytest.raises(ValueError, match="memcached"):
        ConfigCache("memcached://127.0.0.1", database_url="x", ttl_seconds=1)
