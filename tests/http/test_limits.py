"""Query cost limits are on, and the validation cache still hits with them."""

from __future__ import annotations

import dataclasses

import httpx
from strawberry.extensions.validation_cache import _get_validate_cache

from gateway.app import create_app
from gateway.core import Core
from gateway.settings import Settings
from tests.http.graphql import caller


async def test_a_query_deeper_than_the_limit_is_refused(core: Core, settings: Settings) -> None:
    shallow_core = dataclasses.replace(core, settings=settings.model_copy(update={"graphql_max_depth": 3}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(shallow_core)), base_url="http://test") as client:
        admin = caller(client, settings, "admin")
        assert "errors" not in await admin.raw("{ rewards { format { code } } }")
        body = await admin.raw("{ me { benefits { benefit { format { code } } } } }")
    assert "exceeds maximum operation depth of 3" in body["errors"][0]["message"]


async def test_too_many_aliases_are_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    query = "{ " + " ".join(f"a{n}: rewards {{ id }}" for n in range(settings.graphql_max_aliases + 1)) + " }"
    body = await caller(client, settings, "admin").raw(query)
    assert "aliases found" in body["errors"][0]["message"]


async def test_too_many_tokens_are_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    query = "{ rewards { " + " ".join(["id"] * settings.graphql_max_tokens) + " } }"
    body = await caller(client, settings, "admin").raw(query)
    assert f"more than {settings.graphql_max_tokens} tokens" in body["errors"][0]["message"]


async def test_a_repeated_query_is_validated_once(client: httpx.AsyncClient, settings: Settings) -> None:
    admin = caller(client, settings, "admin")
    cache = _get_validate_cache(settings.graphql_validation_cache_size)
    query = "{ tiers { code threshold } }"
    await admin.data(query)
    before = cache.cache_info()
    await admin.data(query)
    await admin.data(query)
    after = cache.cache_info()
    assert after.hits - before.hits == 2
    assert after.misses == before.misses
