"""The ladder through the configuration cache: shared by gateway processes on Redis, invalidated by every change."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest

from gateway.core import build_host, open_core
from gateway.settings import Settings
from gateway.tier_config import set_ladder
from gateway.tiers import current_ladder
from tests.conftest import Backend
from tests.tier_helpers import ladder_with, restore_ladder  # noqa: F401

NOW = datetime(2027, 3, 10, 12, tzinfo=UTC)


@pytest.mark.usefixtures("restore_ladder")
async def test_a_ladder_change_through_one_gateway_is_seen_at_once_by_another_sharing_redis(backend: Backend, redis_url: str) -> None:
    settings = Settings(  # type: ignore[call-arg]
        database_url=backend.url, plugins=None, cache_url=redis_url, cache_namespace=f"atrium-test:{secrets.token_hex(6)}:", _env_file=None
    )
    one = await open_core(settings, build_host(settings))
    other = await open_core(settings, build_host(settings))
    try:
        assert (await current_ladder(other)).get("gold").multiplier == 1.5

        await set_ladder(one, ladder_with(gold={"multiplier": "1.8"}), actor="admin", reason=None, now=NOW)

        assert str((await current_ladder(other)).get("gold").multiplier) == "1.8"
    finally:
        await one.cache.clear()
        await one.close()
        await other.close()
