"""A gateway under test: the real app over a throwaway database, GraphQL clients per role, members.

The pytest plugin (:mod:`gateway.testing.pytest_plugin`) wraps these in fixtures; a script or
another test runner can use them directly::

    url = migrate_sqlite(Path("/tmp/cinema.db"))
    async with open_gateway(database_url=url, plugins=[("cinema", atrium_cinema)]) as gateway:
        member = await gateway.members(points=500)
        payload = await gateway.service("cinema").mutate(SALE, {"member": member.ref, ...})

Everything goes through the composed GraphQL schema over in-process HTTP, as a till, an app or
an admin would call it.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.auth import Role, mint_token
from gateway.core import Core, open_core
from gateway.graphql.context import Context
from gateway.persistence.migrate import upgrade
from gateway.plugins import PluginHost, build_plugin_host
from gateway.settings import Settings

if TYPE_CHECKING:
    import httpx
    from starlette.applications import Starlette

_REAL_NOW = Context.__dict__["now"]
"""The request clock as the gateway defines it, put back by ``freeze_time(None)``."""

PluginChoice = str | tuple[str, object]
"""An installed plugin by entry-point name (``"cinema"``), or a ``(name, plugin object)`` pair."""


def build_test_host(plugins: Sequence[PluginChoice] | None, *, trace: bool = False) -> PluginHost:
    """The plugin host for exactly ``plugins``; ``None`` loads every installed plugin.

    Names load installed plugins through their entry points (so the packaging is tested too);
    pairs register objects that need not be installed (a module, or an instance with ``@hookimpl``
    methods). An installed plugin must not be given both ways: it would be registered twice.
    """
    if plugins is None:
        return build_plugin_host(trace=trace)
    if isinstance(plugins, str):
        raise TypeError(f"plugins must be a list, e.g. [{plugins!r}], not a string")
    names: list[str] = []
    objects: list[tuple[str, object]] = []
    for choice in plugins:
        if isinstance(choice, str):
            names.append(choice)
        elif isinstance(choice, tuple) and len(choice) == 2 and isinstance(choice[0], str):
            objects.append(choice)
        else:
            raise TypeError(f"each plugin is an entry-point name or a (name, plugin) pair, not {choice!r}")
    return build_plugin_host(allowlist=names, extra_plugins=objects, trace=trace)


def migrate_sqlite(path: Path) -> str:
    """Create (or bring up to date) the SQLite database at ``path`` and return its URL.

    Alembic runs its own event loop, so the migration runs in a worker thread: this is safe to
    call from inside a running loop (an async fixture or test) as well as from plain code.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite+aiosqlite:///{path}"
    with ThreadPoolExecutor(max_workers=1) as worker:
        worker.submit(upgrade, url).result()
    return url


