"""The member's forecast in GraphQL: ``Member.forecast`` (the method is :mod:`gateway.forecast`'s docstring)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from gateway.forecast import RECENT_DAYS, Forecast, member_forecast
from gateway.graphql.context import Context
from gateway.graphql.types import Reward, Tier
from gateway.members import MemberRow

METHOD = (
    f"At the member's pace of the last {RECENT_DAYS} days, per format (earns net of refunds), over the next 12 months: "
    f"projected points = floor(recent points × days ahead / {RECENT_DAYS}); projected balance = available and pending "
    "points now − points expiring before then + projected points − projected points that would expire before then "
    "(nothing redeemed meanwhile); projected tier = the highest tier the growth in the ladder's rolling window at that "
    "date reaches (or the current one, if it keeps it); rewards = the catalogue items that balance buys at that tier. "
    "No recent activity: zeros."
)


@strawberry.type(description="One format's recent activity and what it projects over the next 12 months.")
class FormatForecast:
    format: str
    activities: int = strawberry.field(description=f"Earns in the last {RECENT_DAYS} days.")
    recent_points: int = strawberry.field(description=f"Points those activities gave, net of refunds (last {RECENT_DAYS} days).")
    recent_growth: int
    projected_points: int = strawberry.field(description=f"recentPoints × days ahead / {RECENT_DAYS}, rounded down.")
    projected_growth: int


@strawberry.type(description="A reward the projected balance buys.")
class ForecastReward:
    reward: Reward
    units: int = strawberry.field(description="How many the projected balance pays for.")
    affordable_now: bool = strawberry.field(description="Whether the member can already redeem one today.")


@strawberry.type(description=METHOD)
class MemberForecast:
    recent_since: datetime = strawberry.field(description=f"Start of the recent window ({RECENT_DAYS} days before now).")
    horizon: datetime = strawberry.field(description="The date the forecast projects to: 12 months from now.")
    formats: list[FormatForecast] = strawberry.field(description="Per format with recent activity.")
    balance: int = strawberry.field(description="Points available and pending now.")
    expiring_points: int = strawberry.field(description="Of those, points that expire before the horizon unless spent.")
    projected_points: int = strawberry.field(description="Points the next 12 months earn at the recent pace.")
    projected_expiring_points: int = strawberry.field(description="Of the projected points, those that would expire before the horizon.")
    projected_balance: int = strawberry.field(
        description="balance − expiringPoints + projectedPoints − projectedExpiringPoints (never below 0)."
    )
    projected_growth: int = strawberry.field(description="Growth value the next 12 months earn at the recent pace.")
    projected_qualifying_growth: int = strawberry.field(description="Growth value in the ladder's rolling window at the horizon.")
    projected_formats: int = strawberry.field(description="Formats the member earns in within that window (breadth rules).")
    projected_tier: Tier
    rewards: list[ForecastReward] = strawberry.field(description="What the projected balance buys, dearest first.")
    method: str = strawberry.field(description="How the forecast is made, in words.")


def forecast_view(forecast: Forecast, info: Info[Context, None]) -> MemberForecast:
    """The GraphQL view of a forecast."""
    return MemberForecast(
        recent_since=forecast.recent_since,
        horizon=forecast.horizon,
        formats=[
            FormatForecast(
                format=pace.format,
                activities=pace.activities,
                recent_points=pace.points,
                recent_growth=pace.growth,
                projected_points=pace.projected_points,
                projected_growth=pace.projected_growth,
            )
            for pace in forecast.formats
        ],
        balance=forecast.balance,
        expiring_points=forecast.expiring,
        projected_points=forecast.projected_points,
        projected_expiring_points=forecast.projected_expiring,
        projected_balance=forecast.projected_balance,
        projected_growth=forecast.projected_growth,
        projected_qualifying_growth=forecast.standing.growth,
        projected_formats=forecast.standing.formats,
        projected_tier=Tier.from_info(forecast.projected_tier),
        rewards=[
            ForecastReward(reward=Reward.from_item(item.reward, info), units=item.units, affordable_now=item.affordable_now)
            for item in forecast.rewards
        ],
        method=METHOD,
    )


async def member_forecast_field(info: Info[Context, None], row: MemberRow) -> MemberForecast:
    """Resolve ``Member.forecast`` at the request's clock."""
    forecast = await member_forecast(info.context.core, await info.context.ladder(), row, now=info.context.now())
    return forecast_view(forecast, info)
