"""Upgrades at once: growth over the rolling window (and the breadth rule) decides, in the earn that crosses a threshold."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from gateway.core import Core
from gateway.ledger.postings import MemberRef
from gateway.ledger.reverse import RefundRequest, refund_activity
from gateway.merge import merge_members
from gateway.money import Money
from gateway.persistence.tier_tables import member_tier_history_table
from gateway.plugin_api import TierChange, hookimpl
from gateway.tier_config import set_ladder
from gateway.tier_qualification import standings
from gateway.tiers import Standing, current_ladder
from tests.helpers import dining_bill, earn, enrol_phone, member_state, retail_purchase
from tests.tier_helpers import ladder_with, restore_ladder  # noqa: F401

T0 = datetime(2027, 3, 10, 12, tzinfo=UTC)
PHONE = "13800138000"


class TierWatcher:
    """Records the tier changes the gateway tells plugins about."""

    def __init__(self) -> None:
        self.changes: list[TierChange] = []

    @hookimpl
    def atrium_tier_changed(self, change: TierChange) -> None:
        self.changes.append(change)


@pytest.fixture
def watcher() -> TierWatcher:
    return TierWatcher()


@pytest.fixture
def extra_plugins(watcher: TierWatcher) -> list[tuple[str, object]]:
    return [("tier-watcher", watcher)]


def _receipt(yuan: str, at: datetime = T0) -> object:
    return retail_purchase([("SKU1", "grocery", 1, yuan)], purchased_at=at)


async def _history(core: Core, member_id: int) -> list[tuple[Any, ...]]:
    table = member_tier_history_table
    query = select(
        table.c.from_tier, table.c.to_tier, table.c.source, table.c.qualifying_growth, table.c.formats, table.c.posting_id
    ).where(table.c.member_id == member_id).order_by(table.c.id)
    async with core.db.read() as conn:
        return [tuple(row) for row in (await conn.execute(query)).all()]


async def test_the_earn_that_crosses_a_threshold_upgrades_at_once_and_writes_history(core: Core, watcher: TierWatcher) -> None:
    member_id = await enrol_phone(core, PHONE, T0 - relativedelta(months=30))

    below = await earn(core, member_id, "R-1", _receipt("1999.00"), T0)
    crossing = await earn(core, member_id, "R-2", _receipt("1.00"), T0)

    assert (below.tier_before, below.tier_after) == ("member", "member")
    assert (crossing.tier_before, crossing.tier_after) == ("member", "silver")
    assert (await member_state(core, member_id))[2] == "silver"
    assert await _history(core, member_id) == [("member", "silver", "earn", 2000, 1, crossing.id)]
    assert [(c.member_id, c.previous.code, c.current.code) for c in watcher.changes] == [(member_id, "member", "silver")]
    assert "Up to Silver: 2,000 growth value in 1 format over 12 months" == watcher.changes[0].reason


async def test_growth_from_before_the_window_does_not_count(core: Core) -> None:
    member_id = await enrol_phone(core, PHONE, T0 - relativedelta(months=30))
    await earn(core, member_id, "R-OLD", _receipt("1500.00", T0 - relativedelta(months=13)), T0)

    recent = await earn(core, member_id, "R-NEW", _receipt("600.00"), T0)

    assert recent.tier_after == "member"
    assert (await member_state(core, member_id))[1] == 2100  # lifetime growth value still adds up
    assert await _history(core, member_id) == []


async def test_a_late_recorded_activity_from_before_the_window_counts_for_nothing(core: Core) -> None:
    member_id = await enrol_phone(core, PHONE, T0 - relativedelta(months=30))
    await earn(core, member_id, "R-1", _receipt("1900.00"), T0)

    late = await earn(core, member_id, "R-LATE", _receipt("500.00", T0 - relativedelta(months=12, days=1)), T0)

    assert late.tier_after == "member"


@pytest.mark.usefixtures("restore_ladder")
async def test_the_breadth_rule_holds_back_an_upgrade_until_a_second_format(core: Core) -> None:
    await set_ladder(core, ladder_with(gold={"min_formats": 2}), actor="admin", reason="gold needs two formats", now=T0)
    member_id = await enrol_phone(core, PHONE, T0 - relativedelta(months=30))

    retail = await earn(core, member_id, "R-1", _receipt("7000.00"), T0)
    more_retail = await earn(core, member_id, "R-2", _receipt("100.00"), T0)
    dining = await earn(core, member_id, "D-1", dining_bill("50.00", closed_at=T0), T0, format_code="dining", kind="bill")

    assert (retail.tier_after, more_retail.tier_after, dining.tier_after) == ("silver", "silver", "gold")
    assert [row[:5] for row in await _history(core, member_id)] == [
        ("member", "silver", "earn", 7000, 1),
        ("silver", "gold", "earn", 7150, 2),
    ]


async def test_a_refund_lowers_window_growth_but_one_of_an_activity_before_the_window_does_not(core: Core) -> None:
    member_id = await enrol_phone(core, PHONE, T0 - relativedelta(months=30))
    await earn(core, member_id, "R-OLD", _receipt("800.00", T0 - relativedelta(months=14)), T0 - relativedelta(months=14))
    await earn(core, member_id, "R-NEW", _receipt("1000.00"), T0)

    for key, original in (("RF-OLD", "R-OLD"), ("RF-NEW", "R-NEW")):
        request = RefundRequest(format="retail", amount=Money(30000, "CNY"), idempotency_key=key, original_key=original)
        await refund_activity(core, request, now=T0)

    since = (await current_ladder(core)).policy.window_start(T0, core.settings.zone)
    async with core.db.read() as conn:
        found = await standings(conn, member_ids=[member_id], since=[since])
    assert found[member_id] == (Standing(growth=700, formats=1),)


async def test_a_merge_counts_both_records_activity_and_formats_in_the_window(core: Core, watcher: TierWatcher) -> None:
    keep = await enrol_phone(core, PHONE, T0 - relativedelta(months=30))
    gone = await enrol_phone(core, "13900139000", T0 - relativedelta(months=30))
    await earn(core, keep, "R-1", _receipt("1200.00"), T0)
    await earn(core, gone, "D-1", dining_bill("900.00", closed_at=T0), T0, format_code="dining", kind="bill")

    result = await merge_members(core, MemberRef(member_id=keep), MemberRef(member_id=gone), actor="admin", reason="one person", now=T0)

    assert (await member_state(core, keep))[2] == "silver"
    assert [row[:5] for row in await _history(core, keep)] == [("member", "silver", "merge", 2100, 2)]
    assert (await _history(core, keep))[0][5] == result.posting_id
    assert [(c.previous.code, c.current.code) for c in watcher.changes] == [("member", "silver")]
