"""A member's forecast: at its recent pace, its points, growth and tier in 12 months, and what it can buy then.

"Quantify the value" (DOMAIN.md): a concrete forecast motivates where vague points do not. The
method, which the member's app can explain in one sentence per step:

1. **Recent pace, per format.** Over the :data:`RECENT_DAYS` (90) days before now, the points and
   growth value each format's activities gave the member (earns, net of their refunds; a refund
   counts at the date of the activity it refunds, as tiers count it), for the member and every
   record merged into it. Redemptions and admin adjustments are not activity and do not count.
2. **Projection.** The next 12 months (now to the same local time 12 months later, group time
   zone) repeat that pace: per format, ``floor(recent × horizon / 90 days)`` points and growth
   (a year of 365 days gives ``recent × 365 / 90``). Negative paces (more refunded than earned)
   count as zero.
3. **Projected balance** = points available and pending now − points of today's lots that expire
   before the horizon + projected points − projected points that would themselves expire before
   it (the projection earns in 12 equal monthly instalments, each at the middle of its month,
   under the group's expiry policy; none do under the default 24 months). It assumes the member
   saves: nothing is redeemed meanwhile. Held points are left out.
4. **Projected tier.** The qualifying standing at the horizon is the growth value in the ladder's
   rolling window ending then: the projected growth that falls in it (all of it for a 12-month
   window) plus growth already recorded that will still be in it (windows longer than 12 months),
   and the formats the member earns in (its recent formats and those already recorded in the
   window). The projected tier is the highest tier that standing reaches (threshold and breadth
   rule), or the current tier if higher and the standing keeps it (its retention threshold). Grace
   periods and one-step downgrades are not simulated.
5. **Rewards.** Every reward of the catalogue whose cost the projected balance covers and whose
   minimum tier the projected tier meets, dearest first, with how many units the balance buys and
   whether the member can already redeem one today.

A member with no recent activity gets zero pace and its current balance (less what expires);
nothing is an error. Two queries: the activity aggregate and the expiring lots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core import Core
from gateway.ledger.lots import lot_expires_at
from gateway.members import MemberRow
from gateway.persistence.models import lot_table, member_table, posting_table
from gateway.plugin_api import RedemptionType, TierInfo
from gateway.tiers import Ladder, Standing

RECENT_DAYS = 90
HORIZON_MONTHS = 12
INSTALMENTS = 12


@dataclass(frozen=True)
class FormatPace:
    """One format's recent activity and what it projects over the horizon."""

    format: str
    activities: int
    points: int
    growth: int
    projected_points: int
    projected_growth: int


@dataclass(frozen=True)
class RewardForecast:
    """A reward the projected balance buys: ``units`` of it, and whether one is affordable today."""

    reward: RedemptionType
    units: int
    affordable_now: bool


@dataclass(frozen=True)
class Forecast:
    """The forecast of one member at ``now`` (see the module docstring for each figure)."""

    now: datetime
    recent_since: datetime
    horizon: datetime
    formats: tuple[FormatPace, ...]
    balance: int
    expiring: int
    projected_points: int
    projected_expiring: int
    projected_balance: int
    projected_growth: int
    standing: Standing
    projected_tier: TierInfo
    rewards: tuple[RewardForecast, ...]


_p, _o, _m = posting_table.alias("p"), posting_table.alias("o"), member_table.alias("m")


async def _activity(conn: AsyncConnection, member_id: int, *, since: datetime, window_since: datetime, now: datetime) -> list[Any]:
    """Per format: recent earns, recent points and growth (net of refunds), growth and earns since ``window_since``."""
    day = func.coalesce(_o.c.occurred_at, _p.c.occurred_at)
    recent = day >= since
    in_window = day >= window_since
    earn = _p.c.kind == "earn"
    activity = _p.c.kind.in_(("earn", "reverse"))
    counted = _p.c.kind != "merge"
    owned = (_m.c.id == member_id) | (_m.c.merged_into_id == member_id)
    query = (
        select(
            _p.c.format,
            func.sum(case((recent & earn, 1), else_=0)).label("activities"),
            func.sum(case((recent & activity, _p.c.points), else_=0)).label("points"),
            func.sum(case((recent & counted, _p.c.growth), else_=0)).label("growth"),
            func.sum(case((in_window & counted, _p.c.growth), else_=0)).label("window_growth"),
            func.sum(case((in_window & earn, 1), else_=0)).label("window_earns"),
        )
        .select_from(_m.join(_p, _p.c.member_id == _m.c.id).outerjoin(_o, _o.c.id == _p.c.reverses_posting_id))
        .where(owned & (day >= min(since, window_since)) & (day < now) & (activity | (_p.c.growth != 0)))
        .group_by(_p.c.format)
    )
    return list((await conn.execute(query)).all())


