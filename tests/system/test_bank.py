"""The bank test: two gateway processes, concurrent tills and readers, one PostgreSQL ledger.

Two ``uvicorn`` processes serve one fresh database. Eight writer clients, each sending its
requests to the two servers in turn, record retail purchases and dining bills, redeem rewards
(``INSUFFICIENT_POINTS`` is an expected answer), replay earlier keys and, when the schema has a
``refundActivity`` mutation, refund earlier purchases. Two reader clients meanwhile take
read-only snapshots of the database (the entries of all accounts sum to zero, every posting
balances, every stored balance equals its entries) and read every member's balance through
GraphQL (never negative). At the end ``atrium ledger verify`` passes, every acknowledged posting
is in the ledger with the points the client was told, and the balances add up.

``ATRIUM_BANK_SECONDS`` sets the duration of the load (default 60; CI uses the default) and
``ATRIUM_BANK_SEED`` the random seed. Figures are printed to the terminal for the report.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.http.graphql import ENROL, REDEEM, RETAIL_PURCHASE
from tests.system.ledger import running_balance_mismatches
from tests.system.refunds import REFUND_FIELD, Refundable, RefundPlan, plan_refund
from tests.system.servers import (
    GatewayServer,
    Outcome,
    asyncpg_dsn,
    atrium,
    client_settings,
    mutate,
    post_graphql,
    posting_db_id,
    server_env,
    start_all,
    stop_all,
    token,
)
from tests.system.traffic import DINING_BILL, dining_input, retail_input

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

BANK_SECONDS = float(os.environ.get("ATRIUM_BANK_SECONDS", "60"))
SEED = int(os.environ.get("ATRIUM_BANK_SEED", "20261122"))
WRITERS = 8
READERS = 2
MEMBERS = 20
MAX_OPS_PER_WRITER = 20_000
MAX_READS_PER_READER = 20_000
BALANCE_BATCH = 10
"""Members read per GraphQL request (aliased ``node`` fields; the alias limit is 15)."""
REQUEST_TIMEOUT = 60.0
GRACE = 300.0
"""Seconds past the load's end before the run is called stuck (a request hangs, a server stalls)."""

EXPECTED_CODES = {
    "earn retail": frozenset(),
    "earn dining": frozenset(),
    "redeem": frozenset({"INSUFFICIENT_POINTS"}),
}
UNEXPECTED_REFUND_CODES = frozenset(
    {
        "INVALID_INPUT",
        "INVALID_AMOUNT",
        "UNSUPPORTED_CURRENCY",
        "UNKNOWN_FORMAT",
        "INVALID_IDEMPOTENCY_KEY",
        "IDEMPOTENCY_KEY_REUSED",
        "PLUGIN_FAILED",
        "FORBIDDEN",
        "UNAUTHENTICATED",
        "MEMBER_NOT_FOUND",
        "POSTING_NOT_FOUND",
        "REFUND_EXCEEDS_ACTIVITY",
    }
)
"""Refund answers that mean the test or the gateway is wrong (the writers never refund more than
is left of a purchase); other codes are business refusals and are counted, not failed."""


def balances_query(count: int) -> str:
    """Read ``count`` members' balances in one request: ``m0: node(id: $m0) { ... }``."""
    variables = ", ".join(f"$m{i}: ID!" for i in range(count))
    fields = " ".join(f"m{i}: node(id: $m{i}) {{ ... on Member {{ pointsBalance pendingPoints }} }}" for i in range(count))
    return f"query Balances({variables}) {{ {fields} }}"


@dataclass
class Sent:
    """An acknowledged request and its answer, for replaying the key later."""

    field: str
    document: str
    bearer: str
    variables: dict[str, Any]
    posting: dict[str, Any] | None = None
    code: str | None = None


@dataclass
class Bank:
    """What every client shares: the servers, the members, the tallies and what went wrong."""

    urls: list[str]
    members: list[str]
    tokens: dict[str, str]
    dsn: str
    deadline: float
    refund: RefundPlan | None
    tally: Counter[tuple[str, str]] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    acknowledged: dict[int, tuple[str, int]] = field(default_factory=dict)
    """``posting.id`` -> (operation, points) of every posting a client was told about."""
    reads: Counter[str] = field(default_factory=Counter)
    max_entries: int = 0

    def violation(self, message: str) -> None:
        self.violations.append(message)

    def running(self, count: int, limit: int) -> bool:
        return count < limit and time.monotonic() < self.deadline


