"""Over HTTP: a member sees pending points apart from spendable ones, and matured ones as spendable at once."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from gateway.core import Core
from gateway.persistence.models import posting_table
from gateway.settings import Settings
from tests.conftest import statements_of
from tests.helpers import earn, enrol_phone
from tests.http.graphql import DASHBOARD, caller
from tests.pending_plugin import BoutiquePlugin, BoutiqueSaleInput

POINTS = "{ me { pointsBalance pendingPoints lots { remaining pending } } }"


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    return [("boutique", BoutiquePlugin())]


async def test_the_member_sees_pending_points_apart_and_matured_ones_as_spendable(
    client: httpx.AsyncClient, settings: Settings, core: Core, now: datetime
) -> None:
    weeks_ago = now - timedelta(days=20)
    member_id = await enrol_phone(core, "13800138000", weeks_ago)
    # 20 days ago, with a 14-day window: matured 6 days ago, and no write for the member since.
    await earn(core, member_id, "B-1", BoutiqueSaleInput(points_now=10, points_later=100), weeks_ago, format_code="boutique", kind="sale")
    # A week ago, with a 14-day window: still pending for another week.
    await earn(core, member_id, "B-2", BoutiqueSaleInput(points_now=0, points_later=30), now - timedelta(days=7), format_code="boutique", kind="sale")

    me = (await caller(client, settings, "member", member_id=member_id).data(POINTS))["me"]

    assert (me["pointsBalance"], me["pendingPoints"]) == (110, 30)
    assert sorted((lot["remaining"], lot["pending"]) for lot in me["lots"]) == [(10, False), (30, True), (100, False)]
    async with core.db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(posting_table).where(posting_table.c.kind == "release")) == 0


async def test_pending_and_matured_points_cost_the_dashboard_no_extra_statement(
    client: httpx.AsyncClient, settings: Settings, core: Core, now: datetime
) -> None:
    weeks_ago = now - timedelta(days=20)
    member_id = await enrol_phone(core, "13800138000", weeks_ago)
    await earn(core, member_id, "B-1", BoutiqueSaleInput(points_now=10, points_later=100), weeks_ago, format_code="boutique", kind="sale")
    await earn(core, member_id, "B-2", BoutiqueSaleInput(points_now=0, points_later=30), now - timedelta(days=7), format_code="boutique", kind="sale")

    member = caller(client, settings, "member", member_id=member_id)
    await member.data(DASHBOARD)  # warms the configuration cache, as a running gateway has it
    with statements_of(core) as statements:
        me = (await member.data(DASHBOARD))["me"]

    assert me["pointsBalance"] == 110
    assert len(statements) == 5  # as for a member without pending points (tests/http/test_statement_counts.py)
