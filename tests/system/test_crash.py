"""The crash test: a gateway process is killed with SIGKILL under load, then started again.

Concurrent tills record purchases and bills and redeem rewards, each with a fresh idempotency key,
against one ``uvicorn`` process on a fresh PostgreSQL database. After a few seconds the process is
killed mid-load. After the restart:

- every mutation the client saw acknowledged is in the ledger exactly once, with the posting id,
  points and balance it was told, and a refusal it saw is remembered as that refusal;
- replaying an acknowledged key returns the same result (same posting, ``replayed: true``, or the
  same error);
- a request cut off by the kill is either wholly in the ledger (posting, entries, lots) or wholly
  absent: its replay returns the posting, or performs it once;
- ``atrium ledger verify`` passes, before and after the replays.

``ATRIUM_CRASH_LOAD_SECONDS`` (default 3) sets how long the load runs before the kill and
``ATRIUM_CRASH_SEED`` the random seed. Figures are printed to the terminal for the report.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.http.graphql import ENROL, REDEEM, RETAIL_PURCHASE
from tests.system.ledger import running_balance_mismatches
from tests.system.servers import (
    GatewayServer,
    Outcome,
    asyncpg_dsn,
    atrium,
    client_settings,
    mutate,
    posting_db_id,
    server_env,
    start_all,
    token,
)
from tests.system.traffic import DINING_BILL, dining_input, retail_input

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LOAD_SECONDS = float(os.environ.get("ATRIUM_CRASH_LOAD_SECONDS", "3"))
SEED = int(os.environ.get("ATRIUM_CRASH_SEED", "20261123"))
CLIENTS = 8
MEMBERS = 6
MAX_REQUESTS_PER_CLIENT = 5_000
REQUEST_TIMEOUT = 60.0
REPLAY_CONCURRENCY = 4
SESSION_TIMEOUT = 60.0


@dataclass
class Request:
    """One keyed mutation sent to the gateway and, if it came, the answer."""

    operation: str
    field: str
    document: str
    bearer: str
    variables: dict[str, Any]
    scope: str
    key: str
    outcome: Outcome | None = None
    """``None`` while in flight; an outcome of kind ``transport`` when the answer never came."""

    @property
    def acknowledged(self) -> bool:
        """The client got an answer: a posting (``ok``) or a typed refusal."""
        return self.outcome is not None and self.outcome.kind in ("ok", "user_error")


def keyed_request(rng: random.Random, tokens: dict[str, str], member: str, key: str, redeem_share: float) -> Request:
    """A random earn (retail or dining) or redemption for ``member`` with idempotency key ``key``."""
    roll = rng.random()
    if roll < redeem_share:
        fmt, reward, quantity = rng.choice([("dining", "dessert_voucher", 1), ("retail", "voucher_10", 1), ("dining", "dessert_voucher", 2)])
        variables = {"input": {"format": fmt, "reward": reward, "quantity": quantity, "idempotencyKey": key, "member": {"id": member}}}
        return Request("redeem", "redeem", REDEEM, tokens[fmt], variables, f"redeem:{fmt}", key)
    if roll < redeem_share + (1 - redeem_share) / 2:
        activity, _ = retail_input(rng)
        variables = {"member": {"id": member}, "key": key, "input": activity}
        return Request("earn retail", "recordRetailPurchase", RETAIL_PURCHASE, tokens["retail"], variables, "earn:retail", key)
    activity, _ = dining_input(rng)
    variables = {"member": {"id": member}, "key": key, "input": activity}
    return Request("earn dining", "recordDiningBill", DINING_BILL, tokens["dining"], variables, "earn:dining", key)


async def send(http: httpx.AsyncClient, url: str, request: Request) -> Outcome:
    return await mutate(http, url, request.bearer, request.field, request.document, request.variables)


async def client(
    number: int, url: str, tokens: dict[str, str], members: list[str], sent: list[Request], killed: asyncio.Event
) -> None:
    """Send keyed mutations one after another until the server is gone."""
    rng = random.Random(SEED * 100 + number)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
        for count in range(MAX_REQUESTS_PER_CLIENT):
            if killed.is_set():
                return
            request = keyed_request(rng, tokens, rng.choice(members), f"crash-{SEED}-c{number}-{count}", 0.4)
            sent.append(request)
            request.outcome = await send(http, url, request)
            if request.outcome.kind == "transport":
                return


@dataclass
class Ledger:
    """What the database holds, read after the restart."""

    postings: dict[tuple[str, str], asyncpg.Record]
    failures: dict[tuple[str, str], asyncpg.Record]
    duplicates: list[asyncpg.Record]
    incomplete: list[asyncpg.Record]
    misbalanced: list[str]


POSTING_INTEGRITY = """
SELECT p.id, p.kind, p.points, COALESCE(e.total, 0) AS entry_total, COALESCE(e.n, 0) AS entries,
       COALESCE(l.total, 0) AS lot_points, COALESCE(c.total, 0) AS consumed
