"""The database handle: async engines for reads and for serialised writes.

On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` so two writers never both read
a balance before either writes; WAL mode lets reads go on meanwhile. Writers of one process also
queue on an asyncio lock, so they wait their turn instead of polling SQLite's busy handler (the
busy timeout still arbitrates between processes). On PostgreSQL writes use row
locks and guarded updates; both engines are the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(immediate: bool):  # type: ignore[no-untyped-def]
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return on_connect


def _begin(statement: str):  # type: ignore[no-untyped-def]
    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql(statement)

    return on_begin


def ensure_sqlite_directory(url: str) -> None:
    """Create the folder of a SQLite database file, so a fresh checkout can migrate at once."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


class Database:
    """Engines for one database URL; ``read()`` and ``write()`` hand out connections in a transaction."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        if self.is_sqlite:
            ensure_sqlite_directory(url)
            self.engine = self._sqlite_engine(url, immediate=False, echo=echo, pool_size=pool_size)
            self.write_engine = self._sqlite_engine(url, immediate=True, echo=echo, pool_size=pool_size)
            self._write_lock: asyncio.Lock | None = asyncio.Lock()
        else:
            self._write_lock = None
            self.engine = create_async_engine(
                url, echo=echo, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True
            )
            self.write_engine = self.engine

    @staticmethod
    def _sqlite_engine(url: str, *, immediate: bool, echo: bool, pool_size: int) -> AsyncEngine:
        engine = create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size * 2)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(immediate))
        event.listen(engine.sync_engine, "begin", _begin("BEGIN IMMEDIATE" if immediate else "BEGIN"))
        return engine

    @property
    def display_url(self) -> str:
        """The URL without its password, for messages."""
        return make_url(self.url).render_as_string(hide_password=True)

    @property
    def engines(self) -> tuple[AsyncEngine, ...]:
        """Every distinct engine (one on PostgreSQL, two on SQLite); for statement counting and disposal."""
        return (self.engine,) if self.write_engine is self.engine else (self.engine, self.write_engine)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a read transaction, for queries."""
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction: committed on success, rolled back on any exception."""
        if self._write_lock is None:
            async with self.write_engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.write_engine.begin() as conn:
            yield conn

    async def dispose(self) -> None:
        """Close every pooled connection."""
        for engine in self.engines:
            await engine.dispose()