# --- writers -------------------------------------------------------------------------------------


def check_fresh(bank: Bank, operation: str, outcome: Outcome) -> None:
    """Checks on the answer to a fresh key: a new posting, never a replay, never a negative balance."""
    posting = outcome.payload.get("posting")
    if posting is None:
        if operation.startswith(("earn", "redeem")):
            bank.violation(f"{operation}: acknowledged without a posting: {outcome.payload}")
        return
    if posting.get("replayed"):
        bank.violation(f"{operation}: a fresh key was answered as a replay: {posting}")
    posting_id = posting_db_id(posting["id"])
    if posting_id in bank.acknowledged:
        bank.violation(f"{operation}: posting {posting_id} was already returned for another key ({bank.acknowledged[posting_id]})")
    bank.acknowledged[posting_id] = (operation, int(posting["points"]))
    if posting.get("balanceAfter", 0) < 0:
        bank.violation(f"{operation}: negative balance after posting {posting_id}: {posting}")
    member = outcome.payload.get("member")
    if member is not None and member["pointsBalance"] < 0:
        bank.violation(f"{operation}: member read back with a negative balance: {member}")


def check_replay(bank: Bank, sent: Sent, outcome: Outcome) -> str:
    """Compare a replay with the original answer; the tally label."""
    if sent.posting is not None:
        if outcome.kind != "ok" or outcome.payload.get("posting") is None:
            bank.violation(f"replay of {sent.field} {sent.variables}: expected posting {sent.posting['id']}, got {outcome!r}")
            return f"mismatch ({outcome.label})"
        again, first = outcome.payload["posting"], sent.posting
        same = (again["id"], again["points"], again["balanceAfter"]) == (first["id"], first["points"], first["balanceAfter"])
        if not (same and again["replayed"]):
            bank.violation(f"replay of {sent.field}: first {first}, replay {again}")
            return "mismatch"
        return "ok, same posting"
    if outcome.kind != "user_error" or outcome.code != sent.code:
        bank.violation(f"replay of failed {sent.field} ({sent.code}) {sent.variables}: got {outcome!r}")
        return f"mismatch ({outcome.label})"
    return f"same failure {sent.code}"


async def writer(bank: Bank, number: int) -> None:
    """Random earns, redemptions, replays and refunds until the deadline, alternating servers."""
    rng = random.Random(SEED * 100 + number)
    history: list[Sent] = []
    refundable: list[Refundable] = []
    count = 0
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
        while bank.running(count, MAX_OPS_PER_WRITER):
            url = bank.urls[count % len(bank.urls)]
            key = f"bank-{SEED}-w{number}-{count}"
            count += 1
            member = rng.choice(bank.members)
            roll = rng.random()
            if roll >= 0.93 and bank.refund is not None and refundable:
                await refund(bank, http, url, key, refundable.pop(rng.randrange(len(refundable))), rng, history, refundable)
                continue
            if 0.85 <= roll < 0.93 and history:
                sent = rng.choice(history)
                outcome = await mutate(http, url, sent.bearer, sent.field, sent.document, sent.variables)
                bank.tally[("replay", check_replay(bank, sent, outcome))] += 1
                continue
            if roll < 0.35 or roll >= 0.85:
                operation, fmt, fld, document = "earn retail", "retail", "recordRetailPurchase", RETAIL_PURCHASE
                activity, amount = retail_input(rng)
                variables: dict[str, Any] = {"member": {"id": member}, "key": key, "input": activity}
            elif roll < 0.55:
                operation, fmt, fld, document = "earn dining", "dining", "recordDiningBill", DINING_BILL
                activity, amount = dining_input(rng)
                variables = {"member": {"id": member}, "key": key, "input": activity}
            else:
                operation, fld, document = "redeem", "redeem", REDEEM
                fmt, reward, quantity = rng.choice([("dining", "dessert_voucher", 1), ("dining", "dessert_voucher", 2), ("retail", "voucher_10", 1)])
                variables = {"input": {"format": fmt, "reward": reward, "quantity": quantity, "idempotencyKey": key, "member": {"id": member}}}
            bearer = bank.tokens[fmt]
            outcome = await mutate(http, url, bearer, fld, document, variables)
            bank.tally[(operation, outcome.label)] += 1
            if outcome.kind == "ok":
                check_fresh(bank, operation, outcome)
                history.append(Sent(fld, document, bearer, variables, posting=outcome.payload["posting"]))
                if operation.startswith("earn"):
                    refundable.append(Refundable(fmt, member, outcome.payload["posting"]["id"], amount))
            elif outcome.kind == "user_error" and outcome.code in EXPECTED_CODES[operation]:
                history.append(Sent(fld, document, bearer, variables, code=outcome.code))
            else:
                bank.violation(f"{operation} via {url}: {outcome!r} for {variables}")