FROM posting p
LEFT JOIN (SELECT posting_id, SUM(amount) AS total, COUNT(*) AS n FROM entry GROUP BY posting_id) e ON e.posting_id = p.id
LEFT JOIN (SELECT posting_id, SUM(points) AS total FROM lot GROUP BY posting_id) l ON l.posting_id = p.id
LEFT JOIN (SELECT posting_id, SUM(points) AS total FROM lot_consumption GROUP BY posting_id) c ON c.posting_id = p.id
WHERE COALESCE(e.total, 0) <> 0
   OR (p.points <> 0 AND COALESCE(e.n, 0) = 0)
   OR (p.kind = 'earn' AND COALESCE(l.total, 0) <> p.points)
   OR (p.kind = 'redeem' AND COALESCE(c.total, 0) <> -p.points)
"""


async def read_ledger(dsn: str) -> Ledger:
    conn = await asyncpg.connect(dsn, timeout=30)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            postings = await conn.fetch(
                "SELECT id, member_id, kind, points, balance_after, idempotency_scope, idempotency_key FROM posting"
            )
            failures = await conn.fetch("SELECT idempotency_scope, idempotency_key, code FROM idempotency_failure")
            duplicates = await conn.fetch(
                "SELECT idempotency_key, COUNT(*) AS n FROM ("
                "  SELECT idempotency_key FROM posting UNION ALL SELECT idempotency_key FROM idempotency_failure"
                ") AS k GROUP BY idempotency_key HAVING COUNT(*) > 1"
            )
            incomplete = await conn.fetch(POSTING_INTEGRITY)
            misbalanced = await running_balance_mismatches(conn)
    finally:
        await conn.close()
    return Ledger(
        {(r["idempotency_scope"], r["idempotency_key"]): r for r in postings},
        {(r["idempotency_scope"], r["idempotency_key"]): r for r in failures},
        list(duplicates),
        list(incomplete),
        misbalanced,
    )


async def sessions_gone(dsn: str) -> int:
    """Wait until PostgreSQL has ended the killed gateway's sessions (rolling back what they had
    open), so the ledger read next is final; the number still open after the timeout."""
    conn = await asyncpg.connect(dsn, timeout=30)
    try:
        deadline = time.monotonic() + SESSION_TIMEOUT
        while True:
            others = await conn.fetchval(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if others == 0 or time.monotonic() > deadline:
                return int(others)
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


def same_posting(answer: dict[str, Any], row: asyncpg.Record) -> bool:
    return (posting_db_id(answer["id"]), answer["points"], answer["balanceAfter"]) == (row["id"], row["points"], row["balance_after"])


async def check_replay(http: httpx.AsyncClient, url: str, request: Request, ledger: Ledger, problems: list[str]) -> str:
    """Replay an acknowledged request; it must answer exactly as the first time. The tally label."""
    assert request.outcome is not None
    again = await send(http, url, request)
    first = request.outcome
    if first.kind == "ok":
        posting, original = (again.payload or {}).get("posting"), first.payload["posting"]
        if again.kind != "ok" or posting is None:
            problems.append(f"replay of acknowledged {request.operation} {request.key}: {again!r}")
            return "mismatch"
        key = (posting["id"], posting["points"], posting["balanceAfter"])
        if key != (original["id"], original["points"], original["balanceAfter"]) or not posting["replayed"]:
            problems.append(f"replay of {request.key}: first {original}, replay {posting}")
            return "mismatch"
        return "same posting"
    if again.kind != "user_error" or again.code != first.code:
        problems.append(f"replay of refused {request.operation} {request.key} ({first.code}): {again!r}")
        return "mismatch"
    return f"same {first.code}"


async def check_cut_off(http: httpx.AsyncClient, url: str, request: Request, ledger: Ledger, problems: list[str]) -> str:
    """A request the kill cut off: wholly there (its replay returns it) or wholly absent (its replay
    performs it, once). The tally label."""
    row = ledger.postings.get((request.scope, request.key))
    failure = ledger.failures.get((request.scope, request.key))
    answer = await send(http, url, request)
    if row is not None:
        posting = (answer.payload or {}).get("posting")
        if answer.kind != "ok" or posting is None or not posting["replayed"] or not same_posting(posting, row):
            problems.append(f"cut-off {request.operation} {request.key} is in the ledger as {dict(row)}; replay: {answer!r}")
            return "mismatch"
        return "was in the ledger; replay returned it"
    if failure is not None:
        if answer.kind != "user_error" or answer.code != failure["code"]:
            problems.append(f"cut-off {request.operation} {request.key} failed as {failure['code']}; replay: {answer!r}")
            return "mismatch"
        return f"was remembered as {failure['code']}; replay refused it again"
    # Absent: the replay performs it now, and a second replay answers the same.
    if answer.kind == "ok" and answer.payload.get("posting") and not answer.payload["posting"]["replayed"]:
        label = "was absent; replay performed it"
    elif answer.kind == "user_error" and request.operation == "redeem" and answer.code == "INSUFFICIENT_POINTS":
        label = "was absent; replay refused it (INSUFFICIENT_POINTS)"
    else:
        problems.append(f"cut-off {request.operation} {request.key} was absent; replay: {answer!r}")
        return "mismatch"
    verdict = await check_replay(http, url, replace(request, outcome=answer), ledger, problems)
    return label if verdict != "mismatch" else "mismatch"


def report(
    sent: list[Request], tally: Counter[str], verify: list[int], elapsed: float, exit_code: int | None, in_flight: int
) -> str:
    acknowledged = Counter(
        f"{r.operation}: {r.outcome.label}" for r in sent if r.acknowledged and r.outcome is not None
    )
    cut = Counter(f"{r.outcome.detail}" for r in sent if r.outcome is not None and r.outcome.kind == "transport")
    lines = [
        "",
        (
            f"=== Crash test: {CLIENTS} clients, {MEMBERS} members, SIGKILL after {elapsed:.1f} s of load "
            f"(exit {exit_code}), seed {SEED} ==="
        ),
        (
            f"  requests sent: {len(sent)}; acknowledged: {sum(acknowledged.values())} "
            f"({', '.join(f'{k} {n}' for k, n in sorted(acknowledged.items()))})"
        ),
        (
            f"  in flight at the kill: {in_flight}; unacknowledged: {sum(cut.values())} "
            f"({', '.join(f'{k} {n}' for k, n in sorted(cut.items())) or 'none'})"
        ),
    ]
    lines.extend(f"    {label}: {n}" for label, n in sorted(tally.items()))
    lines.append(f"  atrium ledger verify: exit {verify[0]} after the restart, exit {verify[1]} after the replays")
    return "\n".join(lines)


async def test_crash_a_killed_gateway_loses_no_acknowledged_mutation_and_half_writes_nothing(
    system_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = server_env(system_db)
    settings = client_settings(system_db)
    tokens = {fmt: token(settings, "service", format=fmt) for fmt in ("retail", "dining")}
    admin = token(settings, "admin")
    server = GatewayServer("crash", env, tmp_path)
    try:
        await start_all(server)
        url = server.url
        members: list[str] = []
        sent: list[Request] = []
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
            for n in range(MEMBERS):
                outcome = await mutate(http, url, admin, "enrol", ENROL, {"identity": {"kind": "EMAIL", "value": f"crash-{n}@example.com"}})
                assert outcome.kind == "ok", outcome
                members.append(outcome.payload["member"]["id"])
            # A starting balance, so redemptions succeed from the first second.
            rng = random.Random(SEED)
            for n, member in enumerate(members):
                request = keyed_request(rng, tokens, member, f"crash-{SEED}-seed-{n}", 0.0)
                request.outcome = await send(http, url, request)
                assert request.outcome.kind == "ok", request.outcome
                sent.append(request)

        killed = asyncio.Event()
        started = time.monotonic()
        clients = asyncio.gather(*(client(n, url, tokens, members, sent, killed) for n in range(CLIENTS)))
        await asyncio.sleep(LOAD_SECONDS)
        elapsed = time.monotonic() - started
        in_flight_at_kill = sum(1 for r in sent if r.outcome is None)
        server.kill()
        killed.set()
        await asyncio.wait_for(clients, timeout=REQUEST_TIMEOUT + 30)
        exit_code = server.process.returncode if server.process else None

        problems = [f"{r.operation} {r.key} answered {r.outcome!r}" for r in sent if r.outcome is None or r.outcome.kind in ("http", "graphql")]
        lingering = await sessions_gone(asyncpg_dsn(system_db))
        if lingering:
            problems.append(f"{lingering} database sessions of the killed gateway were still open after {SESSION_TIMEOUT:.0f} s")

        await start_all(server)
        verify = [(await asyncio.to_thread(atrium, env, tmp_path, "ledger", "verify")).returncode]
        ledger = await read_ledger(asyncpg_dsn(system_db))

        # Acknowledged answers against the ledger: each exactly once, as told.
        ours = {(r.scope, r.key) for r in sent}
        for request in sent:
            if not request.acknowledged:
                continue
            assert request.outcome is not None
            row = ledger.postings.get((request.scope, request.key))
            if request.outcome.kind == "ok":
                if row is None or not same_posting(request.outcome.payload["posting"], row):
                    problems.append(f"acknowledged {request.operation} {request.key} {request.outcome.payload['posting']} is in the ledger as {row and dict(row)}")
            else:
                failure = ledger.failures.get((request.scope, request.key))
                if row is not None or failure is None or failure["code"] != request.outcome.code:
                    problems.append(f"refused {request.operation} {request.key} ({request.outcome.code}): posting {row and dict(row)}, failure {failure and dict(failure)}")
        problems += [f"key {r['idempotency_key']} is held {r['n']} times" for r in ledger.duplicates]
        problems += [f"posting {dict(r)} is incomplete (entries, lots or consumption)" for r in ledger.incomplete]
        problems += ledger.misbalanced
        problems += [f"posting {dict(row)} matches no request the clients sent" for key, row in ledger.postings.items() if key not in ours]

        tally: Counter[str] = Counter()
        semaphore = asyncio.Semaphore(REPLAY_CONCURRENCY)

        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:

            async def replay(request: Request) -> None:
                async with semaphore:
                    if request.acknowledged:
                        tally[f"replay of acknowledged: {await check_replay(http, url, request, ledger, problems)}"] += 1
                    else:
                        tally[f"cut off, {await check_cut_off(http, url, request, ledger, problems)}"] += 1

            await asyncio.gather(*(replay(request) for request in sent if request.outcome is None or request.outcome.kind != "http"))

        verify.append((await asyncio.to_thread(atrium, env, tmp_path, "ledger", "verify")).returncode)
        after = await read_ledger(asyncpg_dsn(system_db))
        problems += [f"after the replays: key {r['idempotency_key']} is held {r['n']} times" for r in after.duplicates]
        problems += [f"after the replays: posting {dict(r)} is incomplete" for r in after.incomplete]
        problems += [f"after the replays: {line}" for line in after.misbalanced]
        if verify != [0, 0]:
            result = await asyncio.to_thread(atrium, env, tmp_path, "ledger", "verify")
            problems.append(f"atrium ledger verify exited {verify}:\n{result.stdout}{result.stderr}")
        if not server.alive():
            problems.append(f"the restarted gateway died:\n{server.log_tail()}")

        with capsys.disabled():
            print(report(sent, tally, verify, elapsed, exit_code, in_flight_at_kill))
            for line in problems[:15]:
                print(f"    problem: {line}")

        assert exit_code == -9, f"the gateway was not killed by SIGKILL (exit {exit_code})"
        assert any(r.acknowledged and r.outcome and r.outcome.kind == "ok" for r in sent[MEMBERS:]), "nothing was acknowledged under load"
        assert not problems, f"{len(problems)} problems, first ones:\n" + "\n".join(problems[:15])
    finally:
        server.stop()
