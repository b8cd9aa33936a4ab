"""Campaigns in the earn: scope and window, how campaigns stack, budgets and per-member limits, refunds.

The group runs in Shanghai time; every activity is in December 2026 unless a test says otherwise.
Points are computed by hand in each test: base points are 1 per CN¥1 (retail groceries, dining
food), Silver adds ×1.2 on the base, and each campaign adds its own share of the base.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from gateway.campaigns.awards import Outcome
from gateway.campaigns.model import LimitPeriod, Stacking
from gateway.campaigns.store import end_campaign
from gateway.core import Core
from gateway.ledger.earn_preview import preview_earn
from gateway.ledger.postings import MemberRef
from gateway.ledger.reverse import RefundRequest, refund_activity
from gateway.money import Money
from gateway.persistence.campaign_tables import campaign_member_usage_table
from gateway.persistence.models import lot_table
from gateway.settings import Settings
from tests.campaign_helpers import (
    ZONE,
    add_campaign,
    at,
    buy,
    campaign_lines,
    dine,
    issued,
    ledger_problems,
    new_member,
    scope,
)
from tests.conftest import Backend
from tests.helpers import earn, retail_purchase
from tests.pending_plugin import BoutiquePlugin, BoutiqueSaleInput

DECEMBER_BIRTHDAY = date(1990, 12, 5)


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return Settings(database_url=backend.url, plugins=None, timezone=ZONE, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    return [("boutique", BoutiquePlugin())]


# --- stacking ------------------------------------------------------------------------------------


async def test_member_day_birthday_and_cross_format_bonuses_stack_additively_on_the_base(core: Core) -> None:
    await add_campaign(core, "member_day", name="Member day", multiplier="2", scope=scope(days_of_month=[18]))
    await add_campaign(core, "birthday", name="Birthday month", fixed=88, scope=scope(birthday_month=True))
    await add_campaign(core, "checkin", name="Cross-format check-in", cross=50)
    member = await new_member(core, "13800138001", born=DECEMBER_BIRTHDAY, tier="silver")

    dinner = await dine(core, member, "D-1", at(18, 10), "100.00")
    shopping = await buy(core, member, "R-1", at(18, 12), "200.00")

    # Dinner, the member's first format this month: 100 base + 20 Silver + 100 member day + 88 birthday.
    assert campaign_lines(dinner) == {"campaign.birthday": 88, "campaign.member_day": 100}
    assert dinner.points == 100 + 20 + 100 + 88
    # Shopping, a second format this month: 200 base + 40 Silver (not 2 × 1.2 compounding) + 200 + 88 + 50.
    assert campaign_lines(shopping) == {"campaign.birthday": 88, "campaign.checkin": 50, "campaign.member_day": 200}
    assert shopping.points == 200 + 40 + 200 + 88 + 50 == 578
    assert [line["rule"] for line in shopping.lines] == [
        "retail.base_rate",
        "tier.silver",
        "campaign.birthday",
        "campaign.checkin",
        "campaign.member_day",
    ]
    reasons = {line["rule"]: line["reason"] for line in shopping.lines}
    assert reasons["campaign.member_day"] == "Member day: ×2 on 200 base pts +200 pts"
    assert reasons["campaign.checkin"] == "Cross-format check-in: cross-format check-in (first Retail activity this month) +50 pts"
    assert "Member day" in shopping.reason and "Birthday month" in shopping.reason
    assert (await issued(core, "member_day"), await issued(core, "birthday"), await issued(core, "checkin")) == (300, 176, 50)
    assert await ledger_problems(core) == []


async def test_an_exclusive_campaign_pays_alone_and_the_highest_priority_wins(core: Core) -> None:
    await add_campaign(
        core, "double_twelve", multiplier="3", scope=scope(days_of_month=[12]), stacking=Stacking.EXCLUSIVE, priority=10
    )
    await add_campaign(core, "flash", multiplier="2", fixed=500, scope=scope(days_of_month=[12]), stacking=Stacking.EXCLUSIVE, priority=5)
    await add_campaign(core, "birthday", fixed=88, scope=scope(birthday_month=True))
    member = await new_member(core, "13800138001", born=DECEMBER_BIRTHDAY, tier="silver")

    result = await buy(core, member, "R-1", at(12), "200.00")

    # flash would pay more (200 + 500) but ranks lower; the stackable birthday bonus does not add to an exclusive.
    assert campaign_lines(result) == {"campaign.double_twelve": 400}
    assert result.points == 200 + 40 + 400
    assert (await issued(core, "flash"), await issued(core, "birthday")) == (0, 0)


async def test_between_exclusive_campaigns_of_equal_priority_the_larger_award_wins(core: Core) -> None:
    await add_campaign(core, "double", multiplier="2", stacking=Stacking.EXCLUSIVE)
    await add_campaign(core, "bonus", fixed=150, stacking=Stacking.EXCLUSIVE)
    member = await new_member(core, "13800138001")

    small = await buy(core, member, "R-1", at(3), "100.00")
    large = await buy(core, member, "R-2", at(4), "300.00")

    assert campaign_lines(small) == {"campaign.bonus": 150}  # 150 beats ×2 on 100
    assert campaign_lines(large) == {"campaign.double": 300}  # ×2 on 300 beats 150


async def test_an_exclusive_campaign_with_its_budget_spent_no_longer_blocks_the_others(core: Core) -> None:
    await add_campaign(core, "double_twelve", multiplier="3", stacking=Stacking.EXCLUSIVE, priority=10, budget=400)
    await add_campaign(core, "birthday", fixed=88, scope=scope(birthday_month=True))
    first = await new_member(core, "13800138001", born=DECEMBER_BIRTHDAY)
    second = await new_member(core, "13800138002", born=DECEMBER_BIRTHDAY)

    assert campaign_lines(await buy(core, first, "R-1", at(12), "200.00")) == {"campaign.double_twelve": 400}
    assert campaign_lines(await buy(core, second, "R-2", at(12), "200.00")) == {"campaign.birthday": 88}


# --- dates, scope and window ----------------------------------------------------------------------


async def test_member_day_is_the_18th_in_the_groups_time_zone(core: Core) -> None:
    await add_campaign(core, "member_day", multiplier="2", scope=scope(days_of_month=[18]))
    member = await new_member(core, "13800138001")

    early_on_the_18th = await buy(core, member, "R-1", at(18, 1), "100.00")  # 17 Dec 17:00 UTC
    late_on_the_18th = await buy(core, member, "R-2", at(18, 23), "100.00")  # 18 Dec 15:00 UTC
    on_the_19th = await buy(core, member, "R-3", at(19, 0), "100.00")  # 18 Dec 16:00 UTC

    assert [campaign_lines(r) for r in (early_on_the_18th, late_on_the_18th, on_the_19th)] == [
        {"campaign.member_day": 100},
        {"campaign.member_day": 100},
        {},
    ]


OUT_OF_SCOPE = {
    "before the window": ({}, {"when": at(30, 23, month=11)}),
    "at the window's end": ({}, {"when": at(1, 0, month=1, year=2027)}),
    "another format": ({"scope": scope(formats=["dining"])}, {}),
    "another activity kind": ({"scope": scope(activity_kinds=["bill"])}, {}),
    "below the minimum tier": ({"scope": scope(min_tier="gold")}, {"tier": "silver"}),
    "a tier not listed": ({"scope": scope(tiers=["member", "gold"])}, {"tier": "silver"}),
    "another day of the month": ({"scope": scope(days_of_month=[18])}, {"when": at(17, 23)}),
    "another weekday": ({"scope": scope(weekdays=[6, 7])}, {"when": at(18)}),  # 18 Dec 2026 is a Friday
    "not the birthday month": ({"scope": scope(birthday_month=True)}, {"born": date(1990, 11, 30)}),
    "no birth date known": ({"scope": scope(birthday_month=True)}, {"born": None}),
    "below the minimum amount": ({"scope": scope(min_amount_minor=200_01)}, {"amount": "200.00"}),
    "no base points (gift card)": ({}, {"category": "gift_card"}),
}


@pytest.mark.parametrize(("campaign", "activity"), list(OUT_OF_SCOPE.values()), ids=list(OUT_OF_SCOPE))
async def test_activity_outside_a_campaigns_window_or_scope_gets_nothing_from_it(
    core: Core, campaign: dict[str, object], activity: dict[str, object]
) -> None:
    await add_campaign(core, "boost", multiplier="2", fixed=10, **campaign)  # type: ignore[arg-type]
    member = await new_member(core, "13800138001", born=activity.get("born", DECEMBER_BIRTHDAY), tier=activity.get("tier", "member"))  # type: ignore[arg-type]

    result = await buy(
        core, member, "R-1", activity.get("when", at(18)), activity.get("amount", "200.00"), activity.get("category", "grocery")  # type: ignore[arg-type]
    )

    assert campaign_lines(result) == {}
    assert await issued(core, "boost") == 0


async def test_the_same_activity_in_scope_earns_the_campaign(core: Core) -> None:
    """The positive twin of the cases above: every condition met at once."""
    await add_campaign(
        core,
        "boost",
        multiplier="2",
        fixed=10,
        scope=scope(
            formats=["retail"], activity_kinds=["purchase"], min_tier="silver", days_of_month=[18], weekdays=[5],
            birthday_month=True, min_amount_minor=200_00,
        ),
    )
    member = await new_member(core, "13800138001", born=DECEMBER_BIRTHDAY, tier="gold")

    result = await buy(core, member, "R-1", at(18), "200.00")

    assert campaign_lines(result) == {"campaign.boost": 200 + 10}


async def test_an_ended_campaign_pays_for_activity_before_its_end_but_not_after(core: Core) -> None:
    await add_campaign(core, "boost", fixed=10)
    member = await new_member(core, "13800138001")
    await end_campaign(core, "boost", actor="admin", now=at(10))

    before_the_end = await buy(core, member, "R-1", at(9), "100.00")  # recorded late, after the end
    after_the_end = await buy(core, member, "R-2", at(11), "100.00")

    assert campaign_lines(before_the_end) == {"campaign.boost": 10}
    assert campaign_lines(after_the_end) == {}


# --- cross-format check-in ----------------------------------------------------------------------


async def test_a_cross_format_check_in_is_the_first_activity_this_month_in_a_format_after_another_one(core: Core) -> None:
    await add_campaign(core, "checkin", cross=50, ends=at(1, 0, month=2, year=2027))
    member = await new_member(core, "13800138001")

    first_format = await buy(core, member, "R-1", at(3), "100.00")
    second_format = await dine(core, member, "D-1", at(4), "100.00")
    same_format_again = await dine(core, member, "D-2", at(5), "100.00")
    back_to_the_first = await buy(core, member, "R-2", at(6), "100.00")
    new_month_first_format = await dine(core, member, "D-3", at(2, month=1, year=2027), "100.00")
    new_month_second_format = await buy(core, member, "R-3", at(3, month=1, year=2027), "100.00")

    bonuses = [
        campaign_lines(r).get("campaign.checkin", 0)
        for r in (first_format, second_format, same_format_again, back_to_the_first, new_month_first_format, new_month_second_format)
    ]
    assert bonuses == [0, 50, 0, 0, 0, 50]


# --- budget and per-member limit ----------------------------------------------------------------


async def test_a_budget_is_never_exceeded_by_concurrent_earns(core: Core) -> None:
    await add_campaign(core, "launch", fixed=100, budget=250)
    members = [await new_member(core, f"1380013{n:04d}") for n in range(8)]

    results = await asyncio.gather(*(buy(core, member, f"R-{n}", at(5), "10.00") for n, member in enumerate(members)))

    awards = sorted(campaign_lines(result).get("campaign.launch", 0) for result in results)
    assert awards == [0, 0, 0, 0, 0, 50, 100, 100]
    assert await issued(core, "launch") == 250
    capped = [line for result in results for line in result.lines if line["points"] == 50 and line["rule"] == "campaign.launch"]
    assert "capped at 50 pts, the rest of the campaign's budget" in capped[0]["reason"]
    assert sorted(result.points for result in results) == [10] * 5 + [60, 110, 110]
    assert await ledger_problems(core) == []


async def test_a_budget_shared_by_multiplier_awards_stops_exactly_at_its_cap_under_concurrency(core: Core) -> None:
    await add_campaign(core, "double", multiplier="2", budget=1000)
    members = [await new_member(core, f"1380013{n:04d}") for n in range(12)]
    amounts = [f"{37 + 13 * n}.00" for n in range(12)]  # 37, 50, 63 ... 180: 1302 base points in all

    results = await asyncio.gather(*(buy(core, m, f"R-{n}", at(5), amounts[n]) for n, m in enumerate(members)))

    assert sum(campaign_lines(result).get("campaign.double", 0) for result in results) == 1000
    assert await issued(core, "double") == 1000


async def test_a_member_limit_caps_what_one_member_gets_per_period(core: Core) -> None:
    await add_campaign(core, "weekend", fixed=30, limit=(50, LimitPeriod.MONTH), ends=at(1, 0, month=2, year=2027))
    member = await new_member(core, "13800138001")
    other = await new_member(core, "13800138002")

    awards = [
        campaign_lines(await buy(core, member, "R-1", at(3), "10.00")),
        campaign_lines(await buy(core, member, "R-2", at(4), "10.00")),
        campaign_lines(await buy(core, member, "R-3", at(5), "10.00")),
        campaign_lines(await buy(core, other, "R-4", at(5), "10.00")),
        campaign_lines(await buy(core, member, "R-5", at(3, month=1, year=2027), "10.00")),
    ]

    assert awards == [
        {"campaign.weekend": 30},
        {"campaign.weekend": 20},  # capped: 50 a month
        {},
        {"campaign.weekend": 30},  # another member's limit is its own
        {"campaign.weekend": 30},  # a new month
    ]
    async with core.db.read() as conn:
        usage = (await conn.execute(select(campaign_member_usage_table).order_by("member_id", "period"))).mappings().all()
    assert [(row["member_id"], row["period"], row["issued"]) for row in usage] == [
        (member, "2026-12", 50),
        (member, "2027-01", 30),
        (other, "2026-12", 30),
    ]


async def test_a_member_limit_holds_under_concurrent_earns_of_that_member(core: Core) -> None:
    await add_campaign(core, "once", fixed=40, limit=(100, LimitPeriod.CAMPAIGN))
    member = await new_member(core, "13800138001")

    results = await asyncio.gather(*(buy(core, member, f"R-{n}", at(5), "10.00") for n in range(5)))

    assert sorted(campaign_lines(r).get("campaign.once", 0) for r in results) == [0, 0, 20, 40, 40]


# --- where campaign points sit: lots, pending, refunds ------------------------------------------


async def test_campaign_points_wait_with_the_activitys_pending_points(core: Core) -> None:
    await add_campaign(core, "boost", multiplier="2", fixed=5)
    member = await new_member(core, "13800138001")

    sale = BoutiqueSaleInput(points_now=30, points_later=70, pending_days=14, sold_at=at(5))
    result = await earn(core, member, "B-1", sale, at(5) + timedelta(minutes=1), format_code="boutique", kind="sale")

    assert campaign_lines(result) == {"campaign.boost": 100 + 5}
    async with core.db.read() as conn:
        lots = (await conn.execute(select(lot_table.c.points, lot_table.c.pending).order_by(lot_table.c.id))).all()
    assert [tuple(lot) for lot in lots] == [(30, False), (70 + 105, True)]
    assert "available from 2026-12-19" in next(line["reason"] for line in result.lines if line["rule"] == "campaign.boost")


async def test_a_refund_claws_back_campaign_points_in_proportion(core: Core) -> None:
    await add_campaign(core, "member_day", multiplier="2", fixed=10, scope=scope(days_of_month=[18]))
    member = await new_member(core, "13800138001")
    purchase = await buy(core, member, "R-1", at(18), "200.00")
    assert purchase.points == 200 + 200 + 10

    refund = await refund_activity(
        core,
        RefundRequest(format="retail", amount=Money(100_00, "CNY"), idempotency_key="RF-1", original_key="R-1"),
        now=at(19),
    )

    assert refund.points == -(410 // 2)
    assert await issued(core, "member_day") == 210  # a refund does not give budget back
    assert await ledger_problems(core) == []


async def test_outcomes_say_why_a_campaign_in_scope_paid_nothing(core: Core) -> None:
    await add_campaign(core, "spent", fixed=10, budget=10)
    await add_campaign(core, "limited", fixed=10, limit=(10, LimitPeriod.CAMPAIGN))
    member = await new_member(core, "13800138001")
    assert campaign_lines(await buy(core, member, "R-1", at(3), "10.00")) == {"campaign.limited": 10, "campaign.spent": 10}
    await add_campaign(core, "stacking", fixed=3)
    await add_campaign(core, "top", fixed=1, stacking=Stacking.EXCLUSIVE, priority=1)

    preview = await preview_earn(
        core, MemberRef(member_id=member), "retail", "purchase", retail_purchase(purchased_at=at(4)), now=at(4, 13)
    )

    assert [(r.campaign.code, r.outcome, r.points) for r in preview.plan.campaigns] == [
        ("top", Outcome.AWARDED, 1),
        ("limited", Outcome.MEMBER_LIMIT_REACHED, 0),
        ("spent", Outcome.BUDGET_SPENT, 0),
        ("stacking", Outcome.OUTRANKED, 0),
    ]