class GraphQLErrors(AssertionError):
    """A GraphQL response carried top-level ``errors`` where the test expected none."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(error.get("message")) for error in errors) or "GraphQL errors")
        self.errors = errors


class GraphQLClient:
    """Posts GraphQL to the gateway with one bearer token (or none), as a till or an app would."""

    def __init__(self, http: httpx.AsyncClient, token: str | None) -> None:
        self.http = http
        self.token = token

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole response body, ``data`` and ``errors``, for tests of refusals."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
        if response.status_code != 200:
            raise AssertionError(f"HTTP {response.status_code} from /graphql: {response.text}")
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of a request that must have no top-level errors (else :class:`GraphQLErrors`)."""
        body = await self.execute(query, variables)
        if body.get("errors"):
            raise GraphQLErrors(body["errors"])
        data: dict[str, Any] = body["data"]
        return data

    async def mutate(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        """The value of the one root field of ``query``, typically a payload with its ``errors`` list.

        A mutation's expected refusals are data (``payload["errors"]``): check them in the test.
        """
        data = await self.data(query, variables)
        if len(data) != 1:
            raise AssertionError(f"mutate() needs exactly one root field, the query has {sorted(data)}")
        return next(iter(data.values()))


@dataclass(frozen=True)
class AtriumMember:
    """A member the factory enrolled, with a client holding the member's own token."""

    number: int
    id: str
    phone: str
    client: GraphQLClient

    @property
    def ref(self) -> dict[str, Any]:
        """The ``MemberRefInput`` value naming this member: ``{"id": <global id>}``."""
        return {"id": self.id}


ENROL = """
mutation AtriumTestingEnrol($input: EnrolInput!) {
  enrol(input: $input) { member { id number } errors { code field message } }
}"""

ADJUST = """
mutation AtriumTestingAdjust($input: AdjustPointsInput!) {
  adjustPoints(input: $input) { errors { code field message } }
}"""

ASSIGN_TIER = """
mutation AtriumTestingTier($input: AssignMemberTierInput!) {
  assignMemberTier(input: $input) { errors { code field message } }
}"""


class MemberFactory:
    """Enrols members through the ``enrol`` mutation, each with a fresh phone number.

    ``await factory(points=500, tier="gold", birth_date=date(1990, 5, 1))``. Everything goes
    through admin mutations, as support staff would do it: points are an adjustment
    (``adjustPoints``), a real posting and lot, so balances stay derivable from the ledger; a tier
    is assigned by hand (``assignMemberTier``), in the member's tier history, with growth value 0.
    """

    def __init__(self, gateway: GatewayUnderTest) -> None:
        self._gateway = gateway
        self._numbers = itertools.count(1)

    async def __call__(
        self, *, phone: str | None = None, points: int = 0, tier: str | None = None, birth_date: date | None = None
    ) -> AtriumMember:
        """Enrol one member; ``points`` is its starting balance, ``tier`` a tier code of the ladder."""
        gateway = self._gateway
        serial = next(self._numbers)
        phone = phone or f"+86139{serial:08d}"
        enrolled = await gateway.admin.mutate(
            ENROL,
            {"input": {"identity": {"kind": "PHONE", "value": phone}, "birthDate": birth_date.isoformat() if birth_date else None}},
        )
        _no_errors("enrol", enrolled)
        number, global_id = enrolled["member"]["number"], enrolled["member"]["id"]
        if tier is not None:
            assigned = await gateway.admin.mutate(
                ASSIGN_TIER, {"input": {"member": {"id": global_id}, "tier": tier, "reason": "Tier of a test member"}}
            )
            _no_errors("assignMemberTier", assigned)
        if points:
            adjusted = await gateway.admin.mutate(
                ADJUST,
                {
                    "input": {
                        "member": {"id": global_id},
                        "points": points,
                        "reason": "Starting balance of a test member",
                        "idempotencyKey": f"atrium-testing-{number}",
                    }
                },
            )
            _no_errors("adjustPoints", adjusted)
        return AtriumMember(number=number, id=global_id, phone=phone, client=gateway.member_client(number))


def _no_errors(mutation: str, payload: dict[str, Any]) -> None:
    if payload["errors"]:
        raise AssertionError(f"{mutation} refused the test member: {payload['errors']}")


class GatewayUnderTest:
    """One running gateway: its core, ASGI app, HTTP client, per-role clients and member factory."""

    def __init__(self, core: Core, app: Starlette, http: httpx.AsyncClient) -> None:
        self.core = core
        self.app = app
        self.http = http
        self.admin = self.client(Role.ADMIN)
        self.anonymous = GraphQLClient(http, None)
        self.members = MemberFactory(self)

    def freeze_time(self, when: datetime | None) -> None:
        """Make every request see ``when`` (timezone-aware) as now; ``None`` goes back to the real clock.

        For rules that depend on the day (a weekday offer, pending points, a monthly quota). The
        clock is the one GraphQL requests read, so it holds for every gateway in the process until
        this one closes. Tokens are still checked against the real time.
        """
        if when is None:
            Context.now = _REAL_NOW  # type: ignore[method-assign]
            return
        if when.utcoffset() is None:
            raise ValueError("freeze_time needs a timezone-aware datetime, e.g. datetime(2026, 11, 25, tzinfo=UTC)")
        frozen = when.astimezone(UTC)
        Context.now = staticmethod(lambda: frozen)  # type: ignore[method-assign]

    @property
    def settings(self) -> Settings:
        """The settings the gateway runs with (database URL, JWT secret ...)."""
        return self.core.settings

    def client(self, role: Role | str, *, format: str | None = None, member_id: int | None = None) -> GraphQLClient:
        """A client with a freshly signed token for ``role`` (a service needs ``format``, a member ``member_id``)."""
        token = mint_token(self.settings, role=Role(role), member_id=member_id, format_code=format)
        return GraphQLClient(self.http, token)

    def service(self, format: str) -> GraphQLClient:
        """The service account of ``format``: records its activities, redeems its rewards."""
        return self.client(Role.SERVICE, format=format)

    def member_client(self, number: int) -> GraphQLClient:
        """A client with member ``number``'s own token: ``me``, its history, its redemptions."""
        return self.client(Role.MEMBER, member_id=number)


@asynccontextmanager
async def open_gateway(
    *,
    database_url: str | None = None,
    settings: Settings | None = None,
    plugins: Sequence[PluginChoice] | None = None,
) -> AsyncIterator[GatewayUnderTest]:
    """Open the gateway with ``plugins`` over a migrated database; close everything on exit.

    Give ``database_url`` (see :func:`migrate_sqlite`) or complete ``settings``. Loading the
    plugins and composing the schema happen here, so a plugin that cannot start fails here with
    the gateway's start-up error.
    """
    import httpx

    from gateway.app import create_app

    if settings is None:
        if database_url is None:
            raise TypeError("open_gateway needs database_url or settings")
        settings = Settings(database_url=database_url, plugins=None, _env_file=None)  # type: ignore[call-arg]
    host = build_test_host(plugins, trace=settings.trace_hooks)
    core = await open_core(settings, host)
    try:
        app = create_app(core)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://atrium.test") as http:
            gateway = GatewayUnderTest(core, app, http)
            try:
                yield gateway
            finally:
                gateway.freeze_time(None)
    finally:
        await core.close()
