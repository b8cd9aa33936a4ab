"""A merge carries the per-member state beyond points: coupons, benefit quotas, campaign usage, check-ins, tier history.

The group runs in Shanghai time; everything happens in December 2026 unless a test says otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime

import pytest
from sqlalchemy import select

from gateway.benefits.admin import SharedBenefitDraft, create_shared_benefit
from gateway.benefits.periods import period_bounds
from gateway.benefits.use import UseRequest, cancel_benefit_use, use_benefit, used_in
from gateway.campaigns.model import LimitPeriod
from gateway.core import Core
from gateway.coupons import (
    CancelCouponRequest,
    UseCouponRequest,
    cancel_coupon,
    member_coupons,
    use_coupon,
)
from gateway.errors import AtriumError, ErrorCode
from gateway.identity import IdentityKey, IdentityKind, enrol
from gateway.ledger.postings import MemberRef, PostingResult
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.verify import verify_ledger
from gateway.merge import MergeResult, merge_members
from gateway.persistence.benefit_tables import benefit_counter_table, benefit_use_table
from gateway.persistence.campaign_tables import campaign_member_usage_table
from gateway.persistence.coupon_tables import coupon_table
from gateway.persistence.models import audit_log_table, member_table
from gateway.plugin_api import Quota
from gateway.settings import Settings
from gateway.tier_history import tier_histories
from gateway.tiers import current_ladder
from tests.campaign_helpers import (
    SHANGHAI,
    ZONE,
    add_campaign,
    at,
    buy,
    campaign_lines,
    dine,
    issued,
    new_member,
)
from tests.conftest import Backend
from tests.helpers import member_state, snapshot

PARKING = "group.parking_2h"


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return Settings(database_url=backend.url, plugins=None, timezone=ZONE, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture(autouse=True)
async def ledger_verifies_after_each_test(core: Core) -> AsyncIterator[None]:
    """Whatever a test did, ``atrium ledger verify`` (counters and coupons included) finds nothing wrong."""
    yield
    async with core.db.read() as conn:
        assert await verify_ledger(conn) == []


async def _merge(core: Core, survivor: int, merged: int, now: datetime) -> MergeResult:
    return await merge_members(
        core, MemberRef(member_id=survivor), MemberRef(member_id=merged), actor="admin", reason="same person", now=now
    )


async def _parking(core: Core, quota: int = 2) -> None:
    """A shared benefit any member may use, ``quota`` times a month."""
    draft = SharedBenefitDraft(
        code="parking_2h", name="2 free parking hours", description="", min_tier="member", quota=Quota(quota, "month")
    )
    await create_shared_benefit(core, draft, actor="admin", now=at(1, 0))


async def _park(core: Core, member_id: int, key: str, now: datetime, quantity: int = 1) -> int | None:
    """Use the parking benefit; what the use says was used in the period."""
    request = UseRequest(
        member=MemberRef(member_id=member_id), benefit=PARKING, quantity=quantity, idempotency_key=key, scope="admin", actor="admin"
    )
    return (await use_benefit(core, request, now=now)).used_in_period


async def _parked(core: Core, member_id: int, now: datetime) -> int:
    async with core.db.read() as conn:
        return await used_in(conn, member_id=member_id, benefit=PARKING, bounds=period_bounds("month", now, SHANGHAI))


async def _rich_pair(core: Core) -> tuple[int, int]:
    """Member A and member B, 3,000 points each."""
    a = await new_member(core, "13800138000")
    b = await new_member(core, "13900139000")
    await buy(core, a, "A-1", at(2), "3000.00")
    await buy(core, b, "B-1", at(2), "3000.00")
    return a, b


async def _voucher(core: Core, member_id: int, key: str, now: datetime) -> PostingResult:
    """Redeem one retail ¥10 voucher (1,000 pts): one coupon."""
    return await redeem(core, RedeemRequest(MemberRef(member_id=member_id), "retail", "voucher_10", 1, key), now=now)


# --- coupons --------------------------------------------------------------------------------------


async def test_the_merged_records_coupons_are_the_survivors_and_listed_with_its_own(core: Core) -> None:
    a, b = await _rich_pair(core)
    mine = (await _voucher(core, a, "RD-A", at(3))).details["couponCodes"][0]
    theirs = (await _voucher(core, b, "RD-B", at(3))).details["couponCodes"][0]

    await _merge(core, a, b, at(4))

    async with core.db.read() as conn:
        listed, _ = await member_coupons(conn, a, now=at(4), first=10)
        owners = dict((await conn.execute(select(coupon_table.c.code, coupon_table.c.member_id))).all())
    assert [coupon.code for coupon in listed] == [theirs, mine]
    assert {coupon.member_id for coupon in listed} == {a}
    assert owners == {mine: a, theirs: a}


async def test_a_till_uses_a_coupon_of_the_merged_record_for_the_survivor(core: Core) -> None:
    a, b = await _rich_pair(core)
    code = (await _voucher(core, b, "RD-B", at(3))).details["couponCodes"][0]
    await _merge(core, a, b, at(4))

    used = await use_coupon(core, UseCouponRequest(code=code, idempotency_key="TILL-1", used_by="service:retail", format_code="retail"), now=at(5))

    assert (used.coupon.member_id, used.coupon.status_at(at(5))) == (a, "used")


async def test_cancelling_a_coupon_of_the_merged_record_returns_its_points_to_the_survivor(core: Core) -> None:
    a, b = await _rich_pair(core)
    code = (await _voucher(core, b, "RD-B", at(3))).details["couponCodes"][0]
    await _merge(core, a, b, at(4))
    assert (await member_state(core, a))[0] == 5000

    cancelled = await cancel_coupon(core, CancelCouponRequest(code=code, idempotency_key="CX-1", format_code="retail"), now=at(5))

    assert (cancelled.posting.member_id, cancelled.posting.balance_after) == (a, 6000)
    assert [(coupon.member_id, coupon.status_at(at(5))) for coupon in cancelled.coupons] == [(a, "cancelled")]


# --- benefit quotas -------------------------------------------------------------------------------


async def test_the_survivors_quota_usage_is_the_sum_of_both_records_this_period(core: Core) -> None:
    await _parking(core, quota=3)
    a, b = await _rich_pair(core)
    await _park(core, a, "P-A", at(3))
    await _park(core, b, "P-B", at(3))

    await _merge(core, a, b, at(4))

    assert await _parked(core, a, at(4)) == 2
    assert await _park(core, a, "P-A2", at(5)) == 3
    refused = await _refused_parking(core, a, "P-A3", at(5))
    assert (refused.code, refused.field) == (ErrorCode.QUOTA_EXCEEDED, "quantity")


async def test_when_both_records_used_a_full_quota_the_survivor_has_none_left_not_more(core: Core) -> None:
    await _parking(core, quota=2)
    a, b = await _rich_pair(core)
    await _park(core, a, "P-A", at(3), quantity=2)
    await _park(core, b, "P-B", at(3), quantity=2)

    await _merge(core, a, b, at(4))

    assert await _parked(core, a, at(4)) == 4
    refused = await _refused_parking(core, a, "P-A2", at(5))
    assert refused.code is ErrorCode.QUOTA_EXCEEDED
    assert "4 of 2 used this month, 0 left" in refused.message


async def test_a_period_only_the_merged_record_used_moves_to_the_survivor(core: Core) -> None:
    await _parking(core, quota=2)
    a, b = await _rich_pair(core)
    await _park(core, b, "P-B-NOV", at(20, month=11))
    await _park(core, a, "P-A", at(3))

    await _merge(core, a, b, at(4))

    async with core.db.read() as conn:
        counters = sorted(
            (member_id, used)
            for member_id, used in (await conn.execute(select(benefit_counter_table.c.member_id, benefit_counter_table.c.used))).all()
        )
    assert counters == [(a, 1), (a, 1)]
    assert await _parked(core, a, at(20, month=11)) == 1


async def test_cancelling_a_use_of_the_merged_record_gives_the_quota_back_to_the_survivor(core: Core) -> None:
    await _parking(core, quota=2)
    a, b = await _rich_pair(core)
    await _park(core, a, "P-A", at(3))
    await _park(core, b, "P-B", at(3))
    await _merge(core, a, b, at(4))

    await cancel_benefit_use(core, scope="admin", idempotency_key="P-B", now=at(5))

    assert await _parked(core, a, at(5)) == 1
    assert await _park(core, a, "P-A2", at(5)) == 2
    async with core.db.read() as conn:
        owners = set((await conn.execute(select(benefit_use_table.c.member_id))).scalars())
    assert owners == {a}


async def test_merging_again_does_not_add_the_counters_twice(core: Core) -> None:
    await _parking(core, quota=3)
    a, b = await _rich_pair(core)
    await _park(core, a, "P-A", at(3))
    await _park(core, b, "P-B", at(3))
    await _merge(core, a, b, at(4))
    before = await snapshot(core)

    again = await _merge(core, a, b, at(5))

    assert again.merged_now is False
    assert await snapshot(core) == before
    assert await _parked(core, a, at(5)) == 2


async def _refused_parking(core: Core, member_id: int, key: str, now: datetime) -> AtriumError:
    with pytest.raises(AtriumError) as raised:
        await _park(core, member_id, key, now)
    return raised.value


# --- campaigns ------------------------------------------------------------------------------------


async def test_a_campaigns_per_member_limit_counts_both_records(core: Core) -> None:
    await add_campaign(core, "welcome", fixed=100, limit=(150, LimitPeriod.MONTH))
    a = await new_member(core, "13800138000")
    b = await new_member(core, "13900139000")
    await buy(core, a, "A-1", at(3), "10.00")
    await buy(core, b, "B-1", at(3), "10.00")

    await _merge(core, a, b, at(4))
    after = await buy(core, a, "A-2", at(5), "10.00")

    assert campaign_lines(after) == {}
    async with core.db.read() as conn:
        usage = (await conn.execute(select(campaign_member_usage_table.c.member_id, campaign_member_usage_table.c.issued))).all()
    assert [tuple(row) for row in usage] == [(a, 200)]
    assert await issued(core, "welcome") == 200


async def test_a_merged_records_unused_limit_period_moves_to_the_survivor(core: Core) -> None:
    await add_campaign(core, "welcome", fixed=100, limit=(150, LimitPeriod.DAY))
    a = await new_member(core, "13800138000")
    b = await new_member(core, "13900139000")
    await buy(core, b, "B-1", at(3), "10.00")

    await _merge(core, a, b, at(3, 14))
    same_day = await buy(core, a, "A-1", at(3, 18), "10.00")

    assert campaign_lines(same_day) == {"campaign.welcome": 50}


async def test_a_cross_format_check_in_counts_the_merged_records_activity_this_month(core: Core) -> None:
    await add_campaign(core, "checkin", cross=50)
    a = await new_member(core, "13800138000")
    b = await new_member(core, "13900139000")
    await buy(core, b, "B-1", at(3), "100.00")

    await _merge(core, a, b, at(4))
    dining = await dine(core, a, "D-1", at(5), "100.00")
    retail = await buy(core, a, "A-1", at(6), "100.00")

    assert campaign_lines(dining) == {"campaign.checkin": 50}
    assert campaign_lines(retail) == {}


# --- tier history and audit -----------------------------------------------------------------------


async def test_the_survivors_tier_history_lists_both_records_changes_newest_first(core: Core) -> None:
    a = await new_member(core, "13800138000")
    b = await new_member(core, "13900139000")
    silver = await buy(core, a, "A-1", at(2), "2000.00")
    gold = await buy(core, b, "B-1", at(3), "6000.00")

    merged = await _merge(core, a, b, at(4))

    async with core.db.read() as conn:
        histories = await tier_histories(conn, [a], first=10)
    assert [(row.member_id, row.from_tier, row.to_tier, row.source.value, row.posting_id) for row in histories[a]] == [
        (a, "silver", "gold", "merge", merged.posting_id),
        (b, "member", "gold", "earn", gold.id),
        (a, "member", "silver", "earn", silver.id),
    ]


async def test_the_merge_audit_counts_the_coupons_uses_and_counters_it_carried(core: Core) -> None:
    await _parking(core, quota=3)
    await add_campaign(core, "welcome", fixed=100, limit=(500, LimitPeriod.MONTH))
    a, b = await _rich_pair(core)
    await _voucher(core, b, "RD-B", at(3))
    await _park(core, a, "P-A", at(3))
    await _park(core, b, "P-B", at(3))

    await _merge(core, a, b, at(4))

    async with core.db.read() as conn:
        details = await conn.scalar(select(audit_log_table.c.details).where(audit_log_table.c.action == "merge"))
    carried = {name: details["moved"][name] for name in ("coupons", "benefit_uses", "benefit_counters", "campaign_usage")}
    assert carried == {"coupons": 1, "benefit_uses": 1, "benefit_counters": 1, "campaign_usage": 1}



async def test_the_survivor_takes_the_merged_records_birth_date_when_it_has_none(core: Core) -> None:
    now = at(5, 12)
    ladder = await current_ladder(core)
    keep = await enrol(core.db, identity=IdentityKey(IdentityKind.PHONE, "+8613800138101"), ladder=ladder, enrolled_format="retail", now=now)
    gone = await enrol(
        core.db,
        identity=IdentityKey(IdentityKind.PHONE, "+8613800138102"),
        ladder=ladder,
        enrolled_format="dining",
        now=now,
        birth_date=date(1990, 5, 17),
    )
    await _merge(core, keep, gone, now)
    async with core.db.read() as conn:
        dates = dict((await conn.execute(select(member_table.c.id, member_table.c.birth_date))).all())
    assert dates[keep] == date(1990, 5, 17)
    assert dates[gone] is None  # erasing the survivor must erase it all
