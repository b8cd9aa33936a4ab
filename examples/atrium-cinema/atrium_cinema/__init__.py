"""Atrium's cinema format: box-office sales earn points, points buy free tickets."""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import strawberry
from gateway.plugin_api import (
    Activity,
    ActivityDetails,
    ActivityDraft,
    ActivityKind,
    ActivityRejected,
    Benefit,
    BenefitUseEvent,
    BusinessFormat,
    CouponEvent,
    EarnLine,
    EarnRule,
    ErrorCode,
    FormatSettings,
    Fulfilment,
    MemberContext,
    Money,
    MoneyInput,
    PluginSettings,
    PostingEvent,
    Quota,
    RedemptionRejected,
    RedemptionRequest,
    RedemptionType,
    TierChange,
    hookimpl,
    points_for,
    required_text,
    voucher_code,
    whole_units,
)
from pydantic import Field

__version__ = "0.1.0"

FORMAT = "cinema"


@hookimpl
def atrium_register_formats(register: Callable[[BusinessFormat], None]) -> None:
    """Register the cinema format, so sales, points and settlement are tracked per format."""
    register(BusinessFormat(code=FORMAT, name="Cinema", description="The group's multiplex cinemas."))


MAX_SEATS = 500
"""Most seats on one sale; more is a till bug."""


@strawberry.input(description="A cinema box-office sale: tickets and, optionally, concessions.")
class CinemaTicketInput:
    cinema_code: str = strawberry.field(description="The cinema that sold the tickets.")
    seats: int = strawberry.field(description="Seats sold, 1 to 500.")
    tickets: MoneyInput = strawberry.field(description="What the tickets cost, after discounts.")
    concessions: MoneyInput | None = strawberry.field(default=None, description="Popcorn and drinks on the same sale.")
    sold_at: datetime | None = strawberry.field(
        default=None, description="When the sale was paid, with a timezone offset; omitted means now."
    )


def ticket_to_activity(data: CinemaTicketInput) -> ActivityDraft:
    """Validate a sale into a draft; field paths are the input's GraphQL names."""
    cinema = required_text(data.cinema_code, field="cinemaCode", max_length=32)
    if not 1 <= data.seats <= MAX_SEATS:
        raise ActivityRejected(f"Seats must be between 1 and {MAX_SEATS}.", field="seats")
    tickets = data.tickets.to_money(field="tickets")
    concessions = Money(0, tickets.currency)
    if data.concessions is not None:
        concessions = data.concessions.to_money(field="concessions", allow_zero=True)
        if concessions.currency != tickets.currency:
            raise ActivityRejected(
                "Concessions must be in the currency of the tickets.",
                field="concessions.currency",
                code=ErrorCode.UNSUPPORTED_CURRENCY,
            )
    if data.sold_at is not None and data.sold_at.utcoffset() is None:
        raise ActivityRejected(
            "The time must include a timezone offset, e.g. 2026-11-03T19:30:00+08:00.", field="soldAt"
        )
    return ActivityDraft(
        amount=tickets + concessions,
        occurred_at=data.sold_at,
        store=cinema,
        details={"seats": data.seats, "ticketsMinor": tickets.minor, "concessionsMinor": concessions.minor},
    )


@strawberry.type(description="A recorded cinema sale.")
class CinemaTicketDetails(ActivityDetails):
    cinema_code: str | None
    seats: int
    tickets: str = strawberry.field(description="Tickets in major units.")
    concessions: str = strawberry.field(description="Concessions in major units.")

    @classmethod
    def from_activity(cls, activity: Activity) -> ActivityDetails:
        """Build what history shows from the stored activity: no query needed."""
        currency = activity.amount.currency
        seats = int(activity.details["seats"])
        if seats >= GROUP_SEATS:  # group bookings show as their own type: see atrium_register_graphql_types
            return CinemaGroupBookingDetails.from_activity(activity)
        return cls(
            summary=f"{seats} seat{'s' if seats != 1 else ''} at {activity.store}, {activity.amount.format()}",
            cinema_code=activity.store,
            seats=seats,
            tickets=str(Money(int(activity.details["ticketsMinor"]), currency).amount),
            concessions=str(Money(int(activity.details["concessionsMinor"]), currency).amount),
        )


@hookimpl
def atrium_register_activity_kinds(register: Callable[[ActivityKind], None]) -> None:
    """Register ``ticket`` (mutation ``recordCinemaTicket``) with its typed sale input."""
    register(
        ActivityKind(
            format=FORMAT,
            name="ticket",
            input_type=CinemaTicketInput,
            to_activity=ticket_to_activity,
            details_type=CinemaTicketDetails,
            description="Record a paid box-office sale.",
        )
    )


CONCESSION_RATE = Decimal("0.5")
"""Points per major unit of concessions: 1 point per CN¥2."""


def box_office(activity: Activity, member: MemberContext) -> list[EarnLine]:
    """The ticket rate (2 points per CN¥1 unless admins change it) and 1 per CN¥2 of concessions, each rounded down.

    Growth value follows tickets only (1 per CN¥1). The tier multiplier is the gateway's job.
    """
    ticket_rate = CinemaSettings.of(activity).ticket_rate
    currency = activity.amount.currency
    tickets = Money(int(activity.details["ticketsMinor"]), currency)
    concessions = Money(int(activity.details["concessionsMinor"]), currency)
    lines = [
        EarnLine(
            points=points_for(tickets, ticket_rate),
            growth=points_for(tickets, 1),
            reason=f"{ticket_rate.normalize():f} pts per {whole_units(currency)} on {tickets.format()} of tickets",
        )
    ]
    if concessions.minor:
        lines.append(
            EarnLine(
                points=points_for(concessions, CONCESSION_RATE),
                growth=0,
                reason=f"1 pt per {whole_units(currency, 2)} on {concessions.format()} of concessions",
            )
        )
    return lines