async def refund(
    bank: Bank,
    http: httpx.AsyncClient,
    url: str,
    key: str,
    earned: Refundable,
    rng: random.Random,
    history: list[Sent],
    refundable: list[Refundable],
) -> None:
    """Refund an earlier purchase: all that is left of it, or half (then the rest stays refundable)."""
    plan = bank.refund
    assert plan is not None
    call = plan.build(earned, key, rng.random() < 0.5)
    operation = "refund partial" if call.partial else "refund full"
    bearer = bank.tokens[earned.format]
    outcome = await mutate(http, url, bearer, REFUND_FIELD, plan.document, call.variables)
    bank.tally[(operation, outcome.label)] += 1
    if outcome.kind == "ok":
        check_fresh(bank, operation, outcome)
        if call.partial:
            refundable.append(replace(earned, amount=earned.amount - call.refunded))
        if plan.selects_posting and outcome.payload.get("posting"):
            history.append(Sent(REFUND_FIELD, plan.document, bearer, call.variables, posting=outcome.payload["posting"]))
    elif outcome.kind == "user_error" and outcome.code not in UNEXPECTED_REFUND_CODES:
        history.append(Sent(REFUND_FIELD, plan.document, bearer, call.variables, code=outcome.code))
    else:
        bank.violation(f"{operation} via {url}: {outcome!r} for {call.variables}")


# --- readers -------------------------------------------------------------------------------------

MEMBER_CACHE_MISMATCHES = """
SELECT m.id, m.points_balance, m.pending_balance, m.held_balance,
       COALESCE(SUM(e.amount) FILTER (WHERE e.account = 'member.wallet'), 0) AS wallet,
       COALESCE(SUM(e.amount) FILTER (WHERE e.account = 'member.pending'), 0) AS pending,
       COALESCE(SUM(e.amount) FILTER (WHERE e.account = 'member.held'), 0) AS held
FROM member m LEFT JOIN entry e ON e.member_id = m.id
GROUP BY m.id
HAVING m.points_balance < 0 OR m.pending_balance < 0 OR m.held_balance < 0
    OR m.points_balance <> COALESCE(SUM(e.amount) FILTER (WHERE e.account = 'member.wallet'), 0)
    OR m.pending_balance <> COALESCE(SUM(e.amount) FILTER (WHERE e.account = 'member.pending'), 0)
    OR m.held_balance <> COALESCE(SUM(e.amount) FILTER (WHERE e.account = 'member.held'), 0)
LIMIT 5
"""


