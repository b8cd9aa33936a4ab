"""The cinema's rules as plain functions: no gateway, no database, only gateway.plugin_api."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from gateway.plugin_api import (
    Activity,
    ActivityRejected,
    MemberContext,
    MoneyInput,
    RedemptionRejected,
    RedemptionRequest,
    TierInfo,
)

import atrium_cinema

MEMBER = MemberContext(
    member_id=1,
    tier=TierInfo(code="member", name="Member", rank=0, threshold=0, multiplier=Decimal("1")),
    growth_value=0,
    points_balance=0,
    enrolled_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def sale(**changes: object) -> atrium_cinema.CinemaTicketInput:
    values: dict[str, object] = {
        "cinema_code": "IMAX-1",
        "seats": 2,
        "tickets": MoneyInput(amount=Decimal("90.50"), currency="CNY"),
        "concessions": MoneyInput(amount=Decimal("35.50"), currency="CNY"),
    }
    return atrium_cinema.CinemaTicketInput(**{**values, **changes})


def recorded(data: atrium_cinema.CinemaTicketInput) -> Activity:
    draft = atrium_cinema.ticket_to_activity(data)
    return Activity(
        format="cinema", kind="ticket", reference="IMAX-1-000001", amount=draft.amount,
        occurred_at=datetime(2026, 11, 25, 12, tzinfo=UTC), store=draft.store, details=draft.details,
    )


def free_tickets(requested_at: datetime) -> RedemptionRequest:
    return RedemptionRequest(
        member=MEMBER, format="cinema", reward="free_ticket", quantity=2, points=4000,
        reference="FT-1", requested_at=requested_at,
    )


def test_a_sale_earns_on_tickets_and_concessions_rounded_down() -> None:
    lines = atrium_cinema.box_office(recorded(sale()), MEMBER)

    # CN¥90.50 x 2 = 181; CN¥35.50 x 0.5 = 17.75, rounded down to 17; growth 1 per CN¥1 of tickets.
    assert [(line.points, line.growth) for line in lines] == [(181, 90), (17, 0)]
    assert lines[0].reason == "2 pts per CN¥1 on CN¥90.50 of tickets"


def test_a_sale_without_concessions_earns_one_line() -> None:
    lines = atrium_cinema.box_office(recorded(sale(concessions=None)), MEMBER)

    assert [(line.points, line.growth) for line in lines] == [(181, 90)]


def test_concessions_in_another_currency_are_refused_naming_the_field() -> None:
    with pytest.raises(ActivityRejected) as raised:
        atrium_cinema.ticket_to_activity(sale(concessions=MoneyInput(amount=Decimal("5"), currency="USD")))

    assert (raised.value.code.value, raised.value.field) == ("UNSUPPORTED_CURRENCY", "concessions.currency")


@pytest.mark.parametrize("seats", [0, 501])
def test_seats_outside_one_to_five_hundred_are_refused(seats: int) -> None:
    with pytest.raises(ActivityRejected) as raised:
        atrium_cinema.ticket_to_activity(sale(seats=seats))

    assert raised.value.field == "seats"


def test_free_tickets_are_refused_on_a_saturday_in_cinema_time() -> None:
    friday_evening_utc_is_saturday_in_shanghai = datetime(2026, 11, 27, 17, tzinfo=UTC)

    with pytest.raises(RedemptionRejected):
        atrium_cinema.weekdays_only(free_tickets(friday_evening_utc_is_saturday_in_shanghai))


def test_free_tickets_get_one_code_per_seat() -> None:
    fulfilment = atrium_cinema.fulfil_free_ticket(free_tickets(datetime(2026, 11, 25, 12, tzinfo=UTC)))

    codes = fulfilment.details["ticketCodes"]
    assert len(codes) == 2 and len(set(codes)) == 2
    assert all(code.startswith("CIN-") for code in codes)
