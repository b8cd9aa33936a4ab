"""GraphQL types of a member's points: open lots and points expiring by month."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from gateway.errors import AtriumError, ErrorCode
from gateway.graphql.context import Context, as_graphql_error
from gateway.ledger.expiry import MAX_EXPIRING_MONTHS, expiring_by_month
from gateway.ledger.lots import open_lots


@strawberry.type(description="An open lot: points from one earn, who issued them and when they expire.")
class PointsLot:
    format: str = strawberry.field(description="The issuing format's code; `group` for points the group credited.")
    points: int
    remaining: int
    earned_at: datetime
    available_at: datetime
    expires_at: datetime
    pending: bool = strawberry.field(description="True until `availableAt`: these points cannot be spent yet.")


@strawberry.type(description="Points that expire in one calendar month unless spent first.")
class ExpiringPoints:
    month: str = strawberry.field(description="The month, e.g. \"2027-03\", in the group's time zone.")
    points: int


async def member_lots(info: Info[Context, None], member_id: int) -> list[PointsLot]:
    """The member's open lots, first-expiring first. One query."""
    async with info.context.core.db.read() as conn:
        lots = await open_lots(conn, member_id, now=info.context.now())
    return [PointsLot(**lot.__dict__) for lot in lots]


async def member_expiring_points(info: Info[Context, None], member_id: int, months: int) -> list[ExpiringPoints]:
    """Points expiring in each of the next ``months`` months, months without any left out. One query."""
    if not 1 <= months <= MAX_EXPIRING_MONTHS:
        raise as_graphql_error(
            AtriumError(ErrorCode.INVALID_INPUT, f"months must be 1 to {MAX_EXPIRING_MONTHS}.", "months")
        )
    core = info.context.core
    async with core.db.read() as conn:
        totals = await expiring_by_month(conn, core.settings, member_id, now=info.context.now(), months=months)
    return [ExpiringPoints(month=month, points=points) for month, points in totals]
