"""``atrium ledger verify`` on a large ledger: how long it takes, and the most memory Python holds meanwhile.

The script writes a synthetic, sound ledger straight into a migrated database (SQL bulk inserts,
not the services: millions of earns through the API would take hours): ``--members`` members each
with an equal share of ``--postings`` earns of 10 points (one lot each, double entries, a running
``balance_after``), every tenth earn carrying a 2-point campaign line counted by one campaign's
budget. Then it times :func:`gateway.ledger.verify.verify_ledger` and reports the peak of Python
allocations (``tracemalloc``) during it, which must not grow with the number of postings.

    .venv/bin/python bench/verify_scale.py --database sqlite --postings 200000
    .venv/bin/python bench/verify_scale.py --database postgres --postings 200000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from gateway.ledger.verify import verify_ledger
from gateway.persistence.campaign_tables import campaign_budget_table, campaign_table
from gateway.persistence.database import Database
from gateway.persistence.migrate import upgrade
from gateway.persistence.models import (
    WALLET,
    entry_table,
    lot_table,
    member_table,
    posting_table,
)

CHUNK = 5000


def _campaign(now: datetime) -> dict[str, object]:
    return {
        "code": "bench", "name": "Bench", "starts_at": now, "ends_at": now + timedelta(days=30), "formats": [], "min_tier": None,
        "tiers": [], "activity_kinds": [], "days_of_month": [], "weekdays": [], "birthday_month": False, "min_amount_minor": None,
        "multiplier": Decimal("1"), "fixed_bonus": 2, "cross_format_bonus": 0, "member_limit": None, "member_limit_period": None,
        "stacking": "stackable", "priority": 0, "created_at": now, "updated_at": now,
    }


async def fill(db: Database, members: int, postings: int) -> None:
    """Write a sound ledger of ``postings`` earns over ``members`` members (ids 1..members)."""
    now = datetime(2026, 12, 1, tzinfo=UTC)
    per_member = postings // members
    async with db.write() as conn:
        await conn.execute(
            insert(member_table),
            [{"id": m, "status": "active", "tier_code": "member", "growth_value": 0, "points_balance": 10 * per_member, "enrolled_at": now} for m in range(1, members + 1)],
        )
        await conn.execute(insert(campaign_table).values(**_campaign(now)))
        awarded = sum(2 for n in range(per_member) if n % 10 == 0) * members
        await conn.execute(insert(campaign_budget_table).values(campaign_code="bench", cap=None, issued=awarded))
    posting_id = 0
    rows = [(m, n) for m in range(1, members + 1) for n in range(per_member)]
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        postings_rows, entries, lots = [], [], []
        for member_id, n in chunk:
            posting_id += 1
            lines = [{"rule": "retail.base", "points": 10, "growth": 0, "reason": "bench"}]
            if n % 10 == 0:
                lines = [{"rule": "retail.base", "points": 8, "growth": 0, "reason": "bench"},
                         {"rule": "campaign.bench", "points": 2, "growth": 0, "reason": "bench"}]
            postings_rows.append({
                "id": posting_id, "member_id": member_id, "kind": "earn", "format": "retail", "idempotency_scope": "bench",
                "idempotency_key": str(posting_id), "request_hash": "x", "points": 10, "growth": 0, "balance_after": 10 * (n + 1),
                "tier_before": "member", "tier_after": "member", "reason": "bench", "lines": lines, "details": {},
                "occurred_at": now, "created_at": now,
            })
            entries += [
                {"posting_id": posting_id, "account": WALLET, "member_id": member_id, "amount": 10},
                {"posting_id": posting_id, "account": "retail.issuance", "member_id": None, "amount": -10},
            ]
            lots.append({
                "member_id": member_id, "posting_id": posting_id, "format": "retail", "points": 10, "remaining": 10, "earned_at": now,
                "available_at": now, "expires_at": now + timedelta(days=700), "pending": False,
            })
        async with db.write() as conn:
            await conn.execute(insert(posting_table), postings_rows)
            await conn.execute(insert(entry_table), entries)
            await conn.execute(insert(lot_table), lots)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postings", type=int, default=200_000)
    parser.add_argument("--members", type=int, default=2000)
    args = parser.parse_args()
    if args.database == "postgres":
        admin = os.environ.get("ATRIUM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
        name = f"atrium_bench_verify_{os.getpid()}"
        dsn = make_url(admin).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    try:
        await asyncio.to_thread(upgrade, url)
        db = Database(url)
        started = time.perf_counter()
        await fill(db, args.members, args.postings)
        print(f"database={args.database} postings={args.postings} members={args.members} (filled in {time.perf_counter() - started:.1f}s)")
        tracemalloc.start()
        started = time.perf_counter()
        async with db.read() as conn:
            problems = await verify_ledger(conn)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"verify: {elapsed:.2f}s, peak Python memory {peak / 1e6:.1f} MB, {'ok' if not problems else problems[:3]}")
        await db.dispose()
    finally:
        if args.database == "postgres":
            conn = await asyncpg.connect(dsn)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
