"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

``backend`` is parametrised ``sqlite`` / ``postgres``. SQLite tests copy a template file migrated
once per session; PostgreSQL tests share one throwaway database per session (created through the
admin URL in ``ATRIUM_TEST_POSTGRES_URL``, migrated once, dropped at the end) whose mutable tables
are truncated before each test. Without that variable the PostgreSQL half is skipped locally and
fails under CI: a CI run must never pass by silently not testing PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from gateway.core import Core, build_host, open_core
from gateway.persistence.migrate import upgrade
from gateway.settings import Settings

POSTGRES_URL_ENV = "ATRIUM_TEST_POSTGRES_URL"
REDIS_URL_ENV = "ATRIUM_TEST_REDIS_URL"

MUTABLE_TABLES = (
    "plugin_settings",
    "campaign_member_usage",
    "campaign_budget",
    "campaign",
    "settlement_closing",
    "transfer_price",
    "member_tier_history",
    "tier_policy",
    "coupon",
    "benefit_use",
    "benefit_counter",
    "shared_benefit",
    "hold",
    "audit_log",
    "idempotency_failure",
    "lot_consumption",
    "entry",
    "lot",
    "posting",
    "identity",
    "member",
)
"""Tables a test may write; ``tier`` holds the migrated ladder and is kept (a test that changes it
restores it). ``tier_policy`` may be emptied: no row means the default policy."""


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _in_thread(function: Callable[..., Any], *args: Any) -> Any:
    """Run ``function`` in a worker thread: Alembic's env.py and our admin helpers call
    ``asyncio.run``, which must not touch the event loop pytest-asyncio manages."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


def _asyncpg_dsn(url: str) -> str:
    """A libpq-style DSN for asyncpg from a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(admin_url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(admin_url), timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


# --- backends ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """The database a test runs on: ``name`` (``sqlite`` or ``postgres``) and its SQLAlchemy URL."""

    name: str
    url: str

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgres"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session; tests get copies."""
    path = tmp_path_factory.mktemp("sqlite-template") / "atrium.db"
    _in_thread(upgrade, f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def redis_url() -> str:
    """The Redis server for cache tests (``ATRIUM_TEST_REDIS_URL``): skipped locally without it, a failure under CI."""
    url = os.environ.get(REDIS_URL_ENV, "").strip()
    if not url:
        message = f"{REDIS_URL_ENV} is not set (e.g. redis://127.0.0.1:6379/0), so the Redis cache tests cannot run."
        if _under_ci():
            pytest.fail(f"CI is set: {message}", pytrace=False)
        pytest.skip(message)
    return url


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One migrated throwaway PostgreSQL database for the session; yields its URL, drops it after."""
    admin_url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not admin_url:
        message = (
            f"{POSTGRES_URL_ENV} is not set, so the PostgreSQL half of the storage tests cannot run. "
            f"Set it to an admin URL such as postgresql+asyncpg://postgres@127.0.0.1:5432/postgres."
        )
        if _under_ci():
            pytest.fail(f"CI is set: {message}", pytrace=False)
        pytest.skip(message)
    name = f"atrium_test_{os.getpid()}_{secrets.token_hex(4)}"
    problem = None
    try:
        _in_thread(asyncio.run, _admin(admin_url, f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server fails loudly
        problem = exc
    if problem is not None:
        pytest.fail(
            f"PostgreSQL at {make_url(admin_url).render_as_string(hide_password=True)} "
            f"({POSTGRES_URL_ENV}) is unreachable or refused CREATE DATABASE: {problem!r}",
            pytrace=False,
        )
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        _in_thread(upgrade, url)
        yield url
    finally:
        _in_thread(asyncio.run, _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The database of one test, empty but for the tier ladder."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "atrium.db"
        shutil.copyfile(template, path)
        return Backend("sqlite", f"sqlite+aiosqlite:///{path}")
    url: str = request.getfixturevalue("postgres_database")
    await _admin(url, f"TRUNCATE {', '.join(MUTABLE_TABLES)} RESTART IDENTITY CASCADE")
    return Backend("postgres", url)


# --- the core and the app ------------------------------------------------------------------------


@pytest.fixture
def settings(backend: Backend) -> Settings:
    """Settings for the test's database; every installed plugin loads."""
    return Settings(database_url=backend.url, plugins=None, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    """``(name, plugin)`` pairs registered next to the installed plugins; override to add some."""
    return []


@pytest.fixture
async def core(settings: Settings, extra_plugins: list[tuple[str, object]]) -> AsyncIterator[Core]:
    """A gateway core on the test's database with the installed plugins plus ``extra_plugins``."""
    host = build_host(settings, extra_plugins)
    opened = await open_core(settings, host)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def app(core: Core) -> Any:
    """The ASGI app over ``core`` (imported lazily so service tests do not depend on it)."""
    from gateway.app import create_app

    return create_app(core)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to ``app`` in-process."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


@pytest.fixture
def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


# --- statement counting --------------------------------------------------------------------------

_NOT_COUNTED = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA)\b", re.IGNORECASE)


@dataclass
class StatementLog:
    """The statements sent to the database inside one ``sql_statements()`` block."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def __len__(self) -> int:
        return len(self.statements)

    def __str__(self) -> str:
        return "\n".join(f"{n}. {' '.join(s.split())}" for n, s in enumerate(self.statements, 1))


@contextmanager
def statements_of(core: Core) -> Iterator[StatementLog]:
    """Collect the statements ``core`` sends to its database inside the block.

    Counts every ``cursor.execute`` / ``executemany`` (one each) on every engine of the core,
    ignoring transaction control and PRAGMAs.
    """
    log = StatementLog()

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not _NOT_COUNTED.match(statement):
            log.statements.append(statement)

    engines = [engine.sync_engine for engine in core.db.engines]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield log
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", before_cursor_execute)


@pytest.fixture
def sql_statements(core: Core) -> Callable[[], Any]:
    """``with sql_statements() as log: ...`` then ``log.count``: statements ``core`` issued in the block."""
    return lambda: statements_of(core)
