"""GraphQL reads: the gateway's schema against a cacheless baseline, over HTTP, in the same run.

Two uvicorn servers serve the real app (``create_app``) on loopback, each in its own process so the
load generator does not share a GIL with the server it measures. They differ only in the schema's
extensions:

* ``gateway``: the schema exactly as ``build_schema`` makes it (parser cache, validation cache,
  limiter rules built once, error masking);
* ``baseline``: the same built schema with its extensions replaced by the three limiters built per
  request (``lambda: QueryDepthLimiter(...)`` and so on) and no parser or validation cache, so every
  request is parsed and validated again, as with strawberry issue 4635. Error masking is left out
  too, which makes the baseline a little faster, never slower.

One member with 30 retail purchases is read through two queries, the tiny ``{ tiers { code } }`` and
the member app's dashboard, by ``--concurrency`` keep-alive connections for ``--seconds`` per query
and schema (split into rounds that alternate which schema goes first). Before timing, both servers
must give identical answers and both must refuse too many aliases. The script prints req/s, p50 and
p95 latency, CPU use of server and load generator, the CPU time the hypervisor stole (a noisy
neighbour's share), each server's peak RSS, and the ratios.

The default load generator replays a prepared HTTP/1.1 request per connection. ``--client httpx``
uses ``httpx.AsyncClient`` instead; it spends more CPU per tiny request than the server does, so on
a two-CPU machine it starves the server it measures and flattens the ratio (see the client cpu
column).

    .venv/bin/python bench/graphql_reads.py
    .venv/bin/python bench/graphql_reads.py --database postgres --seconds 10 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from gateway.app import create_app
from gateway.settings import Settings

if TYPE_CHECKING:
    import httpx

# The server processes import only the above; what only the driver needs (httpx, asyncpg, Alembic,
# the earn path) is imported inside the driver's functions, so it does not inflate the servers' RSS.

PLUGINS = ["retail", "dining", "property"]

TIERS = "{ tiers { code } }"

DASHBOARD = """
query Dashboard {
  me {
    id number pointsBalance growthValue
    tier { code name multiplier }
    tierProgress { next { code } growthToNext }
    benefits { unlocked unlockedBy { code } benefit { id name format { code } } }
    lots { format points remaining expiresAt }
    history(first: 10) {
      edges { cursor node { id kind format points reason occurredAt activity { summary } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""

QUERIES = {"tiers": TIERS, "dashboard": DASHBOARD}
VARIANTS = ("baseline", "gateway")


# --- the server process ----------------------------------------------------------------------------


def baseline_extensions(settings: Settings) -> tuple[Callable[[], SchemaExtension], ...]:
    """Issue 4635's shape: limiters constructed per request, no parser or validation cache."""
    return (
        lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
    )


def serve(variant: str, config: dict[str, object]) -> None:
    """Serve the app on an ephemeral loopback port; print the port, then run until SIGTERM."""
    settings = Settings(**config, plugins=PLUGINS, graphiql=False, _env_file=None)  # type: ignore[arg-type]
    app = create_app(settings=settings)
    schema = next(route for route in app.routes if getattr(route, "path", None) == "/graphql").endpoint.schema  # type: ignore[attr-defined]
    if variant == "baseline":
        # strawberry keeps the factories in ``schema.extensions`` (a tuple) and calls each one per
        # request in ``get_extensions``, so swapping it after construction takes effect.
        schema.extensions = baseline_extensions(settings)

    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it the body, written after the headers, waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    names = [factory().__class__.__name__ for factory in schema.extensions]  # type: ignore[operator]
    print(json.dumps({"port": sock.getsockname()[1], "extensions": names}), flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    server.run(sockets=[sock])


# --- the driving process ---------------------------------------------------------------------------


@dataclass
class Server:
    """One server subprocess; ``port`` and ``extensions`` come from its first line of output."""

    variant: str
    process: subprocess.Popen[bytes]
    port: int = 0
    extensions: tuple[str, ...] = ()
    peak_rss_kib: int | None = None

    @classmethod
    def spawn(cls, variant: str, config: dict[str, object]) -> Server:
        command = [sys.executable, __file__, "--serve", variant, "--serve-config", json.dumps(config)]
        return cls(variant, subprocess.Popen(command, stdout=subprocess.PIPE))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self, client: httpx.AsyncClient) -> None:
        """Read the port the server bound, then wait until its health check answers."""
        import httpx

        line = await asyncio.to_thread(self.process.stdout.readline)  # type: ignore[union-attr]
        if not line.strip():
            raise RuntimeError(f"the {self.variant} server did not start (exit {self.process.wait()})")
        hello = json.loads(line)
        self.port, self.extensions = hello["port"], tuple(hello["extensions"])
        for _ in range(200):
            try:
                if (await client.get(f"{self.base_url}/-/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"the {self.variant} server exited ({self.process.returncode})")
            await asyncio.sleep(0.05)
        raise RuntimeError(f"the {self.variant} server is not healthy")

    def cpu_seconds(self) -> float | None:
        """User + system CPU the server has used so far (Linux /proc), or None."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """SIGTERM, reap with wait4 and keep the process's own peak RSS (ru_maxrss)."""
        if self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            _, status, usage = os.wait4(self.process.pid, 0)
        except ChildProcessError:
            return
        self.process.returncode = os.waitstatus_to_exitcode(status)
        scale = 1024 if sys.platform == "darwin" else 1  # bytes on macOS, KiB on Linux
        self.peak_rss_kib = usage.ru_maxrss // scale


@dataclass
class Figures:
    """One measured run."""

    requests: int
    failures: int
    elapsed: float
    latencies: list[float]
    server_cpu: float | None
    client_cpu: float
    steal: float | None

    def add(self, other: Figures) -> Figures:
        """Two rounds as one run."""

        def cpu(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else (a * self.elapsed + b * other.elapsed) / (self.elapsed + other.elapsed)

        return Figures(
            self.requests + other.requests,
            self.failures + other.failures,
            self.elapsed + other.elapsed,
            self.latencies + other.latencies,
            cpu(self.server_cpu, other.server_cpu),
            cpu(self.client_cpu, other.client_cpu),  # type: ignore[arg-type]
            cpu(self.steal, other.steal),
        )

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000


def cpu_ticks() -> tuple[int, int] | None:
    """Steal and total jiffies of all CPUs (Linux /proc/stat): time the hypervisor gave elsewhere."""
    try:
        fields = [int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


class RawConnection:
    """One keep-alive HTTP/1.1 connection that replays a prepared request: a load generator that
    costs the server's CPU far less than httpx does (each side has ~one core on a 2-CPU box)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
        self.reader, self.writer, self.request = reader, writer, request

    @classmethod
    async def open(cls, server: Server, body: bytes, headers: dict[str, str]) -> RawConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        lines = ["POST /graphql HTTP/1.1", f"Host: 127.0.0.1:{server.port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return cls(reader, writer, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    async def post(self) -> tuple[int, bytes]:
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"response without Content-Length: {head!r}")
        return int(head[9:12]), await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


class HttpxSender:
    """httpx.AsyncClient requests through the shared client's pool."""

    def __init__(self, client: httpx.AsyncClient, server: Server, body: bytes, headers: dict[str, str]) -> None:
        self.client, self.url, self.body, self.headers = client, f"{server.base_url}/graphql", body, headers

    async def post(self) -> tuple[int, bytes]:
        response = await self.client.post(self.url, content=self.body, headers=self.headers)
        return response.status_code, response.content

    async def close(self) -> None:
        return None


async def drive(
    kind: str, client: httpx.AsyncClient, server: Server, body: bytes, headers: dict[str, str], seconds: float, concurrency: int
) -> Figures:
    """``concurrency`` loops POSTing ``body`` for ``seconds``; every response must be 200 without errors."""
    if kind == "raw":
        senders: list[RawConnection | HttpxSender] = list(
            await asyncio.gather(*(RawConnection.open(server, body, headers) for _ in range(concurrency)))
        )
    else:
        senders = [HttpxSender(client, server, body, headers) for _ in range(concurrency)]
    latencies: list[float] = []
    failures = 0

    async def worker(sender: RawConnection | HttpxSender) -> None:
        nonlocal failures
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            status, content = await sender.post()
            latencies.append(time.perf_counter() - started)
            if status != 200 or b'"errors"' in content:
                failures += 1

    cpu0, server_cpu0, ticks0, start = time.process_time(), server.cpu_seconds(), cpu_ticks(), time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(worker(sender) for sender in senders))
    elapsed = time.perf_counter() - start
    server_cpu1, ticks1 = server.cpu_seconds(), cpu_ticks()
    client_cpu = (time.process_time() - cpu0) / elapsed
    steal = None if ticks0 is None or ticks1 is None else (ticks1[0] - ticks0[0]) / max(1, ticks1[1] - ticks0[1])
    for sender in senders:
        await sender.close()
    server_cpu = None if server_cpu0 is None or server_cpu1 is None else (server_cpu1 - server_cpu0) / elapsed
    return Figures(len(latencies), failures, elapsed, latencies, server_cpu, client_cpu, steal)


async def seed(url: str, purchases: int) -> int:
    """Enrol one member and record ``purchases`` retail receipts through the real earn path."""
    from atrium_retail.inputs import RetailLineItemInput, RetailPurchaseInput

    from gateway.core import build_host, open_core
    from gateway.identity import IdentityKey, IdentityKind, enrol
    from gateway.ledger.earn import ActivityRequest, record_activity
    from gateway.ledger.postings import MemberRef
    from gateway.tiers import current_ladder

    settings = Settings(database_url=url, plugins=PLUGINS, _env_file=None)  # type: ignore[call-arg]
    core = await open_core(settings, build_host(settings))
    try:
        now = datetime.now(UTC)
        member_id = await enrol(
            core.db, identity=IdentityKey(IdentityKind.EMAIL, "reads@example.com"), ladder=await current_ladder(core), enrolled_format="retail", now=now
        )
        for n in range(purchases):
            receipt = RetailPurchaseInput(
                store_code=f"SH-{n % 3:03d}",
                currency="CNY",
                purchased_at=None,
                items=[
                    RetailLineItemInput(sku=f"SKU-{n}", category="grocery", quantity=1 + n % 3, unit_price=Decimal("19.90"), line_discount=Decimal(0)),
                    RetailLineItemInput(sku=f"TEE-{n}", category="apparel", quantity=1, unit_price=Decimal("89.00"), line_discount=Decimal("5.00")),
                ],
            )
            request = ActivityRequest(MemberRef(member_id=member_id), "retail", "purchase", f"R-{n}", receipt)
            await record_activity(core, request, now=now - timedelta(days=purchases - n))
        return member_id
    finally:
        await core.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=8.0, help="Measured seconds per query and schema.")
    parser.add_argument("--warmup", type=float, default=1.0, help="Unmeasured seconds before each measurement.")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--rounds", type=int, default=2, help="Split each measurement into rounds, alternating which schema goes first."
    )
    parser.add_argument("--purchases", type=int, default=30, help="Retail purchases recorded for the member.")
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="Load generator: prepared keep-alive HTTP/1.1 requests (raw) or httpx.AsyncClient, which "
        "spends several times the CPU per request and, on a small box, starves the server it measures.",
    )
    args = parser.parse_args()

    import asyncpg
    import httpx
    from sqlalchemy.engine import make_url

    from gateway.auth import Role, mint_token
    from gateway.persistence.migrate import upgrade

    if args.database == "postgres":
        admin = os.environ.get("ATRIUM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
        db_name = f"atrium_bench_reads_{os.getpid()}"
        dsn = make_url(admin).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        await conn.execute(f'CREATE DATABASE "{db_name}"')
        await conn.close()
        url = make_url(admin).set(database=db_name).render_as_string(hide_password=False)
    else:
        scratch = tempfile.mkdtemp(prefix="atrium-bench-")
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'bench.db'}"

    servers: list[Server] = []
    load_before = os.getloadavg()[0]
    try:
        began = time.perf_counter()
        await asyncio.to_thread(upgrade, url)
        member_id = await seed(url, args.purchases)
        config = {"database_url": url, "database_pool_size": args.concurrency, "jwt_secret": secrets.token_urlsafe(32)}
        token = mint_token(Settings(**config, _env_file=None), role=Role.MEMBER, member_id=member_id)  # type: ignore[arg-type]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        bodies = {name: json.dumps({"query": query}).encode() for name, query in QUERIES.items()}
        for variant in VARIANTS:
            servers.append(Server.spawn(variant, config))
        by_variant = {server.variant: server for server in servers}
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)

        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            await asyncio.gather(*(server.ready(client) for server in servers))
            # Same answers from both servers, and both still enforce the limits.
            too_many_aliases = "{ " + " ".join(f"a{n}: tiers {{ code }}" for n in range(20)) + " }"
            answers: dict[str, dict[str, object]] = {}
            for name, body in bodies.items():
                pair = [(await client.post(f"{s.base_url}/graphql", content=body, headers=headers)).json() for s in servers]
                if pair[0] != pair[1] or pair[0].get("errors"):
                    raise RuntimeError(f"{name}: the servers disagree or fail: {pair}")
                answers[name] = pair[0]["data"]
            history = answers["dashboard"]["me"]["history"]["edges"]  # type: ignore[index]
            for server in servers:
                refused = (await client.post(f"{server.base_url}/graphql", json={"query": too_many_aliases}, headers=headers)).json()
                if not refused.get("errors"):
                    raise RuntimeError(f"the {server.variant} server does not enforce the alias limit")

            results: dict[tuple[str, str], Figures] = {}
            for name, body in bodies.items():
                for variant in VARIANTS:
                    await drive(args.client, client, by_variant[variant], body, headers, args.warmup, args.concurrency)
                for round_ in range(args.rounds):
                    for variant in VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]:
                        server = by_variant[variant]
                        figures = await drive(args.client, client, server, body, headers, args.seconds / args.rounds, args.concurrency)
                        results[name, variant] = results[name, variant].add(figures) if (name, variant) in results else figures
        for server in servers:
            server.stop()

        print(
            f"database={args.database} client={args.client} concurrency={args.concurrency} seconds={args.seconds} warmup={args.warmup} "
            f"rounds={args.rounds} purchases={args.purchases} history edges={len(history)} cpus={os.cpu_count()}"
        )
        for server in servers:
            print(f"schema extensions {server.variant}: {', '.join(server.extensions)}")
        print(f"{'query':<10} {'schema':<9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'requests':>9} {'failed':>7} {'server cpu':>11} {'client cpu':>11} {'cpu steal':>10}")
        for (name, variant), figures in results.items():
            server_cpu = "-" if figures.server_cpu is None else f"{figures.server_cpu:.0%}"
            steal = "-" if figures.steal is None else f"{figures.steal:.0%}"
            print(
                f"{name:<10} {variant:<9} {figures.rate:8.0f} {figures.percentile(50):8.2f} {figures.percentile(95):8.2f} "
                f"{figures.requests:9d} {figures.failures:7d} {server_cpu:>11} {figures.client_cpu:>11.0%} {steal:>10}"
            )
        for name in QUERIES:
            base, gate = results[name, "baseline"], results[name, "gateway"]
            print(
                f"ratio gateway/baseline {name}: {gate.rate / base.rate:.2f}x req/s "
                f"(p50 {base.percentile(50) / gate.percentile(50):.2f}x, p95 {base.percentile(95) / gate.percentile(95):.2f}x faster)"
            )
        for server in servers:
            rss = "-" if server.peak_rss_kib is None else f"{server.peak_rss_kib / 1024:.1f} MiB"
            print(f"server peak RSS {server.variant}: {rss}")
        print(f"load generator peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")
        print(
            f"total runtime {time.perf_counter() - began:.1f} s; "
            f"1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (other work on the machine skews the figures)"
        )
        failed = sum(figures.failures for figures in results.values())
        if failed:
            raise SystemExit(f"{failed} requests failed")
    finally:
        for server in servers:
            server.stop()
        if args.database == "postgres":
            conn = await asyncpg.connect(dsn)
            await conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            await conn.close()
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    if "--serve" in sys.argv:
        serve_parser = argparse.ArgumentParser()
        serve_parser.add_argument("--serve", choices=VARIANTS, required=True)
        serve_parser.add_argument("--serve-config", required=True)
        serve_args = serve_parser.parse_args()
        serve(serve_args.serve, json.loads(serve_args.serve_config))
    else:
        asyncio.run(main())
