"""Real gateway processes for system tests, their database and the ``atrium`` command.

:class:`GatewayServer` runs what ``atrium serve`` runs (``uvicorn gateway.app:create_app
--factory``) as a child process on a free loopback port, waits for ``/-/health``, and stops it
gently (SIGTERM) or not (SIGKILL, the crash test). :func:`system_database` creates, migrates and
drops one throwaway PostgreSQL database through the admin URL the rest of the suite uses.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from gateway.auth import Role, mint_token
from gateway.settings import Settings
from tests.conftest import POSTGRES_URL_ENV, _admin, _asyncpg_dsn, _in_thread, _under_ci

REPO = Path(__file__).resolve().parents[2]
JWT_SECRET = "atrium-system-tests-secret-not-the-development-one"
START_TIMEOUT = 120.0
"""Seconds a server may take to answer ``/-/health``: generous, for a loaded 2-CPU machine."""
STOP_TIMEOUT = 20.0


# --- the database --------------------------------------------------------------------------------


@contextmanager
def system_database(label: str) -> Iterator[str]:
    """A fresh migrated PostgreSQL database for one system test; yields its URL, drops it after.

    Skips locally and fails under CI when ``ATRIUM_TEST_POSTGRES_URL`` is unset or unreachable,
    exactly as ``tests/conftest.py``'s ``postgres_database`` does.
    """
    admin_url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not admin_url:
        message = (
            f"{POSTGRES_URL_ENV} is not set, so the PostgreSQL system tests cannot run. "
            f"Set it to an admin URL such as postgresql+asyncpg://postgres@127.0.0.1:5432/postgres."
        )
        if _under_ci():
            pytest.fail(f"CI is set: {message}", pytrace=False)
        pytest.skip(message)
    name = f"atrium_{label}_{os.getpid()}_{secrets.token_hex(4)}"
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
        from gateway.persistence.migrate import upgrade

        _in_thread(upgrade, url)
        yield url
    finally:
        _in_thread(asyncio.run, _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def asyncpg_dsn(url: str) -> str:
    """A DSN for ``asyncpg.connect`` from the SQLAlchemy URL of a system database."""
    return _asyncpg_dsn(url)


# --- settings, tokens, ids -----------------------------------------------------------------------


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a gateway process (and of ``atrium``) on ``database_url``.

    Every inherited ``ATRIUM_*`` variable is dropped, so ``ATRIUM_PLUGINS`` is unset (every
    installed plugin loads) and the test's admin URL is not passed on.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith("ATRIUM_")}
    env.update(
        ATRIUM_DATABASE_URL=database_url,
        ATRIUM_JWT_SECRET=JWT_SECRET,
        ATRIUM_DATABASE_POOL_SIZE="5",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")])),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def client_settings(database_url: str) -> Settings:
    """Settings matching :func:`server_env`, for minting tokens the servers accept."""
    return Settings(database_url=database_url, jwt_secret=JWT_SECRET, plugins=None, _env_file=None)  # type: ignore[call-arg]


def token(settings: Settings, role: str, *, format: str | None = None, member_id: int | None = None) -> str:
    """A bearer token for ``role``."""
    return mint_token(settings, role=Role(role), format_code=format, member_id=member_id)


def posting_db_id(global_id: str) -> int:
    """The ``posting.id`` behind a Relay global id (``base64("Posting:<id>")``)."""
    type_name, _, value = base64.b64decode(global_id).decode().partition(":")
    assert type_name == "Posting", global_id
    return int(value)


# --- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewayServer:
    """One ``uvicorn gateway.app:create_app --factory`` process on 127.0.0.1.

    Output goes to ``<workdir>/<name>.log`` (appended across restarts); :meth:`log_tail` quotes it
    in failure messages. The process runs in ``workdir`` so no stray ``.env`` is read.
    """

    def __init__(self, name: str, env: dict[str, str], workdir: Path, port: int | None = None) -> None:
        self.name = name
        self.env = env
        self.workdir = workdir
        self.port = port or free_port()
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        """Start the process (without waiting for it to answer: see :meth:`wait_ready`)."""
        assert self.process is None or self.process.poll() is not None, f"{self.name} is already running"
        command = [
            sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            log.write(f"--- {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until ``/-/health`` answers 200; fail with the log if the process dies or stalls."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=5.0) as http:
            while True:
                if not self.alive():
                    code = self.process.returncode if self.process else None
                    raise AssertionError(f"gateway {self.name} exited with {code} at start-up:\n{self.log_tail()}")
                try:
                    response = await http.get(f"{self.url}/-/health")
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"gateway {self.name} did not answer /-/health in {timeout:.0f} s:\n{self.log_tail()}")
                await asyncio.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no rollback by the process itself, in-flight requests cut."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        """SIGTERM and wait; SIGKILL if it lingers. Safe to call twice or on a dead process."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


