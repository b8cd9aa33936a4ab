"""Pytest fixtures for plugin authors: the real gateway with the plugins you choose.

Loaded automatically wherever ``atrium-gateway`` is installed, through its ``pytest11`` entry
point (named ``atrium``); with plugin autoloading disabled, load it with ``-p atrium`` or
``pytest_plugins = ["gateway.testing.pytest_plugin"]`` in your top-level ``conftest.py``. Every
fixture name starts with ``atrium_``, so it cannot shadow yours. Async fixtures need pytest-asyncio
(and httpx): install ``atrium-gateway[test]``.

Override ``atrium_plugins`` to choose the plugins, then use the clients::

    @pytest.fixture
    def atrium_plugins():
        return ["cinema"]                        # or [("cinema", atrium_cinema)] before installing

    async def test_a_sale_earns(atrium_service, atrium_member_factory):
        member = await atrium_member_factory()
        payload = await atrium_service("cinema").mutate(SALE, {"member": member.ref, ...})
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from gateway.core import Core
from gateway.settings import Settings
from gateway.testing.harness import (
    GatewayUnderTest,
    GraphQLClient,
    MemberFactory,
    PluginChoice,
    migrate_sqlite,
    open_gateway,
)

try:
    import pytest_asyncio
except ImportError:  # pytest must still start in an environment without the test extra
    pytest_asyncio = None


def _async_fixture(function: Callable[..., Any]) -> Any:
    """``pytest_asyncio.fixture`` (works in strict and auto mode); without it, a fixture that says what to install."""
    if pytest_asyncio is not None:
        return pytest_asyncio.fixture(function)

    @pytest.fixture(name=function.__name__)
    def missing() -> None:
        pytest.fail(f"{function.__name__} needs pytest-asyncio and httpx: pip install 'atrium-gateway[test]'", pytrace=False)

    missing.__doc__ = function.__doc__
    return missing


@pytest.fixture
def atrium_plugins() -> Sequence[PluginChoice] | None:
    """The plugins the gateway loads; override it in your tests. ``None`` (the default): every installed plugin.

    A list holds entry-point names of installed plugins (``"cinema"``) and ``(name, plugin)`` pairs
    of objects that need not be installed (``("cinema", atrium_cinema)``): exactly those load.
    """
    return None


@pytest.fixture(scope="session")
def atrium_database_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once per session; each test gets a copy of it."""
    path = tmp_path_factory.mktemp("atrium-template") / "atrium.db"
    migrate_sqlite(path)
    return path


@pytest.fixture
def atrium_database_url(atrium_database_template: Path, tmp_path: Path) -> str:
    """The URL of this test's own migrated SQLite database, empty but for the tier ladder."""
    path = tmp_path / "atrium.db"
    shutil.copyfile(atrium_database_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def atrium_settings(atrium_database_url: str) -> Settings:
    """The gateway's settings for this test; override to change one (``settings.model_copy(update=...)``)."""
    return Settings(database_url=atrium_database_url, plugins=None, _env_file=None)  # type: ignore[call-arg]


@_async_fixture
async def atrium_gateway(atrium_settings: Settings, atrium_plugins: Sequence[PluginChoice] | None) -> AsyncIterator[GatewayUnderTest]:
    """The running gateway: ``.core``, ``.app``, ``.http``, ``.admin``, ``.service(format)``, ``.members``."""
    async with open_gateway(settings=atrium_settings, plugins=atrium_plugins) as gateway:
        yield gateway


@pytest.fixture
def atrium_core(atrium_gateway: GatewayUnderTest) -> Core:
    """The gateway core (database, plugin registry, tier ladder), for assertions below GraphQL."""
    return atrium_gateway.core


@pytest.fixture
def atrium_app(atrium_gateway: GatewayUnderTest) -> Any:
    """The ASGI app, for your own HTTP client."""
    return atrium_gateway.app


@pytest.fixture
def atrium_admin(atrium_gateway: GatewayUnderTest) -> GraphQLClient:
    """A GraphQL client with a group admin's token."""
    return atrium_gateway.admin


@pytest.fixture
def atrium_service(atrium_gateway: GatewayUnderTest) -> Callable[[str], GraphQLClient]:
    """``atrium_service("cinema")``: a GraphQL client with that format's service-account token."""
    return atrium_gateway.service


@pytest.fixture
def atrium_anonymous(atrium_gateway: GatewayUnderTest) -> GraphQLClient:
    """A GraphQL client without a token, to test what the unauthenticated are refused."""
    return atrium_gateway.anonymous


@pytest.fixture
def atrium_member_factory(atrium_gateway: GatewayUnderTest) -> MemberFactory:
    """``await atrium_member_factory(points=0, tier=None, birth_date=None, phone=None)``: an enrolled member.

    The member has ``.ref`` (a ``MemberRefInput``), ``.number``, ``.id``, ``.phone`` and
    ``.client``, a GraphQL client with the member's own token.
    """
    return atrium_gateway.members
