"""Demo data: a group four months after launching its membership programme, loaded through GraphQL.

``atrium demo load`` replays the programme's history in-process through the composed schema, as
the group's tills, billing systems and admins would have sent it: on launch morning the admin sets
the ladder and its policy, the formats' settings, transfer prices, two shared benefits and the
campaigns (:mod:`gateway.demo_group`); then a few hundred members enrol over the months, shop,
dine and pay their fees, return goods, redeem rewards and use the coupons, park free once Gold and
take their birthday treat (:mod:`gateway.demo_plan`), while the nightly jobs expire coupons and
evaluate tiers (:mod:`gateway.demo_nightly`). :mod:`gateway.demo_runner` plays it all in time
order with each request's clock set to when it happened. It never imports a plugin: format
payloads are plain JSON variables, and a format that is not loaded is skipped. Everything comes
from ``random.Random(seed)`` and every write carries a deterministic idempotency key, so an
interrupted load resumes where it stopped and a finished one is not repeated.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

from sqlalchemy import select

from gateway.auth import Role, mint_token
from gateway.core import Core, build_host, open_core
from gateway.demo_group import group_configuration
from gateway.demo_plan import (
    DAYS_BACK,
    DEMO_DINING_ID,
    DEMO_EMAIL,
    DEMO_PHONE,
    SHANGHAI,
    launch_day,
    plan_member,
)
from gateway.demo_runner import DemoLoadError, Runner, nights
from gateway.demo_summary import summary
from gateway.identity import (
    IdentityKey,
    IdentityKind,
    find_member_id,
    normalize_identity,
)
from gateway.persistence.database import Database
from gateway.persistence.models import member_table
from gateway.settings import Settings

__all__ = ["DEMO_DINING_ID", "DEMO_EMAIL", "DEMO_PHONE", "DemoLoadError", "demo_tokens", "load_demo"]


async def _anchor(core: Core) -> tuple[date, bool]:
    """The day the load runs up to and whether it finished.

    The programme launched :data:`DAYS_BACK` days before the first load, on the day member #1
    enrolled; a resumed load finds that day again, so it replays the same history.
    """
    async with core.db.read() as conn:
        member_id = await find_member_id(conn, _key(core.settings, IdentityKind.PHONE, DEMO_PHONE))
        done = await find_member_id(conn, _key(core.settings, IdentityKind.EMAIL, DEMO_EMAIL)) is not None
        enrolled = await conn.scalar(select(member_table.c.enrolled_at).where(member_table.c.id == member_id))
    if enrolled is None:
        return datetime.now(UTC).astimezone(SHANGHAI).date(), done
    return enrolled.astimezone(SHANGHAI).date() + timedelta(days=DAYS_BACK), done


def _key(settings: Settings, kind: IdentityKind, value: str) -> IdentityKey:
    return normalize_identity(kind, value, namespace=None, formats=(), phone_region=settings.default_phone_region)


async def load_demo(settings: Settings, *, members: int = 200, seed: int = 7) -> str:
    """Load ``members`` demo members and the group's first four months; return a printable summary.

    Members are enrolled by Chinese mobile number (the first is 13800138000, with a dining
    customer id and an email linked, born in the month of the load); each member's steps and the
    admin's configuration run in one time order with past request clocks, then the nightly jobs
    of the load's own moment run (``atrium ledger expire``, ``atrium tiers evaluate``). A
    finished load is detected and skipped; any GraphQL or payload error raises
    :class:`DemoLoadError`.
    """
    if members < 1:
        raise ValueError("the demo needs at least one member")
    started, perf = datetime.now(UTC), time.perf_counter()
    core = await open_core(settings, build_host(settings))
    try:
        anchor, done = await _anchor(core)
        if done:
            return "Demo data already loaded; nothing to do."
        launch = launch_day(anchor)
        runner = Runner(core, end=datetime.combine(anchor, clock_time(), tzinfo=SHANGHAI))
        runner.nightly.since = datetime.combine(launch, clock_time(), tzinfo=SHANGHAI)
        await runner.check_schema()
        rng, phones = random.Random(seed), set[str]()
        birth_month = started.astimezone(settings.zone).month
        plans = [plan_member(rng, index, anchor, seed, phones, first_birth_month=birth_month) for index in range(members)]
        admin = group_configuration(launch, members=members, formats=runner.formats)
        await runner.play(admin, plans, [*nights(launch, started, settings.zone), started])
        await runner.finish(runner.ids[0], {"kind": "EMAIL", "value": DEMO_EMAIL})
        return await summary(core, runner, launch=launch, anchor=anchor, elapsed=time.perf_counter() - perf)
    finally:
        await core.close()


async def demo_tokens(settings: Settings, *, ttl: timedelta = timedelta(days=30)) -> list[tuple[str, str]]:
    """Bearer tokens for the first demo member, each loaded format's service account and an admin.

    :raises DemoLoadError: when the first demo member is missing (run ``atrium demo load`` first).
    """
    formats = sorted(build_host(settings).registry.formats)
    db = Database(settings.database_url)
    try:
        async with db.read() as conn:
            member_id = await find_member_id(conn, _key(settings, IdentityKind.PHONE, DEMO_PHONE))
    finally:
        await db.dispose()
    if member_id is None:
        raise DemoLoadError(f"No member has phone {DEMO_PHONE}: run `atrium demo load` first.")
    tokens = [(f"Member {DEMO_PHONE} (member #{member_id})", mint_token(settings, role=Role.MEMBER, member_id=member_id, ttl=ttl))]
    for code in formats:
        tokens.append((f"{code.capitalize()} service account", mint_token(settings, role=Role.SERVICE, format_code=code, ttl=ttl)))
    tokens.append(("Admin", mint_token(settings, role=Role.ADMIN, ttl=ttl)))
    return tokens
