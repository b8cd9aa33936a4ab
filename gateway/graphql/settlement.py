"""Settlement between business units in GraphQL: the period's report and the transfer prices, for admins.

Point aggregates are ``BigInt`` (:mod:`gateway.graphql.scalars`): a group's monthly totals pass
GraphQL's 32-bit ``Int``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from gateway.auth import Role
from gateway.errors import AtriumError
from gateway.graphql.context import Context, as_graphql_error
from gateway.graphql.scalars import BigInt
from gateway.money import Money
from gateway.settlement.closing import period_settlement
from gateway.settlement.liability import LiabilityLine
from gateway.settlement.prices import TransferPrice as PriceRow
from gateway.settlement.prices import default_price, today, transfer_prices
from gateway.settlement.report import (
    Cell,
    PartySettlement,
    SettlementReport,
)

MONEY = "in major units of the settlement's `currency`, e.g. 19.75"


@strawberry.input(description="Whole days in the group's time zone, both included: {from: \"2026-11-01\", to: \"2026-11-30\"}.")
class SettlementPeriodInput:
    from_: date = strawberry.field(name="from", description="First day of the period.")
    to: date = strawberry.field(description="Last day of the period (included).")


@strawberry.type(
    description="Points issued by `issuer` and redeemed at `redeemer` in the period (net of cancellations), at one price: "
    "a pair whose transfer price changed within the period has one row per price, each valued at the price in force "
    "on the days its postings were booked."
)
class SettlementRedemption:
    issuer: str = strawberry.field(description="The format that issued the points (`group` for admin credits).")
    redeemer: str = strawberry.field(description="The format that honoured them and is owed their value.")
    points: BigInt
    price_per_point: Decimal = strawberry.field(description="The pair's transfer price when the points were booked, minor units per point.")
    value: Decimal = strawberry.field(description=f"points × price, rounded half up to a whole minor unit, {MONEY}.")


@strawberry.type(
    description="Points issued by `issuer` and taken back by a refund at `refunder` in the period: not a redemption. "
    "When the issuer is another format (the member had spent the refunded points elsewhere), it owes the refunder their value."
)
class SettlementClawback:
    issuer: str
    refunder: str = strawberry.field(description="The format whose refund took the points (its issuance is credited).")
    points: BigInt
    price_per_point: Decimal
    value: Decimal = strawberry.field(description=f"points × price, rounded half up to a whole minor unit, {MONEY}.")


@strawberry.type(description="One format's (or the group's) period: how its points moved, and what it pays and receives.")
class SettlementParty:
    format: str = strawberry.field(description="A format code, or `group` (admin credits, adjustments).")
    opening_liability: BigInt = strawberry.field(description="Points it had issued still owed to members when the period began.")
    issued: BigInt = strawberry.field(description="Points it issued in the period (lots created).")
    redeemed: BigInt = strawberry.field(description="Its points redeemed in any format.")
    honoured: BigInt = strawberry.field(description="Points of any issuer redeemed at this format.")
    clawed_back: BigInt = strawberry.field(description="Its points taken back by refunds (its own refunds' and other formats').")
    claws: BigInt = strawberry.field(description="Points of any issuer its refunds took back.")
    expired: BigInt
    adjusted: BigInt = strawberry.field(description="Its points removed by admin debits.")
    other: BigInt = strawberry.field(description="Points drawn by postings of a kind settlement does not classify (should be 0).")
    closing_liability: BigInt = strawberry.field(
        description="openingLiability + issued − redeemed − clawedBack − expired − adjusted − other."
    )
    receivable: Decimal = strawberry.field(description=f"Owed to it by other issuers, {MONEY}.")
    payable: Decimal = strawberry.field(description=f"It owes other formats, {MONEY}.")
    net: Decimal = strawberry.field(description=f"receivable − payable, {MONEY}: positive, it is paid; negative, it pays.")


@strawberry.type(description="The period's totals; the parties' nets sum to zero.")
class SettlementTotals:
    issued: BigInt
    redeemed: BigInt
    clawed_back: BigInt
    expired: BigInt
    adjusted: BigInt
    redemption_value: Decimal = strawberry.field(description=f"Every redemption cell's value, own-format ones included, {MONEY}.")
    clawback_value: Decimal = strawberry.field(description=f"Every clawback cell's value, {MONEY}.")
    settled_value: Decimal = strawberry.field(
        description=f"What changes hands: off-diagonal cells of both matrices (= Σ payable = Σ receivable), {MONEY}."
    )
    net_sum: Decimal = strawberry.field(description="Σ net over the parties: always 0.")


@strawberry.type(description="Points owed to members: available in lots, pending (not yet available) and held by open holds.")
class SettlementLiabilityLine:
    format: str | None = strawberry.field(description="Issuing format; null on a per-month total.")
    month: str | None = strawberry.field(description="`YYYY-MM` of the points' last valid day (group time zone); null on a per-format total.")
    points: BigInt = strawberry.field(description="Everything owed: available + pending + held.")
    pending_points: BigInt
    held_points: BigInt


@strawberry.type(description="Outstanding liability at the end of the period: points still in lots (pending included) and held.")
class SettlementLiability:
    as_of: datetime
    points: BigInt
    pending_points: BigInt
    held_points: BigInt
    by_format: list[SettlementLiabilityLine]
    by_expiry_month: list[SettlementLiabilityLine]
    lines: list[SettlementLiabilityLine] = strawberry.field(description="By issuing format and expiry month.")


@strawberry.type(description="Settlement between business units for a period (see the README's Settlement section).")
class Settlement:
    from_: date = strawberry.field(name="from")
    to: date
    starts_at: datetime = strawberry.field(description="The period's first instant (midnight of `from` in `timezone`).")
    ends_at: datetime = strawberry.field(description="The instant after the period (midnight after `to`).")
    timezone: str
    currency: str
    default_price_per_point: Decimal = strawberry.field(
        description="The group default transfer price in force on `from`, minor units per point."
    )
    redemptions: list[SettlementRedemption] = strawberry.field(description="The matrix: issuer × redeemer (× price).")
    clawbacks: list[SettlementClawback] = strawberry.field(description="Issuer × refunding format (× price).")
    formats: list[SettlementParty]
    totals: SettlementTotals
    liability: SettlementLiability
    closed: bool = strawberry.field(
        description="True: the period is closed (`closeSettlementPeriod`) and these are the figures stored then; "
        "false: computed now from the ledger."
    )
    closed_at: datetime | None = strawberry.field(description="When the period was closed; null while open.")
    closed_by: str | None = strawberry.field(description="Who closed it (the admin token's subject); null while open.")


def _money(minor: int, currency: str) -> Decimal:
    return Money(minor, currency).amount


def _line(format_code: str | None, month: str | None, lines: list[LiabilityLine]) -> SettlementLiabilityLine:
    return SettlementLiabilityLine(
        format=format_code,
        month=month,
        points=sum(line.points for line in lines),
        pending_points=sum(line.pending for line in lines),
        held_points=sum(line.held for line in lines),
    )


def _liability(report: SettlementReport) -> SettlementLiability:
    lines = list(report.liability)
    formats = sorted({line.issuer for line in lines})
    months = sorted({line.month for line in lines if line.month})
    return SettlementLiability(
        as_of=report.period.ends_at,
        points=sum(line.points for line in lines),
        pending_points=sum(line.pending for line in lines),
        held_points=sum(line.held for line in lines),
        by_format=[_line(code, None, [line for line in lines if line.issuer == code]) for code in formats],
        by_expiry_month=[_line(None, month, [line for line in lines if line.month == month]) for month in months],
        lines=[_line(line.issuer, line.month, [line]) for line in lines],
    )


def _party(party: PartySettlement, currency: str) -> SettlementParty:
    return SettlementParty(
        format=party.code,
        opening_liability=party.opening_liability,
        issued=party.issued,
        redeemed=party.redeemed,
        honoured=party.honoured,
        clawed_back=party.clawed_back,
        claws=party.claws,
        expired=party.expired,
        adjusted=party.adjusted,
        other=party.other,
        closing_liability=party.closing_liability,
        receivable=_money(party.receivable, currency),
        payable=_money(party.payable, currency),
        net=_money(party.net, currency),
    )


def settlement_from_report(report: SettlementReport) -> Settlement:
    """The GraphQL view of a settlement report."""
    currency = report.currency

    def redemption(cell: Cell) -> SettlementRedemption:
        return SettlementRedemption(
            issuer=cell.issuer, redeemer=cell.counterparty, points=cell.points, price_per_point=cell.price, value=_money(cell.value, currency)
        )

    def clawback(cell: Cell) -> SettlementClawback:
        return SettlementClawback(
            issuer=cell.issuer, refunder=cell.counterparty, points=cell.points, price_per_point=cell.price, value=_money(cell.value, currency)
        )

    parties = report.parties
    return Settlement(
        from_=report.period.first,
        to=report.period.last,
        starts_at=report.period.starts_at,
        ends_at=report.period.ends_at,
        timezone=report.timezone,
        currency=currency,
        default_price_per_point=report.default_price,
        redemptions=[redemption(cell) for cell in report.redemptions],
        clawbacks=[clawback(cell) for cell in report.clawbacks],
        formats=[_party(party, currency) for party in parties],
        totals=SettlementTotals(
            issued=sum(party.issued for party in parties),
            redeemed=sum(party.redeemed for party in parties),
            clawed_back=sum(party.clawed_back for party in parties),
            expired=sum(party.expired for party in parties),
            adjusted=sum(party.adjusted for party in parties),
            redemption_value=_money(sum(cell.value for cell in report.redemptions), currency),
            clawback_value=_money(sum(cell.value for cell in report.clawbacks), currency),
            settled_value=_money(report.settled_value, currency),
            net_sum=_money(sum(party.net for party in parties), currency),
        ),
        liability=_liability(report),
        closed=report.closing is not None,
        closed_at=report.closing.closed_at if report.closing else None,
        closed_by=report.closing.closed_by if report.closing else None,
    )


@strawberry.type(description="A configured transfer price: the group default (issuer and redeemer null) or a pair's override.")
class TransferPrice:
    issuer: str | None
    redeemer: str | None
    price_per_point: Decimal = strawberry.field(description="Minor units of the group currency per point, e.g. 0.8 (fen).")
    effective_from: date = strawberry.field(
        description="The first day (group time zone) it applies; it stays in force until the pair's next dated change."
    )
    updated_by: str
    updated_at: datetime

    @classmethod
    def from_row(cls, row: PriceRow) -> TransferPrice:
        """The GraphQL view of a configured price (``row.price`` is set)."""
        assert row.price is not None
        return cls(
            issuer=row.issuer,
            redeemer=row.redeemer,
            price_per_point=row.price,
            effective_from=row.effective_from,
            updated_by=row.updated_by,
            updated_at=row.updated_at,
        )


@strawberry.type(description="One dated change of the transfer price schedule.")
class TransferPriceChange:
    issuer: str | None = strawberry.field(description="Null with `redeemer` null: the group default.")
    redeemer: str | None
    effective_from: date = strawberry.field(description="The first day (group time zone) the change applies.")
    price_per_point: Decimal | None = strawberry.field(
        description="The price from that day; null: the override (or configured default) ends that day."
    )
    updated_by: str
    updated_at: datetime

    @classmethod
    def from_row(cls, row: PriceRow) -> TransferPriceChange:
        """The GraphQL view of a dated change."""
        return cls(
            issuer=row.issuer,
            redeemer=row.redeemer,
            effective_from=row.effective_from,
            price_per_point=row.price,
            updated_by=row.updated_by,
            updated_at=row.updated_at,
        )


@strawberry.type(description="The transfer prices settlement values points at: those in force on `day`, and the whole schedule.")
class TransferPrices:
    day: date = strawberry.field(description="The day the default and overrides are in force (group time zone).")
    default_price_per_point: Decimal = strawberry.field(
        description="The group default on `day`: configured, or the value a point pays on a bill (ATRIUM_POINTS_VALUE_MINOR)."
    )
    default: TransferPrice | None = strawberry.field(description="The configured default in force on `day`; null: none.")
    overrides: list[TransferPrice] = strawberry.field(description="Per (issuer, redeemer) overrides in force on `day`.")
    schedule: list[TransferPriceChange] = strawberry.field(
        description="Every dated change, past and future: the default's first, then each pair's, earliest first."
    )


@strawberry.type
class SettlementQuery:
    @strawberry.field(
        description="Settlement between business units for a period (admin tokens): a closed period's stored figures, "
        "else computed from the ledger."
    )
    async def settlement(self, info: Info[Context, None], period: SettlementPeriodInput) -> Settlement:
        try:
            info.context.require_role(Role.ADMIN)
            report = await period_settlement(info.context.core, period.from_, period.to)
        except AtriumError as exc:
            raise as_graphql_error(exc) from None
        return settlement_from_report(report)

    @strawberry.field(description="The transfer prices: the group default and the per-pair overrides, and their schedule (admin tokens).")
    async def transfer_prices(
        self,
        info: Info[Context, None],
        on: Annotated[date | None, strawberry.argument(description="The day to show the prices of (group time zone); default today.")] = None,
    ) -> TransferPrices:
        try:
            info.context.require_role(Role.ADMIN)
        except AtriumError as exc:
            raise as_graphql_error(exc) from None
        core = info.context.core
        schedule = await transfer_prices(core)
        prices = schedule.on(on or today(core.settings, info.context.now()))
        return TransferPrices(
            day=prices.day,
            default_price_per_point=default_price(core, prices),
            default=TransferPrice.from_row(prices.default) if prices.default else None,
            overrides=[TransferPrice.from_row(row) for row in prices.overrides],
            schedule=[TransferPriceChange.from_row(row) for row in schedule.versions],
        )
