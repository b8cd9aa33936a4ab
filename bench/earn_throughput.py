"""Earn throughput: Atrium's full posting path against a bare guarded write, in the same run.

The baseline is the least a loyalty write can do on the same database and driver: one guarded
balance UPDATE plus one ledger INSERT in a transaction, through SQLAlchemy Core. Atrium's earn adds
idempotency, plugin earn rules, tier maths, double entries and a lot. The script prints both rates
and their ratio.

    .venv/bin/python bench/earn_throughput.py --database postgres --seconds 10 --concurrency 16
    .venv/bin/python bench/earn_throughput.py --database sqlite
    .venv/bin/python bench/earn_throughput.py --database sqlite --upgrade-in-reach

An earn reads the member's growth over the tier window only when an upgrade is in reach (its
growth value after the earn meets a higher tier's threshold, see ``gateway.tier_upgrade``); the
bench's members start at 0, so by default no earn needs that read. ``--upgrade-in-reach`` first
gives every member a sale older than the window worth more than Silver's threshold: every earn of
the run then reads the window (and stays below Silver), the cost for long-standing members.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
from atrium_retail.inputs import RetailLineItemInput, RetailPurchaseInput
from dateutil.relativedelta import relativedelta
from sqlalchemy import Column, Integer, MetaData, Table, insert, update
from sqlalchemy.engine import make_url

from gateway.core import build_host, open_core
from gateway.identity import IdentityKey, IdentityKind, enrol
from gateway.ledger.earn import ActivityRequest, record_activity
from gateway.ledger.postings import MemberRef
from gateway.persistence.migrate import upgrade
from gateway.settings import Settings
from gateway.tiers import current_ladder

baseline_meta = MetaData()
wallet = Table("bench_wallet", baseline_meta, Column("id", Integer, primary_key=True), Column("balance", Integer, nullable=False))
ledger = Table(
    "bench_ledger",
    baseline_meta,
    Column("id", Integer, primary_key=True),
    Column("wallet_id", Integer, nullable=False),
    Column("amount", Integer, nullable=False),
)


async def run_for(seconds: float, concurrency: int, operation: Callable[[int, int], Awaitable[None]]) -> int:
    """Run ``operation(worker, n)`` in ``concurrency`` loops for ``seconds``; the number completed."""
    deadline = time.perf_counter() + seconds
    done = [0] * concurrency

    async def worker(index: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            await operation(index, n)
            n += 1
        done[index] = n

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return sum(done)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--members", type=int, default=64, help="Members the earns are spread over.")
    parser.add_argument(
        "--upgrade-in-reach", action="store_true", help="Start members with old growth value above Silver's threshold: every earn reads the window."
    )
    args = parser.parse_args()

    if args.database == "postgres":
        admin = os.environ.get("ATRIUM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
        name = f"atrium_bench_{os.getpid()}"
        dsn = make_url(admin).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"

    try:
        await asyncio.to_thread(upgrade, url)
        settings = Settings(database_url=url, database_pool_size=args.concurrency, plugins=["retail"], _env_file=None)  # type: ignore[call-arg]
        host = build_host(settings)
        core = await open_core(settings, host)
        member_ids = []
        now = datetime.now(UTC)
        for n in range(args.members):
            member_ids.append(
                await enrol(core.db, identity=IdentityKey(IdentityKind.EMAIL, f"bench{n}@example.com"), ladder=await current_ladder(core), enrolled_format="retail", now=now)
            )
        if args.upgrade_in_reach:
            ladder = await current_ladder(core)
            old = ladder.rules[1].threshold + 500
            for n, member_id in enumerate(member_ids):
                receipt = RetailPurchaseInput(
                    store_code="BENCH",
                    currency="CNY",
                    purchased_at=now - relativedelta(months=ladder.policy.window_months + 1),
                    items=[RetailLineItemInput(sku="OLD", category="grocery", quantity=1, unit_price=Decimal(old), line_discount=Decimal("0"))],
                )
                await record_activity(core, ActivityRequest(MemberRef(member_id=member_id), "retail", "purchase", f"OLD-{n}", receipt), now=now)
        async with core.db.write() as conn:
            await conn.run_sync(baseline_meta.create_all)
            await conn.execute(insert(wallet), [{"id": n, "balance": 0} for n in range(args.members)])

        async def baseline(worker: int, n: int) -> None:
            wallet_id = (worker * 7919 + n) % args.members
            async with core.db.write() as conn:
                await conn.execute(update(wallet).where(wallet.c.id == wallet_id).values(balance=wallet.c.balance + 10))
                await conn.execute(insert(ledger).values(wallet_id=wallet_id, amount=10))

        async def atrium(worker: int, n: int) -> None:
            member_id = member_ids[(worker * 7919 + n) % args.members]
            receipt = RetailPurchaseInput(
                store_code="BENCH",
                currency="CNY",
                purchased_at=None,
                items=[RetailLineItemInput(sku="SKU", category="grocery", quantity=1, unit_price=Decimal("10.00"), line_discount=Decimal("0"))],
            )
            request = ActivityRequest(MemberRef(member_id=member_id), "retail", "purchase", f"B-{worker}-{n}", receipt)
            await record_activity(core, request, now=datetime.now(UTC))

        base_ops = await run_for(args.seconds, args.concurrency, baseline)
        atrium_ops = await run_for(args.seconds, args.concurrency, atrium)
        base_rate, atrium_rate = base_ops / args.seconds, atrium_ops / args.seconds
        print(
            f"database={args.database} concurrency={args.concurrency} seconds={args.seconds} members={args.members}"
            f" upgrade_in_reach={args.upgrade_in_reach}"
        )
        print(f"baseline guarded update + ledger row: {base_rate:8.0f} writes/s")
        print(f"atrium earn (rules, idempotency, double entry, lot): {atrium_rate:8.0f} earns/s")
        print(f"ratio atrium/baseline: {atrium_rate / base_rate:.2f}")
        async with core.db.read() as conn:
            from gateway.ledger.verify import verify_ledger

            problems = await verify_ledger(conn)
        print(f"ledger verify after the run: {'ok' if not problems else problems[:3]}")
        await core.close()
    finally:
        if args.database == "postgres":
            conn = await asyncpg.connect(dsn)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