async def start_all(*servers: GatewayServer) -> None:
    """Start every server at once and wait until each answers."""
    for server in servers:
        server.start()
    await asyncio.gather(*(server.wait_ready() for server in servers))


def stop_all(*servers: GatewayServer) -> None:
    for server in servers:
        server.stop()


# --- the atrium command --------------------------------------------------------------------------


def atrium(env: dict[str, str], workdir: Path, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    """Run ``atrium ARGS`` (the installed console script, else ``python -m gateway.cli``) with ``env``."""
    script = Path(sys.executable).with_name("atrium")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "gateway.cli"]
    return subprocess.run(
        [*command, *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


# --- GraphQL over HTTP ---------------------------------------------------------------------------


class Outcome:
    """What one GraphQL request came back with.

    ``kind`` is ``ok`` (a payload without user errors), ``user_error`` (``code`` set), ``graphql``
    (top-level errors), ``http`` (a status other than 200) or ``transport`` (no response at all:
    unacknowledged). ``payload`` is the mutation's payload when there is one.
    """

    __slots__ = ("code", "detail", "kind", "payload")

    def __init__(self, kind: str, *, code: str | None = None, payload: Any = None, detail: str = "") -> None:
        self.kind, self.code, self.payload, self.detail = kind, code, payload, detail

    @property
    def label(self) -> str:
        """A short tally label: ``ok``, the error code, ``graphql error``, ``http 500``, ``transport ReadError``."""
        if self.kind == "ok":
            return "ok"
        if self.kind == "user_error":
            return str(self.code)
        return f"{self.kind} {self.detail}".strip()

    def __repr__(self) -> str:
        return f"Outcome({self.label!r}, payload={self.payload!r})"


async def post_graphql(
    http: httpx.AsyncClient, base_url: str, bearer: str, query: str, variables: dict[str, Any]
) -> tuple[str, Any]:
    """POST a request; ``("ok", data)``, or ``("http", ...)`` / ``("graphql", errors)`` /
    ``("transport", exception)``."""
    try:
        response = await http.post(
            f"{base_url}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {bearer}"},
        )
    except httpx.HTTPError as exc:
        return "transport", exc
    if response.status_code != 200:
        return "http", f"{response.status_code} {response.text[:300]}"
    body = response.json()
    if body.get("errors"):
        return "graphql", body["errors"]
    return "ok", body["data"]


async def mutate(
    http: httpx.AsyncClient, base_url: str, bearer: str, field: str, query: str, variables: dict[str, Any]
) -> Outcome:
    """Run mutation ``field`` and classify the answer (see :class:`Outcome`)."""
    kind, value = await post_graphql(http, base_url, bearer, query, variables)
    if kind == "transport":
        return Outcome("transport", detail=type(value).__name__)
    if kind == "http":
        return Outcome("http", detail=str(value).split(" ", 1)[0], payload=value)
    if kind == "graphql":
        return Outcome("graphql", detail="error", payload=value)
    payload = value[field]
    errors = payload.get("errors") or []
    if errors:
        return Outcome("user_error", code=errors[0]["code"], payload=payload)
    return Outcome("ok", payload=payload)
