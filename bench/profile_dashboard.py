"""The member dashboard's server-side cost, in process: ms per request and a cProfile of it.

Seeds the same member as ``bench/graphql_reads.py`` (30 retail purchases, SQLite), builds the real
app (``create_app``) and posts the dashboard query through ``httpx.ASGITransport``, so auth, the
context, strawberry and JSON encoding are all counted; only the socket and uvicorn are not.

    .venv/bin/python bench/profile_dashboard.py                 # ms per request
    .venv/bin/python bench/profile_dashboard.py --profile 30    # plus the 30 costliest functions
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from graphql_reads import DASHBOARD, PLUGINS, seed  # noqa: E402

from gateway.app import create_app  # noqa: E402
from gateway.settings import Settings  # noqa: E402


async def main() -> None:
    """Seed, warm up, then time ``--requests`` sequential dashboard requests (and profile them)."""
    import httpx

    from gateway.auth import Role, mint_token
    from gateway.persistence.migrate import upgrade

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--purchases", type=int, default=30)
    parser.add_argument("--profile", type=int, default=0, help="Print this many functions by cumulative time.")
    args = parser.parse_args()

    url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='atrium-prof-')) / 'p.db'}"
    await asyncio.to_thread(upgrade, url)
    member_id = await seed(url, args.purchases)
    settings = Settings(database_url=url, plugins=PLUGINS, graphiql=False, jwt_secret=secrets.token_urlsafe(32), _env_file=None)  # type: ignore[call-arg]
    token = mint_token(settings, role=Role.MEMBER, member_id=member_id)
    app = create_app(settings=settings)
    headers = {"Authorization": f"Bearer {token}"}
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:

            async def one() -> dict[str, object]:
                answer = (await client.post("/graphql", json={"query": DASHBOARD}, headers=headers)).json()
                if answer.get("errors"):
                    raise RuntimeError(answer["errors"])
                return answer

            for _ in range(30):
                await one()
            began = time.process_time()
            for _ in range(args.requests):
                await one()
            cpu = time.process_time() - began
            print(f"{cpu / args.requests * 1000:.2f} ms CPU per dashboard request ({args.requests} requests, incl. httpx client)")
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(args.requests):
                    await one()
                profiler.disable()
                profiler.dump_stats("/tmp/dashboard.prof")
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
                pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
                pstats.Stats(profiler).sort_stats("cumulative").print_stats("gateway/|plugins/", args.profile)


if __name__ == "__main__":
    asyncio.run(main())
