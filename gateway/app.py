"""The ASGI app: GraphQL (and GraphiQL) at ``/graphql``, health and plugin listing under ``/-/``."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL

from gateway import __version__
from gateway.auth import principal_from_header
from gateway.core import Core, build_host, open_core
from gateway.errors import AtriumError
from gateway.exports import settlement_csv_route
from gateway.graphql.context import Context
from gateway.graphql.schema import build_schema
from gateway.settings import DEVELOPMENT_SECRET, Settings

log = logging.getLogger(__name__)


class AtriumGraphQL(GraphQL):  # type: ignore[type-arg]
    """Strawberry's ASGI app with Atrium's per-request context (caller and data loaders)."""

    def __init__(self, schema: Any, core: Callable[[], Core], *, graphiql: bool) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None)
        self._core = core

    async def get_context(self, request: Any, response: Any) -> Context:  # type: ignore[override]
        """A fresh context per request: loaders never share results between callers."""
        core = self._core()
        try:
            principal = principal_from_header(core.settings, request.headers.get("authorization"))
        except AtriumError as exc:
            return Context(core=core, principal=None, auth_error=exc)
        return Context(core=core, principal=principal)


def create_app(core: Core | None = None, *, settings: Settings | None = None) -> Starlette:
    """The ASGI app.

    With ``core`` (tests, embedders) it serves that core and leaves its lifetime to the caller.
    Without, it loads plugins from ``settings`` (the environment by default) now, so a broken
    plugin fails start-up, and opens the database when the server starts.
    """
    if core is not None:
        settings, host = core.settings, core.host
    else:
        settings = settings or Settings()
        host = build_host(settings)
    current: dict[str, Core] = {"core": core} if core is not None else {}
    if settings.jwt_secret == DEVELOPMENT_SECRET:
        log.warning("tokens are signed with the development secret: set ATRIUM_JWT_SECRET outside a demo")

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if "core" in current:
            yield
            return
        current["core"] = await open_core(settings, host)
        try:
            yield
        finally:
            await current.pop("core").close()

    graphql = AtriumGraphQL(build_schema(host.registry, settings), lambda: current["core"], graphiql=settings.graphiql)

    async def health(_: Request) -> JSONResponse:
        async with current["core"].db.read() as conn:
            await conn.exec_driver_sql("SELECT 1")
        return JSONResponse({"status": "ok", "version": __version__})

    async def plugins(_: Request) -> JSONResponse:
        return JSONResponse(
            [
                {"name": plugin.name, "distribution": plugin.distribution, "version": plugin.version, "hooks": list(plugin.hooks)}
                for plugin in host.loaded
            ]
        )

    async def root(_: Request) -> RedirectResponse:
        return RedirectResponse("/graphql")

    routes = [
        Route("/", root),
        Route("/-/health", health),
        Route("/-/plugins.json", plugins),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        settlement_csv_route(lambda: current["core"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