@hookimpl
def atrium_register_earn_rules(register: Callable[[EarnRule], None]) -> None:
    """Register the box-office rate."""
    register(
        EarnRule(
            format=FORMAT,
            code="box_office",
            description="The ticket rate (a setting, 2 points per CN¥1 by default) on tickets, 1 point per "
            "CN¥2 of concessions; growth value 1 per CN¥1 of tickets.",
            compute=box_office,
        )
    )


@hookimpl
def atrium_register_benefits(register: Callable[[Benefit], None]) -> None:
    """Register the popcorn upgrade for gold and up, twice a month."""
    register(
        Benefit(
            format=FORMAT,
            code="popcorn_upgrade",
            name="Free popcorn upgrade",
            description="A large popcorn for the price of a small, twice a month at every cinema.",
            min_tier="gold",
            quota=Quota(2, "month"),
        )
    )


CINEMA_TIME = timezone(timedelta(hours=8))
"""The cinemas' local time, UTC+8."""


def weekdays_only(request: RedemptionRequest) -> None:
    """Free tickets are a weekday offer: refuse on Saturdays and Sundays, cinema time."""
    if request.requested_at.astimezone(CINEMA_TIME).weekday() >= 5:
        raise RedemptionRejected("Free tickets can be redeemed Monday to Friday.")


def fulfil_free_ticket(request: RedemptionRequest) -> Fulfilment:
    """One ticket code per seat; pure apart from drawing random codes."""
    codes = [voucher_code("CIN-") for _ in range(request.quantity)]
    noun = "ticket" if request.quantity == 1 else "tickets"
    return Fulfilment(
        reason=f"{request.quantity} free 2D {noun}, valid at every cinema of the group",
        details={"ticketCodes": codes},
    )


@hookimpl
def atrium_register_redemption_types(register: Callable[[RedemptionType], None]) -> None:
    """Register the free 2D ticket: 2000 points each, up to 4 in one redemption."""
    register(
        RedemptionType(
            format=FORMAT,
            code="free_ticket",
            name="Free 2D ticket",
            description="A ticket for any 2D screening, Monday to Friday; one code per seat.",
            points=2000,
            max_quantity=4,
            validate=weekdays_only,
            fulfil=fulfil_free_ticket,
        )
    )


GROUP_SEATS = 20
"""Seats from which a sale is a group booking."""


@strawberry.type(description="A group booking: 20 seats or more on one sale.")
class CinemaGroupBookingDetails(ActivityDetails):
    cinema_code: str | None
    seats: int
    price_per_seat: str = strawberry.field(description="Tickets divided by seats, in major units, rounded down.")

    @classmethod
    def from_activity(cls, activity: Activity) -> "CinemaGroupBookingDetails":
        """Build the group booking's details from the stored activity."""
        seats = int(activity.details["seats"])
        per_seat = Money(int(activity.details["ticketsMinor"]) // seats, activity.amount.currency)
        return cls(
            summary=f"Group booking of {seats} seats at {activity.store}, {activity.amount.format()}",
            cinema_code=activity.store,
            seats=seats,
            price_per_seat=str(per_seat.amount),
        )


@hookimpl
def atrium_register_graphql_types(register: Callable[[type], None]) -> None:
    """Register the group-booking details, which no field names but history returns."""
    register(CinemaGroupBookingDetails)


class CinemaSettings(PluginSettings):
    """What group admins tune at the box office."""

    ticket_rate: Decimal = Field(
        default=Decimal("2"), gt=0, le=20, decimal_places=2, description="Points per CN¥1 of tickets."
    )


@hookimpl
def atrium_register_settings(register: Callable[[FormatSettings], None]) -> None:
    """Register the cinema's settings, so admins can run double-points months without a release."""
    register(FormatSettings(format=FORMAT, model=CinemaSettings, description="What box-office sales earn."))


log = logging.getLogger(__name__)


@hookimpl
def atrium_posting_committed(event: PostingEvent) -> None:
    """Tell the box office about cinema postings (here: a log line; in production, a queue)."""
    if event.format != FORMAT:
        return
    log.info(
        "cinema %s %d: %+d pts for member %d, balance %d",
        event.kind, event.posting_id, event.points, event.member_id, event.balance_after,
    )


@hookimpl
def atrium_tier_changed(change: TierChange) -> None:
    """Greet members who reach the tier that unlocks the popcorn upgrade."""
    if change.current.code == "gold" and change.current.rank > change.previous.rank:
        log.info(
            "member %d reached %s: offer the popcorn upgrade at the next visit", change.member_id, change.current.name
        )


@hookimpl
def atrium_coupon_changed(event: CouponEvent) -> None:
    """Count the coupons used in every format, for the box office's cross-format report."""
    if event.kind == "used":
        log.info("member %d used a %s %s coupon (id %d)", event.member_id, event.format, event.reward, event.coupon_id)


@hookimpl
def atrium_benefit_use_changed(event: BenefitUseEvent) -> None:
    """Tell the concession stand how many popcorn upgrades a member has left this month."""
    if event.benefit != f"{FORMAT}.popcorn_upgrade":
        return
    if event.kind == "use":
        log.info("member %d: popcorn upgrade used, %s left this month", event.member_id, event.remaining_in_period)
    else:
        log.info("member %d: popcorn upgrade use %s cancelled", event.member_id, event.reference)