async def snapshot(bank: Bank, conn: asyncpg.Connection) -> None:
    """One read-only, repeatable-read snapshot of the ledger; every check in one view of it."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        total, entries = await conn.fetchrow("SELECT COALESCE(SUM(amount), 0), COUNT(*) FROM entry")
        unbalanced = await conn.fetch(
            "SELECT posting_id, SUM(amount) AS total FROM entry GROUP BY posting_id HAVING SUM(amount) <> 0 LIMIT 5"
        )
        bare = await conn.fetch(
            "SELECT p.id, p.kind, p.points FROM posting p "
            "WHERE p.points <> 0 AND NOT EXISTS (SELECT 1 FROM entry e WHERE e.posting_id = p.id) LIMIT 5"
        )
        caches = await conn.fetch(MEMBER_CACHE_MISMATCHES)
    bank.reads["SQL snapshots"] += 1
    bank.max_entries = max(bank.max_entries, int(entries))
    if total != 0:
        bank.violation(f"snapshot: the entries of all accounts sum to {total}, not 0 ({entries} entries)")
    for row in unbalanced:
        bank.violation(f"snapshot: posting {row['posting_id']} sums to {row['total']}, not 0")
    for row in bare:
        bank.violation(f"snapshot: posting {row['id']} ({row['kind']}, {row['points']} pts) has no entries")
    for row in caches:
        bank.violation(f"snapshot: member {row['id']} stored/entries differ or negative: {dict(row)}")


async def read_balances(bank: Bank, http: httpx.AsyncClient, first: int, bearer: str) -> dict[str, int]:
    """Every member's balance through GraphQL, in batches sent to the servers in turn."""
    balances: dict[str, int] = {}
    for index, start in enumerate(range(0, len(bank.members), BALANCE_BATCH)):
        batch = bank.members[start : start + BALANCE_BATCH]
        url = bank.urls[(first + index) % len(bank.urls)]
        kind, data = await post_graphql(http, url, bearer, balances_query(len(batch)), {f"m{i}": m for i, m in enumerate(batch)})
        if kind != "ok":
            bank.violation(f"balance read via {url}: {kind} {str(data)[:300]}")
            continue
        for i, member in enumerate(batch):
            node = data[f"m{i}"]
            if node is None or node["pointsBalance"] < 0 or node["pendingPoints"] < 0:
                bank.violation(f"balance read via {url}: member {member} reads {node}")
            else:
                balances[member] = int(node["pointsBalance"])
    return balances


async def reader(bank: Bank, number: int) -> None:
    """Snapshots of the database and GraphQL balance reads until the deadline."""
    conn = await asyncpg.connect(bank.dsn, timeout=30)
    try:
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
            count = 0
            while bank.running(count, MAX_READS_PER_READER):
                await snapshot(bank, conn)
                await read_balances(bank, http, count + number, bank.tokens["reader"])
                bank.reads["GraphQL balance reads"] += 1
                count += 1
                await asyncio.sleep(0.02)
    finally:
        await conn.close()


# --- the test ------------------------------------------------------------------------------------


async def enrol_members(url: str, bearer: str) -> list[str]:
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
        members = []
        for n in range(MEMBERS):
            identity = {"kind": "EMAIL", "value": f"bank-{n}@example.com"}
            outcome = await mutate(http, url, bearer, "enrol", ENROL, {"identity": identity})
            assert outcome.kind == "ok", outcome
            members.append(outcome.payload["member"]["id"])
        return members


def report(bank: Bank, elapsed: float, refund_note: str, end: dict[str, Any]) -> str:
    operations = sum(n for (op, _), n in bank.tally.items())
    lines = [
        "",
        (
            f"=== Bank test: 2 gateway processes, {WRITERS} writers + {READERS} readers, {MEMBERS} members, "
            f"{elapsed:.1f} s of load (ATRIUM_BANK_SECONDS={BANK_SECONDS:g}, seed {SEED}) ==="
        ),
        f"  writes: {operations} requests ({operations / max(elapsed, 0.001):.0f}/s)",
    ]
    for operation in sorted({op for op, _ in bank.tally}):
        outcomes = ", ".join(f"{label} {n}" for (op, label), n in sorted(bank.tally.items()) if op == operation)
        lines.append(f"    {operation}: {outcomes}")
    lines.append(f"  refunds: {refund_note}")
    lines.append(
        f"  reads: {bank.reads['SQL snapshots']} SQL snapshots (each: all accounts sum to 0, every posting balances, "
        f"stored balances = entries; up to {bank.max_entries} entries), {bank.reads['GraphQL balance reads']} GraphQL reads "
        f"of all {MEMBERS} balances"
    )
    lines.append(
        f"  end: {end['postings']} postings, {end['entries']} entries, {end['failures']} remembered failures; "
        f"wallets hold {end['wallets']} pts (GraphQL sum {end['graphql']}); atrium ledger verify exit {end['verify']}"
    )
    lines.append(f"  violations: {len(bank.violations)}")
    lines.extend(f"    {v}" for v in bank.violations[:15])
    return "\n".join(lines)


