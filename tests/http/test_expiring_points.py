"""Over HTTP: a member sees its points expiring month by month, in one query whatever the number of lots."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from dateutil.relativedelta import relativedelta

from gateway.core import Core
from gateway.settings import Settings
from tests.conftest import statements_of
from tests.helpers import earn, enrol_phone, retail_purchase
from tests.http.graphql import caller

EXPIRING = "query Expiring($months: Int!) { me { expiringPoints(months: $months) { month points } } }"


async def test_the_member_sees_points_expiring_by_month_in_one_query(
    client: httpx.AsyncClient, settings: Settings, core: Core, now: datetime
) -> None:
    member_id = await enrol_phone(core, "13800138000", now)
    for n in range(5):
        await earn(core, member_id, f"R-{n}", retail_purchase([("SKU1", "grocery", 1, "100.00")]), now)
    member = caller(client, settings, "member", member_id=member_id)
    month = f"{now + relativedelta(months=24) - timedelta(microseconds=1):%Y-%m}"

    soon = (await member.data(EXPIRING, {"months": 12}))["me"]["expiringPoints"]
    with statements_of(core) as statements:
        later = (await member.data(EXPIRING, {"months": 25}))["me"]["expiringPoints"]

    assert soon == []
    assert later == [{"month": month, "points": 500}]
    assert len(statements) == 2  # the member, then its lots


async def test_months_outside_1_to_60_is_a_typed_error(client: httpx.AsyncClient, settings: Settings, core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, "13800138000", now)

    body = await caller(client, settings, "member", member_id=member_id).raw(EXPIRING, {"months": 61})

    assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "months"}