async def _expiring(conn: AsyncConnection, member_id: int, horizon: datetime) -> int:
    """Points in the member's lots (pending included) that expire by ``horizon``."""
    total = await conn.scalar(
        select(func.coalesce(func.sum(lot_table.c.remaining), 0)).where(
            (lot_table.c.member_id == member_id) & (lot_table.c.remaining > 0) & (lot_table.c.expires_at <= horizon)
        )
    )
    return int(total or 0)


def _share(amount: int, part: timedelta, whole: timedelta) -> int:
    """``floor(amount × part / whole)`` exactly (integer microseconds)."""
    if amount <= 0 or part <= timedelta(0):
        return 0
    return amount * (part // timedelta(microseconds=1)) // (whole // timedelta(microseconds=1))


def _projected_expiring(core: Core, points: int, now: datetime, horizon: datetime) -> int:
    """Of ``points`` earned evenly over ``[now, horizon)`` in monthly instalments, those expiring by ``horizon``."""
    lost = 0
    span = (horizon - now) / INSTALMENTS
    for k in range(INSTALMENTS):
        instalment = points * (k + 1) // INSTALMENTS - points * k // INSTALMENTS
        if instalment and lot_expires_at(core.settings, now + span * k + span / 2) <= horizon:
            lost += instalment
    return lost


def _projected_tier(ladder: Ladder, current_code: str, standing: Standing) -> TierInfo:
    reached = ladder.reached(standing)
    if current_code in ladder:
        current = ladder.rule(current_code)
        if current.rank > reached.rank and current.kept_by(standing):
            return current.info
    return reached


async def member_forecast(core: Core, ladder: Ladder, member: MemberRow, *, now: datetime) -> Forecast:
    """The member's forecast at ``now`` (module docstring); zeros, not errors, without recent activity."""
    now = now.astimezone(UTC)
    zone = core.settings.zone
    since = now - timedelta(days=RECENT_DAYS)
    horizon = (now.astimezone(zone) + relativedelta(months=HORIZON_MONTHS)).astimezone(UTC)
    window_since = ladder.policy.window_start(horizon, zone)
    async with core.db.read() as conn:
        rows = await _activity(conn, member.id, since=since, window_since=window_since, now=now)
        expiring = await _expiring(conn, member.id, horizon)
    recent, ahead = timedelta(days=RECENT_DAYS), horizon - now
    paces = []
    window_growth = 0
    formats: set[str] = set()
    for row in sorted(rows, key=lambda row: row.format):
        points, growth = max(int(row.points), 0), max(int(row.growth), 0)
        window_growth += int(row.window_growth)
        if int(row.window_earns):
            formats.add(row.format)
        if int(row.activities) == 0 and points == 0 and growth == 0:
            continue
        if int(row.activities):
            formats.add(row.format)
        paces.append(FormatPace(row.format, int(row.activities), points, growth, _share(points, ahead, recent), _share(growth, ahead, recent)))
    projected_points = sum(pace.projected_points for pace in paces)
    projected_growth = sum(pace.projected_growth for pace in paces)
    projected_expiring = _projected_expiring(core, projected_points, now, horizon)
    balance = member.available_points + member.pending_points
    projected_balance = max(balance - expiring + projected_points - projected_expiring, 0)
    in_window = _share(projected_growth, horizon - max(now, window_since), ahead)
    standing = Standing(growth=max(window_growth, 0) + in_window, formats=len(formats))
    tier = _projected_tier(ladder, member.tier_code, standing)
    current_rank = ladder.get(member.tier_code).rank if member.tier_code in ladder else 0
    rewards = []
    for item in core.registry.redemption_types.values():
        needed = ladder.get(item.min_tier).rank if item.min_tier and item.min_tier in ladder else 0
        if item.points <= projected_balance and needed <= tier.rank:
            affordable = item.points <= member.available_points and needed <= current_rank
            rewards.append(RewardForecast(item, projected_balance // item.points, affordable))
    rewards.sort(key=lambda forecast: (-forecast.reward.points, forecast.reward.format, forecast.reward.code))
    return Forecast(
        now=now,
        recent_since=since,
        horizon=horizon,
        formats=tuple(paces),
        balance=balance,
        expiring=expiring,
        projected_points=projected_points,
        projected_expiring=projected_expiring,
        projected_balance=projected_balance,
        projected_growth=projected_growth,
        standing=standing,
        projected_tier=tier,
        rewards=tuple(rewards),
    )

