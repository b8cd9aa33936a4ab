"""The demo loader: members by phone, activity in several formats, a ledger that verifies, loaded once."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, func, select

from gateway.auth import Role, principal_from_header
from gateway.demo import DEMO_EMAIL, DEMO_PHONE, demo_tokens, load_demo
from gateway.ledger.verify import verify_ledger
from gateway.persistence.database import Database
from gateway.persistence.models import identity_table, member_table, posting_table
from gateway.settings import Settings

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # a CLI convenience: SQLite is enough


async def _state(settings: Settings) -> dict[str, Any]:
    db = Database(settings.database_url)
    try:
        async with db.read() as conn:
            members = await conn.scalar(select(func.count()).select_from(member_table))
            rows = await conn.execute(select(posting_table.c.format, posting_table.c.kind, func.count()).group_by(posting_table.c.format, posting_table.c.kind))
            postings = {(fmt, kind): count for fmt, kind, count in rows.all()}
            problems = await verify_ledger(conn)
    finally:
        await db.dispose()
    return {"members": members, "postings": postings, "problems": problems}


async def test_demo_loads_members_and_activity_once(settings: Settings) -> None:
    summary = await load_demo(settings, members=20, seed=7)

    state = await _state(settings)
    assert state["members"] == 20
    assert state["problems"] == []
    assert len({fmt for fmt, kind in state["postings"] if kind == "earn"}) >= 2
    assert "members:   20" in summary and "tiers:" in summary

    assert await load_demo(settings, members=20, seed=7) == "Demo data already loaded; nothing to do."
    assert await _state(settings) == state


async def test_interrupted_demo_resumes_without_duplicates(settings: Settings) -> None:
    await load_demo(settings, members=6, seed=7)
    before = await _state(settings)
    db = Database(settings.database_url)
    try:  # the marker linked last is missing, as after a crash near the end
        async with db.write() as conn:
            await conn.execute(delete(identity_table).where(identity_table.c.value == DEMO_EMAIL))
    finally:
        await db.dispose()

    await load_demo(settings, members=6, seed=7)  # every write replays its idempotency key

    assert await _state(settings) == before


async def test_demo_tokens_name_the_first_member_and_each_format(settings: Settings) -> None:
    await load_demo(settings, members=2, seed=7)

    tokens = dict(await demo_tokens(settings))

    member = principal_from_header(settings, f"Bearer {tokens[f'Member {DEMO_PHONE} (member #1)']}")
    assert member is not None and member.role is Role.MEMBER and member.member_id == 1
    for code in ("retail", "dining", "property"):
        service = principal_from_header(settings, f"Bearer {tokens[f'{code.capitalize()} service account']}")
        assert service is not None and service.format == code
    admin = principal_from_header(settings, f"Bearer {tokens['Admin']}")
    assert admin is not None and admin.role is Role.ADMIN
