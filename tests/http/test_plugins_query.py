"""The `plugins` query: every loaded plugin with its distribution, version and hooks, for admins."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from gateway.plugin_api import BusinessFormat, PostingEvent, hookimpl
from gateway.settings import Settings
from tests.http.graphql import caller

PLUGINS = "{ plugins { name distribution version hooks } }"


class Karaoke:
    """A plugin object no installed distribution holds, with a version of its own."""

    __version__ = "2.3.0"

    @hookimpl
    def atrium_register_formats(self, register: Callable[[BusinessFormat], None]) -> None:
        register(BusinessFormat(code="karaoke", name="Karaoke"))

    @hookimpl
    def atrium_posting_committed(self, event: PostingEvent) -> None:
        """Listens to postings."""


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    return [("karaoke", Karaoke())]


async def test_an_admin_sees_each_plugin_with_its_distribution_version_and_hooks(client: httpx.AsyncClient, settings: Settings) -> None:
    plugins = (await caller(client, settings, "admin").data(PLUGINS))["plugins"]

    assert [plugin["name"] for plugin in plugins] == ["dining", "karaoke", "property", "retail"]
    retail = plugins[3]
    assert (retail["distribution"], retail["version"]) == ("atrium-retail", "0.1.0")
    assert {"atrium_register_formats", "atrium_register_activity_kinds", "atrium_register_earn_rules"} <= set(retail["hooks"])
    assert retail["hooks"] == sorted(retail["hooks"])
    assert plugins[1] == {
        "name": "karaoke",
        "distribution": None,
        "version": "2.3.0",
        "hooks": ["atrium_posting_committed", "atrium_register_formats"],
    }


@pytest.mark.parametrize("role", ["member", "service"])
async def test_the_plugins_query_is_refused_to_members_and_services(client: httpx.AsyncClient, settings: Settings, role: str) -> None:
    who = caller(client, settings, role, member_id=1 if role == "member" else None, format="retail" if role == "service" else None)

    body = await who.raw(PLUGINS)

    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_operators_plugin_list_names_the_distribution_too(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/-/plugins.json")).json()

    assert {plugin["name"]: plugin["distribution"] for plugin in listed} == {
        "dining": "atrium-dining",
        "karaoke": None,
        "property": "atrium-property",
        "retail": "atrium-retail",
    }
