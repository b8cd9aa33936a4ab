"""A business unit's own format plugs in with no change to the gateway."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import strawberry

from gateway.plugin_api import (
    ActivityDraft,
    ActivityKind,
    Benefit,
    BusinessFormat,
    EarnLine,
    EarnRule,
    Fulfilment,
    MoneyInput,
    RedemptionType,
    hookimpl,
    points_for,
)
from gateway.settings import Settings
from tests.http.graphql import ENROL, PHONE, caller


@strawberry.input(description="A cinema ticket sale.")
class CinemaTicketInput:
    cinema_code: str
    seats: int
    total: MoneyInput


def ticket_to_activity(value: CinemaTicketInput) -> ActivityDraft:
    return ActivityDraft(
        amount=value.total.to_money(field="total"), store=value.cinema_code, details={"seats": value.seats}
    )


class CinemaPlugin:
    """Two points per yuan, a popcorn benefit for Gold, a free ticket for 2000 points."""

    @hookimpl
    def atrium_register_formats(self, register: Callable[[BusinessFormat], None]) -> None:
        register(BusinessFormat(code="cinema", name="Cinema"))

    @hookimpl
    def atrium_register_activity_kinds(self, register: Callable[[ActivityKind], None]) -> None:
        register(ActivityKind(format="cinema", name="ticket", input_type=CinemaTicketInput, to_activity=ticket_to_activity))

    @hookimpl
    def atrium_register_earn_rules(self, register: Callable[[EarnRule], None]) -> None:
        register(
            EarnRule(
                format="cinema",
                code="double",
                description="2 pts per CN¥1",
                compute=lambda activity, member: EarnLine(
                    points_for(activity.amount, 2), points_for(activity.amount, 1), "2 pts per CN¥1 on tickets"
                ),
            )
        )

    @hookimpl
    def atrium_register_benefits(self, register: Callable[[Benefit], None]) -> None:
        register(Benefit(format="cinema", code="popcorn", name="Free popcorn", description="", min_tier="gold"))

    @hookimpl
    def atrium_register_redemption_types(self, register: Callable[[RedemptionType], None]) -> None:
        register(
            RedemptionType(
                format="cinema", code="free_ticket", name="Free ticket", description="", points=2000,
                fulfil=lambda request: Fulfilment("one free ticket", {"tickets": request.quantity}),
            )
        )


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    return [("cinema", CinemaPlugin())]


TICKET = """
mutation Ticket($member: MemberRefInput!, $key: String!, $input: CinemaTicketInput!) {
  recordCinemaTicket(member: $member, idempotencyKey: $key, input: $input) {
    posting { points growth format reason } member { pointsBalance } errors { code field message }
  }
}"""


async def test_a_fourth_format_appears_in_the_schema(client: httpx.AsyncClient, settings: Settings) -> None:
    admin = caller(client, settings, "admin")
    types = await admin.data('{ __schema { types { name } mutationType { fields { name } } } }')
    assert "CinemaTicketInput" in {t["name"] for t in types["__schema"]["types"]}
    assert "recordCinemaTicket" in {f["name"] for f in types["__schema"]["mutationType"]["fields"]}
    rewards = await admin.data('{ rewards(format: "cinema") { id points } formats { code } }')
    assert rewards["rewards"] == [{"id": "cinema.free_ticket", "points": 2000}]
    assert "cinema" in {f["code"] for f in rewards["formats"]}


async def test_a_fourth_format_earns_points_through_its_own_rule(client: httpx.AsyncClient, settings: Settings) -> None:
    cinema = caller(client, settings, "service", format="cinema")
    await cinema.mutate("enrol", ENROL, {"identity": PHONE})

    payload = await cinema.mutate(
        "recordCinemaTicket",
        TICKET,
        {"member": {"identity": PHONE}, "key": "TKT-1", "input": {"cinemaCode": "IMAX-1", "seats": 2, "total": {"amount": "90.50", "currency": "CNY"}}},
    )

    assert payload["errors"] == []
    assert payload["posting"] == {"points": 181, "growth": 90, "format": "cinema", "reason": payload["posting"]["reason"]}
    assert payload["member"]["pointsBalance"] == 181


async def test_a_retail_service_account_cannot_record_cinema_activity(client: httpx.AsyncClient, settings: Settings) -> None:
    retail = caller(client, settings, "service", format="retail")
    await retail.mutate("enrol", ENROL, {"identity": PHONE})

    payload = await retail.mutate(
        "recordCinemaTicket",
        TICKET,
        {"member": {"identity": PHONE}, "key": "TKT-1", "input": {"cinemaCode": "IMAX-1", "seats": 2, "total": {"amount": "90.50", "currency": "CNY"}}},
    )

    assert payload["posting"] is None
    assert payload["errors"][0]["code"] == "FORBIDDEN"