async def test_bank_two_gateways_under_concurrent_load_keep_the_ledger_balanced(
    system_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = server_env(system_db)
    settings = client_settings(system_db)
    servers = [GatewayServer("bank-a", env, tmp_path), GatewayServer("bank-b", env, tmp_path)]
    try:
        await start_all(*servers)
        urls = [server.url for server in servers]
        tokens = {fmt: token(settings, "service", format=fmt) for fmt in ("retail", "dining", "property")}
        tokens["admin"] = token(settings, "admin")
        tokens["reader"] = tokens["property"]
        members = await enrol_members(urls[0], tokens["admin"])
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
            plan = await plan_refund(http, urls[1], tokens["admin"])
        refund_plan = plan if isinstance(plan, RefundPlan) else None
        refund_note = f"via {plan.signature}" if isinstance(plan, RefundPlan) else f"not exercised: {plan}"

        started = time.monotonic()
        bank = Bank(urls, members, tokens, asyncpg_dsn(system_db), started + BANK_SECONDS, refund_plan)
        clients = [writer(bank, n) for n in range(WRITERS)] + [reader(bank, n) for n in range(READERS)]
        await asyncio.wait_for(asyncio.gather(*clients), timeout=BANK_SECONDS + GRACE)
        elapsed = time.monotonic() - started

        for server in servers:
            if not server.alive():
                bank.violation(f"gateway {server.name} died during the run:\n{server.log_tail()}")
        # The end state: one more snapshot, every acknowledged posting, the balances through both servers.
        conn = await asyncpg.connect(bank.dsn, timeout=30)
        try:
            await snapshot(bank, conn)
            rows = await conn.fetch("SELECT id, kind, points, idempotency_scope FROM posting")
            wallets = await conn.fetchval("SELECT COALESCE(SUM(amount), 0) FROM entry WHERE account = 'member.wallet'")
            stored = await conn.fetchval("SELECT COALESCE(SUM(points_balance), 0) FROM member")
            entries = await conn.fetchval("SELECT COUNT(*) FROM entry")
            failures = await conn.fetchval("SELECT COUNT(*) FROM idempotency_failure")
            for line in await running_balance_mismatches(conn):
                bank.violation(line)
        finally:
            await conn.close()
        in_ledger = {row["id"]: row for row in rows}
        for posting_id, (operation, points) in bank.acknowledged.items():
            row = in_ledger.get(posting_id)
            if row is None or row["points"] != points:
                bank.violation(f"{operation}: acknowledged posting {posting_id} ({points} pts) is in the ledger as {row}")
        for row in rows:
            if row["idempotency_scope"].startswith(("earn:", "redeem:", "refund:")) and row["id"] not in bank.acknowledged:
                bank.violation(f"posting {row['id']} ({row['kind']}, {row['points']} pts) was never acknowledged to a client")
        refused = sum(n for (op, label), n in bank.tally.items() if op == "redeem" and label == "INSUFFICIENT_POINTS")
        refund_refusals = sum(n for (op, label), n in bank.tally.items() if op.startswith("refund") and label != "ok")
        if not refused <= failures <= refused + refund_refusals:
            bank.violation(f"{refused} redemptions were refused but {failures} failed keys are remembered")
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
            sums = [sum((await read_balances(bank, http, first, tokens["reader"])).values()) for first in (0, 1)]
        if not sums[0] == sums[1] == wallets == stored:
            bank.violation(f"member balances via GraphQL {sums}, stored {stored}, wallet entries {wallets}: not all equal")

        verify = await asyncio.to_thread(atrium, env, tmp_path, "ledger", "verify")
        if verify.returncode != 0:
            bank.violation(f"atrium ledger verify exited {verify.returncode}:\n{verify.stdout}{verify.stderr}")
        end = {"postings": len(rows), "entries": entries, "failures": failures, "wallets": wallets, "graphql": sums[0], "verify": verify.returncode}
        with capsys.disabled():
            print(report(bank, elapsed, refund_note, end))

        earned = sum(n for (op, label), n in bank.tally.items() if op.startswith("earn") and label == "ok")
        assert earned > 0, "no earn succeeded"
        assert bank.reads["SQL snapshots"] > 1, "the readers took no snapshot"
        assert not bank.violations, f"{len(bank.violations)} violations, first ones:\n" + "\n".join(bank.violations[:15])
    finally:
        stop_all(*servers)
