"""Tier evaluation over 100,000 members: wall time and peak memory, against the bare aggregate query.

Seeds a fresh database with ``--members`` members (default 100,000) and about six postings each
over the last 18 months (earns in three formats, a few refunds), with the tiers a lifetime ladder
would have given them, so the evaluation has real downgrades to make. Then, each in a process
of its own (so ``ru_maxrss`` is that phase's peak):

- **baseline**: the bare aggregate a tier evaluation cannot do without, growth and distinct
  formats per member over the window, one GROUP BY streamed to the client;
- **evaluate**: :func:`gateway.tier_evaluation.evaluate_tiers` as ``atrium tiers evaluate`` runs it
  (batched aggregates, batched updates and history rows, one transaction per batch);
- **rerun**: the same evaluation again for the same date (changes nothing).

It prints each phase's wall time and peak RSS and the ratios evaluate/baseline. SQLite always;
PostgreSQL too when ``--postgres`` names an admin URL (a throwaway database is created and dropped).

    .venv/bin/python bench/tiers_evaluate.py
    .venv/bin/python bench/tiers_evaluate.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

FORMATS = ("retail", "dining", "property")


def _peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _settings(url: str) -> Any:
    from gateway.settings import Settings

    return Settings(database_url=url, plugins=list(FORMATS), _env_file=None)  # type: ignore[call-arg]


async def seed(url: str, members: int, now: datetime, seed_value: int) -> dict[str, Any]:
    """Members, postings and lifetime tiers, written in bulk (not through the earn path: this is setup)."""
    from sqlalchemy import insert, text

    from gateway.core import build_host, open_core
    from gateway.persistence.models import member_table, posting_table
    from gateway.tiers import Standing, current_ladder

    rng = random.Random(seed_value)
    core = await open_core(_settings(url), build_host(_settings(url)))
    ladder = await current_ladder(core)
    postings = 0
    chunk = 5000
    try:
        for first in range(1, members + 1, chunk):
            ids = range(first, min(first + chunk, members + 1))
            member_rows, posting_rows = [], []
            for member_id in ids:
                lifetime, used = 0, set()
                for n in range(rng.randint(1, 11)):
                    fmt = rng.choice(FORMATS)
                    growth = rng.randint(50, 2500)
                    at = now - timedelta(days=rng.uniform(0, 540))
                    refund = rng.random() < 0.03
                    lifetime += growth - (growth // 2 if refund else 0)
                    used.add(fmt)
                    posting_rows.append(_posting(member_id, f"E-{member_id}-{n}", "earn", fmt, growth, at))
                    if refund:
                        posting_rows.append(_posting(member_id, f"RF-{member_id}-{n}", "reverse", fmt, -(growth // 2), at))
                tier = ladder.reached(Standing(lifetime, len(used)))
                member_rows.append(
                    {"id": member_id, "status": "active", "tier_code": tier.code, "growth_value": lifetime, "points_balance": 0,
                     "pending_balance": 0, "held_balance": 0, "enrolled_format": "retail", "enrolled_at": now - timedelta(days=600)}
                )
            async with core.db.write() as conn:
                await conn.execute(insert(member_table), member_rows)
                await conn.execute(insert(posting_table), posting_rows)
            postings += len(posting_rows)
        async with core.db.write() as conn:  # planner statistics, as a live database has them (autovacuum, sqlite_stat1)
            await conn.execute(text("ANALYZE"))
    finally:
        await core.close()
    return {"members": members, "postings": postings}


def _posting(member_id: int, key: str, kind: str, fmt: str, growth: int, at: datetime) -> dict[str, Any]:
    return {
        "member_id": member_id, "kind": kind, "format": fmt, "idempotency_scope": f"{kind}:{fmt}", "idempotency_key": key,
        "request_hash": "0" * 64, "points": growth, "growth": growth, "balance_after": 0, "tier_before": "member",
        "tier_after": "member", "reason": "bench", "lines": [], "details": {}, "occurred_at": at, "created_at": at,
    }


async def baseline(url: str, at: datetime) -> dict[str, Any]:
    """The bare aggregate: growth and distinct earn formats per member over the window, streamed."""
    from sqlalchemy import case, func, select

    from gateway.core import build_host, open_core
    from gateway.persistence.models import posting_table as p
    from gateway.tiers import current_ladder

    core = await open_core(_settings(url), build_host(_settings(url)))
    try:
        since = (await current_ladder(core)).policy.window_start(at, core.settings.zone)
        query = (
            select(p.c.member_id, func.sum(p.c.growth), func.count(case((p.c.kind == "earn", p.c.format)).distinct()))
            .where(p.c.occurred_at >= since, p.c.occurred_at < at)
            .group_by(p.c.member_id)
        )
        started = time.perf_counter()
        rows = 0
        async with core.db.read() as conn:
            result = await conn.stream(query)
            async for _ in result:
                rows += 1
        return {"seconds": time.perf_counter() - started, "rows": rows}
    finally:
        await core.close()


async def evaluate(url: str, at: datetime) -> dict[str, Any]:
    """One evaluation run, as ``atrium tiers evaluate --at`` does it."""
    from gateway.core import build_host, open_core
    from gateway.tier_evaluation import evaluate_tiers
    from gateway.tiers import current_ladder

    core = await open_core(_settings(url), build_host(_settings(url)))
    try:
        ladder = await current_ladder(core)
        started = time.perf_counter()
        report = await evaluate_tiers(core, ladder, at=at)
        return {
            "seconds": time.perf_counter() - started, "evaluated": report.evaluated, "upgraded": report.upgraded,
            "downgraded": report.downgraded, "kept_in_grace": report.kept_in_grace, "changed": report.changed, "skipped": report.skipped,
        }
    finally:
        await core.close()


def _phase(args: argparse.Namespace) -> None:
    """Run one phase in this process and print its result as JSON (with the process's peak RSS)."""
    at = datetime.fromisoformat(args.at)
    if args.phase == "seed":
        result = asyncio.run(seed(args.url, args.members, at, args.seed))
    elif args.phase == "baseline":
        result = asyncio.run(baseline(args.url, at))
    else:
        result = asyncio.run(evaluate(args.url, at))
    result["peak_rss_mib"] = _peak_rss_mib()
    print(json.dumps(result))


def _run_phase(phase: str, url: str, members: int, at: datetime, seed_value: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--phase", phase, "--url", url, "--members", str(members), "--at", at.isoformat(), "--seed", str(seed_value)]
    started = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def bench(name: str, url: str, members: int, seed_value: int) -> None:
    """Migrate ``url``, seed it, and time the three phases."""
    from gateway.persistence.migrate import upgrade
    from gateway.tiers import TierPolicy

    upgrade(url)
    zone = _settings(url).zone
    at = TierPolicy().last_evaluation(datetime.now(UTC), zone)
    seeded = _run_phase("seed", url, members, at, seed_value)
    base = _run_phase("baseline", url, members, at, seed_value)
    first = _run_phase("evaluate", url, members, at, seed_value)
    rerun = _run_phase("evaluate", url, members, at, seed_value)
    print(f"\n== {name}: {seeded['members']:,} members, {seeded['postings']:,} postings (seeded in {seeded['process_seconds']:.0f}s); "
          f"evaluation as of {at:%Y-%m-%d}")
    print(f"baseline aggregate query : {base['seconds']:7.2f}s  peak RSS {base['peak_rss_mib']:6.1f} MiB  ({base['rows']:,} member rows)")
    print(f"atrium tiers evaluate    : {first['seconds']:7.2f}s  peak RSS {first['peak_rss_mib']:6.1f} MiB  "
          f"(evaluated {first['evaluated']:,}: {first['upgraded']:,} up, {first['downgraded']:,} down, {first['kept_in_grace']:,} in grace)")
    print(f"rerun, same date         : {rerun['seconds']:7.2f}s  peak RSS {rerun['peak_rss_mib']:6.1f} MiB  "
          f"(evaluated {rerun['evaluated']:,}, changed {rerun['changed']:,}, skipped {rerun['skipped']:,})")
    print(f"ratio evaluate/baseline  : time {first['seconds'] / base['seconds']:.2f}x, peak RSS {first['peak_rss_mib'] / base['peak_rss_mib']:.2f}x")


def main() -> None:
    """Bench SQLite, and PostgreSQL when ``--postgres`` is given (or run one phase, in a child process)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", help="PostgreSQL admin URL: also run on a throwaway database there.")
    parser.add_argument("--phase", choices=["seed", "baseline", "evaluate"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--at", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        _phase(args)
        return
    with tempfile.TemporaryDirectory() as folder:
        bench("SQLite", f"sqlite+aiosqlite:///{Path(folder) / 'tiers.db'}", args.members, args.seed)
    if args.postgres:
        import asyncpg
        from sqlalchemy.engine import make_url

        name = f"atrium_bench_tiers_{os.getpid()}"
        dsn = make_url(args.postgres).set(drivername="postgresql").render_as_string(hide_password=False)

        async def admin(statement: str) -> None:
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(statement)
            finally:
                await conn.close()

        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
        try:
            bench("PostgreSQL", make_url(args.postgres).set(database=name).render_as_string(hide_password=False), args.members, args.seed)
        finally:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
