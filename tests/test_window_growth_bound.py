"""Growth in any window never exceeds the stored growth value, whatever earns, refunds and merges came before.

The argument is in :mod:`gateway.tier_qualification`; an earn skips the window's aggregate when even
the growth value after it reaches no higher tier (:func:`gateway.tier_upgrade.upgrade_out_of_reach`).
Here random histories run through the real services (back-dated sales over two and a half years,
partial and full refunds, merges, a clock that moves on) and every member's standing is read for
windows starting at every activity date: none may hold more growth than the member's growth value.
The last tests pin down when an upgrade counts as in reach.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from gateway.core import Core
from gateway.ledger.postings import MemberRef
from gateway.ledger.reverse import RefundRequest, refund_activity
from gateway.merge import merge_members
from gateway.money import Money
from gateway.persistence.models import member_table, posting_table
from gateway.plugin_api import TierInfo
from gateway.tier_qualification import standings
from gateway.tier_upgrade import upgrade_out_of_reach
from gateway.tiers import Ladder, Standing, TierRule, current_ladder
from tests.helpers import earn, enrol_phone, retail_purchase

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
MEMBERS = 3
_phones = itertools.count(13800000000)

earn_op = st.tuples(st.just("earn"), st.integers(0, MEMBERS - 1), st.integers(1, 1500), st.integers(0, 900))
refund_op = st.tuples(st.just("refund"), st.integers(0, 30), st.integers(1, 100))
merge_op = st.tuples(st.just("merge"), st.integers(0, MEMBERS - 1), st.integers(0, MEMBERS - 1))
clock_op = st.tuples(st.just("clock"), st.integers(1, 200))
histories = st.lists(st.one_of(earn_op, earn_op, refund_op, merge_op, clock_op), min_size=1, max_size=14)


async def _play(core: Core, history: list[tuple[object, ...]]) -> list[int]:
    """Run ``history`` for fresh members; returns their ids."""
    now = T0
    members = [await enrol_phone(core, str(next(_phones)), now) for _ in range(MEMBERS)]
    merged: set[int] = set()
    earns: list[tuple[str, int]] = []  # (key, amount in minor units) of every earn
    refunded: dict[str, int] = {}
    for step, op in enumerate(history):
        if op[0] == "earn":
            _, who, yuan, days_ago = op
            key = f"S-{members[0]}-{step}"
            receipt = retail_purchase((("SKU", "grocery", 1, f"{yuan}.00"),), purchased_at=now - timedelta(days=days_ago))
            await earn(core, members[who], key, receipt, now)
            earns.append((key, yuan * 100))
        elif op[0] == "refund" and earns:
            _, which, percent = op
            key, whole = earns[which % len(earns)]
            left = whole - refunded.get(key, 0)
            if left:
                amount = min(max(whole * percent // 100, 1), left)
                request = RefundRequest(format="retail", amount=Money(amount, "CNY"), idempotency_key=f"RF-{key}-{step}", original_key=key)
                await refund_activity(core, request, now=now)
                refunded[key] = refunded.get(key, 0) + amount
        elif op[0] == "merge":
            _, keep, gone = op
            if keep != gone and members[keep] not in merged and members[gone] not in merged:
                await merge_members(
                    core, MemberRef(member_id=members[keep]), MemberRef(member_id=members[gone]), actor="test", reason="same person", now=now
                )
                merged.add(members[gone])
        elif op[0] == "clock":
            now += timedelta(days=int(op[1]))
    return members


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories)
async def test_no_window_holds_more_growth_than_the_growth_value(core: Core, history: list[tuple[object, ...]]) -> None:
    members = await _play(core, history)
    ladder = await current_ladder(core)
    async with core.db.read() as conn:
        live = {
            int(member_id): (int(growth_value), tier_code)
            for member_id, growth_value, tier_code in await conn.execute(
                select(member_table.c.id, member_table.c.growth_value, member_table.c.tier_code).where(
                    member_table.c.id.in_(members) & member_table.c.merged_into_id.is_(None)
                )
            )
        }
        dates = set((await conn.execute(select(posting_table.c.occurred_at).where(posting_table.c.member_id.in_(members)))).scalars())
        bounds = sorted({T0 - timedelta(days=2000)} | dates | {date + timedelta(microseconds=1) for date in dates})
        found = await standings(conn, since=bounds, member_ids=list(live))

    for member_id, (growth_value, tier_code) in live.items():
        tier = ladder.get(tier_code)
        for since, standing in zip(bounds, found.get(member_id, (Standing(),) * len(bounds)), strict=True):
            assert standing.growth <= growth_value, f"member {member_id}: {standing.growth} growth since {since}, growth value {growth_value}"
            if upgrade_out_of_reach(ladder, tier, growth_value):
                assert ladder.after_earning(tier, standing) == tier


def _ladder() -> Ladder:
    """Member 0, Silver 2000 (kept at 1500), Gold 6000 in at least 2 formats, Diamond 15000."""
    tiers = [("member", 0, None, None), ("silver", 2000, None, 1500), ("gold", 6000, 2, None), ("diamond", 15000, None, None)]
    return Ladder(
        tuple(
            TierRule(TierInfo(code, code.title(), rank, threshold, Decimal(1)), min_formats=formats, retention_threshold=keep)
            for rank, (code, threshold, formats, keep) in enumerate(tiers)
        )
    )


def test_an_upgrade_comes_in_reach_when_the_growth_value_meets_the_next_threshold() -> None:
    ladder = _ladder()
    member, silver = ladder.get("member"), ladder.get("silver")
    assert upgrade_out_of_reach(ladder, member, 1999)
    assert not upgrade_out_of_reach(ladder, member, 2000)
    assert upgrade_out_of_reach(ladder, silver, 5999)  # the retention threshold (1500) plays no part
    assert not upgrade_out_of_reach(ladder, silver, 6000)  # Gold's breadth rule may still refuse: the window decides


def test_no_upgrade_is_in_reach_at_the_top_whatever_the_growth_value() -> None:
    ladder = _ladder()
    assert upgrade_out_of_reach(ladder, ladder.top, 10**9)
