"""Closing settlement periods in GraphQL, and the drift check over closed ones (admins only).

``closeSettlementPeriod`` stores a period's figures for good (:mod:`gateway.settlement.closing`);
``settlementDrift`` recomputes closed periods and lists every figure that no longer matches
(:mod:`gateway.settlement.drift`).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info
from strawberry.utils.str_converters import to_camel_case

from gateway.auth import Role
from gateway.errors import AtriumError
from gateway.graphql.context import Context, as_graphql_error
from gateway.graphql.mutations import as_payload
from gateway.graphql.scalars import BigInt
from gateway.graphql.settlement import (
    Settlement,
    SettlementPeriodInput,
    settlement_from_report,
)
from gateway.graphql.types import UserError
from gateway.settlement.closing import close_settlement_period
from gateway.settlement.drift import Difference, PeriodDrift, settlement_drift


@strawberry.input(description="Close a settlement period: whole days in the group's time zone, both included, once it is over.")
class CloseSettlementPeriodInput:
    from_: date = strawberry.field(name="from", description="First day of the period.")
    to: date = strawberry.field(description="Last day of the period (included); the period must have ended.")
    reason: str = strawberry.field(description="Why, for the audit log (1 to 500 characters), e.g. \"November paid\".")


@strawberry.type(description="The closed period's stored figures (`closed` is true).")
class CloseSettlementPeriodPayload:
    settlement: Settlement | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="One figure of a closed period that recomputes differently from the ledger now.")
class SettlementDifference:
    section: str = strawberry.field(description="`redemption`, `clawback` (a matrix cell), `party` or `liability`.")
    figure: str = strawberry.field(
        description="The figure: `points` or `value` (minor units) of a cell; a party's field as in `SettlementParty` "
        "(`issued`, `closingLiability`, `receivable` in minor units, `net` ...); a liability line's `available`, `pending` or `held` points."
    )
    format: str | None = strawberry.field(description="The cell's issuer, the party, or the liability line's issuer.")
    counterparty: str | None = strawberry.field(description="The cell's redeemer or refunder.")
    price_per_point: Decimal | None = strawberry.field(description="The cell's price.")
    month: str | None = strawberry.field(description="The liability line's expiry month.")
    closed: BigInt = strawberry.field(description="As stored when the period was closed.")
    recomputed: BigInt = strawberry.field(description="As the ledger gives it now.")

    @classmethod
    def from_difference(cls, difference: Difference) -> SettlementDifference:
        """The GraphQL view of a difference."""
        return cls(
            section=difference.section,
            figure=to_camel_case(difference.figure),
            format=difference.format,
            counterparty=difference.counterparty,
            price_per_point=difference.price,
            month=difference.month,
            closed=BigInt(difference.closed),
            recomputed=BigInt(difference.recomputed),
        )


@strawberry.type(description="A closed period recomputed: `matches` unless the ledger changed behind the gateway.")
class ClosedPeriodDrift:
    from_: date = strawberry.field(name="from")
    to: date
    closed_at: datetime
    closed_by: str
    matches: bool
    differences: list[SettlementDifference]

    @classmethod
    def from_drift(cls, drift: PeriodDrift) -> ClosedPeriodDrift:
        """The GraphQL view of one period's check."""
        closing = drift.closed.closing
        assert closing is not None
        return cls(
            from_=drift.closed.period.first,
            to=drift.closed.period.last,
            closed_at=closing.closed_at,
            closed_by=closing.closed_by,
            matches=drift.matches,
            differences=[SettlementDifference.from_difference(item) for item in drift.differences],
        )


@strawberry.type(description="The drift check: every closed period (in the range asked) recomputed from the ledger.")
class SettlementDriftCheck:
    checked_at: datetime
    drifted: bool = strawberry.field(description="True when any closed period's figures recompute differently.")
    periods: list[ClosedPeriodDrift] = strawberry.field(description="Closed periods, earliest first.")


@strawberry.type
class SettlementClosingMutation:
    @strawberry.mutation(
        description="Close a settlement period (admin only): its figures are stored for good and the `settlement` query "
        "and CSV export return them from then on; audited. A period sharing a day with a closed one is PERIOD_CLOSED."
    )
    async def close_settlement_period(self, info: Info[Context, None], input: CloseSettlementPeriodInput) -> CloseSettlementPeriodPayload:
        async def work() -> CloseSettlementPeriodPayload:
            principal = info.context.require_role(Role.ADMIN)
            report = await close_settlement_period(
                info.context.core,
                first=input.from_,
                last=input.to,
                actor=principal.subject,
                reason=input.reason,
                now=info.context.now(),
                field="input",
            )
            return CloseSettlementPeriodPayload(settlement=settlement_from_report(report))

        return await as_payload(CloseSettlementPeriodPayload, work)


@strawberry.type
class SettlementClosingQuery:
    @strawberry.field(
        description="Recompute closed settlement periods and list the figures that changed since they were closed "
        "(admin tokens): a finance control."
    )
    async def settlement_drift(
        self,
        info: Info[Context, None],
        period: Annotated[
            SettlementPeriodInput | None,
            strawberry.argument(description="Check the closed periods sharing a day with this one; every closed period when omitted."),
        ] = None,
    ) -> SettlementDriftCheck:
        try:
            info.context.require_role(Role.ADMIN)
        except AtriumError as exc:
            raise as_graphql_error(exc) from None
        first, last = (period.from_, period.to) if period is not None else (None, None)
        checked = await settlement_drift(info.context.core, first, last)
        return SettlementDriftCheck(
            checked_at=info.context.now(),
            drifted=any(not drift.matches for drift in checked),
            periods=[ClosedPeriodDrift.from_drift(drift) for drift in checked],
        )
