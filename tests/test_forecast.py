"""The member's forecast, computed by hand for a scripted member (group in UTC, default ladder).

The forecast is made on 2026-11-20 12:00 UTC: the recent window starts 90 days earlier (2026-08-22
12:00) and the horizon is 2027-11-20 12:00, 365 days ahead. The member:

- 2026-05-01 retail ¥300 -> 300 pts (before the window: no pace);
- 2026-09-01 retail ¥600 -> 600; 2026-10-01 retail ¥300 -> 300; 2026-10-15 dining ¥450 -> 450;
- 2026-11-01 refund of ¥100 of the October 1 receipt: -100 pts and growth, counted on October 1;
- 2026-11-05 a dessert at dining, 800 pts: not activity.

Pace: retail 600 + 300 - 100 = 800 points and growth over 2 activities, dining 450 over 1.
Projected: retail floor(800 × 365 / 90) = 3244, dining floor(450 × 365 / 90) = 1825: 5069 points
and growth. Balance now 300 + 600 + 300 + 450 - 100 - 800 = 750; nothing expires before 2028
(24 months rolling). Projected balance 750 + 5069 = 5819. Growth in the 12-month window at the
horizon: 5069, two formats -> Silver (2,000; Gold needs 6,000). 5819 points buy 5 CN¥10 vouchers
(1000), 7 desserts (800) or 19 parking hours (300); today only parking (750 ≥ 300).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from dateutil.relativedelta import relativedelta

from gateway.core import Core
from gateway.forecast import Forecast, member_forecast
from gateway.ledger.postings import MemberRef
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.reverse import RefundRequest, refund_activity
from gateway.members import get_members
from gateway.money import Money
from gateway.settings import Settings
from gateway.tier_config import set_policy
from gateway.tiers import TierPolicy, current_ladder
from tests.conftest import Backend
from tests.helpers import dining_bill, earn, enrol_phone, retail_purchase
from tests.http.graphql import caller

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


async def _scripted_member(core: Core) -> int:
    member = await enrol_phone(core, "13800138000", utc(2026, 4, 1))
    assert (await earn(core, member, "R-MAY", retail_purchase([("A", "grocery", 1, "300.00")]), utc(2026, 5, 1))).points == 300
    assert (await earn(core, member, "R-SEP", retail_purchase([("A", "grocery", 1, "600.00")]), utc(2026, 9, 1))).points == 600
    assert (await earn(core, member, "R-OCT", retail_purchase([("A", "grocery", 1, "300.00")]), utc(2026, 10, 1))).points == 300
    dinner = await earn(core, member, "D-OCT", dining_bill("450.00"), utc(2026, 10, 15), format_code="dining", kind="bill")
    assert dinner.points == 450
    refund = RefundRequest(format="retail", amount=Money(10000, "CNY"), idempotency_key="RF-1", original_key="R-OCT")
    assert (await refund_activity(core, refund, now=utc(2026, 11, 1))).points == -100
    dessert = RedeemRequest(MemberRef(member_id=member), "dining", "dessert_voucher", 1, "DES-1")
    assert (await redeem(core, dessert, now=utc(2026, 11, 5))).balance_after == 750
    return member


async def _forecast(core: Core, member: int, now: datetime = NOW) -> Forecast:
    async with core.db.read() as conn:
        (row,) = await get_members(conn, [member], now=now)
    assert row is not None
    return await member_forecast(core, await current_ladder(core), row, now=now)


async def test_the_forecast_of_a_scripted_member_equals_the_one_computed_by_hand(core: Core) -> None:
    member = await _scripted_member(core)

    forecast = await _forecast(core, member)

    assert forecast.recent_since == utc(2026, 8, 22) and forecast.horizon == utc(2027, 11, 20)
    assert [(p.format, p.activities, p.points, p.growth, p.projected_points, p.projected_growth) for p in forecast.formats] == [
        ("dining", 1, 450, 450, 1825, 1825),
        ("retail", 2, 800, 800, 3244, 3244),
    ]
    assert (forecast.balance, forecast.expiring, forecast.projected_points, forecast.projected_expiring) == (750, 0, 5069, 0)
    assert forecast.projected_balance == 5819
    assert (forecast.projected_growth, forecast.standing.growth, forecast.standing.formats) == (5069, 5069, 2)
    assert forecast.projected_tier.code == "silver"
    assert [(r.reward.format, r.reward.code, r.units, r.affordable_now) for r in forecast.rewards] == [
        ("retail", "voucher_10", 5, False),
        ("dining", "dessert_voucher", 7, False),
        ("property", "parking_hour", 19, True),
    ]


async def test_a_longer_tier_window_counts_the_growth_already_recorded_in_it(core: Core) -> None:
    member = await _scripted_member(core)
    await set_policy(core, TierPolicy(window_months=24), actor="admin", reason="two-year window", now=NOW)

    forecast = await _forecast(core, member)

    # The window at the horizon starts 2025-11-20: all 1,550 growth recorded so far still counts.
    assert (forecast.standing.growth, forecast.standing.formats) == (1550 + 5069, 2)
    assert forecast.projected_tier.code == "gold"


async def test_a_member_without_recent_activity_gets_zeros_not_an_error(core: Core) -> None:
    member = await enrol_phone(core, "13800138000", utc(2026, 1, 1))
    await earn(core, member, "R-OLD", retail_purchase([("A", "grocery", 1, "300.00")]), utc(2026, 5, 1))

    forecast = await _forecast(core, member)

    assert forecast.formats == ()
    assert (forecast.projected_points, forecast.projected_growth, forecast.standing.growth) == (0, 0, 0)
    assert forecast.projected_balance == 300
    assert forecast.projected_tier.code == "member"
    assert [(r.reward.code, r.units) for r in forecast.rewards] == [("parking_hour", 1)]


@pytest.fixture
def expiry_policy() -> dict[str, object]:
    """Settings overrides of the expiry policy; the default policy unless a test parametrizes it."""
    return {}


@pytest.fixture
def settings(backend: Backend, expiry_policy: dict[str, object]) -> Settings:
    return Settings(database_url=backend.url, plugins=None, _env_file=None, **expiry_policy)  # type: ignore[arg-type]


@pytest.mark.parametrize("expiry_policy", [{"points_expiry_policy": "end_of_month", "points_expiry_n": 0}])
async def test_points_that_expire_before_the_horizon_are_left_out_under_month_end_expiry(core: Core) -> None:
    member = await enrol_phone(core, "13800138000", utc(2026, 11, 1))
    await earn(core, member, "R-1", retail_purchase([("A", "grocery", 1, "90.00")]), utc(2026, 11, 10))

    forecast = await _forecast(core, member)

    # Projected 90 × 365 / 90 = 365 points in 12 instalments; each expires at the end of its month,
    # so only the last one (365 - floor(365 × 11 / 12) = 31, earned in November 2027) is still there.
    # Today's 90 points expire on December 1.
    assert (forecast.balance, forecast.expiring, forecast.projected_points, forecast.projected_expiring) == (90, 90, 365, 334)
    assert forecast.projected_balance == 31


async def test_a_member_reads_its_forecast_over_graphql(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    now = datetime.now(UTC)
    member = await enrol_phone(core, "13800138000", now - timedelta(days=3))
    await earn(core, member, "R-1", retail_purchase([("A", "grocery", 1, "90.00")]), now - timedelta(days=2))
    me = caller(client, settings, "member", member_id=member)

    forecast = (await me.data(
        "{ me { forecast { recentSince horizon balance projectedPoints projectedBalance projectedTier { code } "
        "formats { format activities recentPoints projectedPoints } rewards { reward { id } units affordableNow } method } } }"
    ))["me"]["forecast"]

    asked_at = datetime.fromisoformat(forecast["recentSince"]) + timedelta(days=90)
    ahead = datetime.fromisoformat(forecast["horizon"]) - asked_at
    assert datetime.fromisoformat(forecast["horizon"]) == asked_at + relativedelta(months=12)
    projected = 90 * (ahead // timedelta(microseconds=1)) // (timedelta(days=90) // timedelta(microseconds=1))
    assert forecast["formats"] == [{"format": "retail", "activities": 1, "recentPoints": 90, "projectedPoints": projected}]
    assert (forecast["balance"], forecast["projectedPoints"], forecast["projectedBalance"]) == (90, projected, 90 + projected)
    assert forecast["projectedTier"] == {"code": "member"}
    assert {"reward": {"id": "property.parking_hour"}, "units": (90 + projected) // 300, "affordableNow": False} in forecast["rewards"]
    assert "90 days" in forecast["method"]
