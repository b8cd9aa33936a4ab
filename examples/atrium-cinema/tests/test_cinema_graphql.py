"""The cinema plugin in the real gateway, over GraphQL, with the atrium_* fixtures of gateway.testing."""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from gateway.testing import GatewayUnderTest, GraphQLClient, MemberFactory

SALE = """
mutation Sale($member: MemberRefInput!, $key: String!, $input: CinemaTicketInput!) {
  recordCinemaTicket(member: $member, idempotencyKey: $key, input: $input) {
    posting { points growth replayed lines { rule points reason } activity { summary } }
    member { pointsBalance }
    errors { code field message }
  }
}"""

REDEEM = """
mutation Redeem($input: RedeemInput!) {
  redeem(input: $input) {
    posting { points details }
    member { pointsBalance }
    errors { code field message }
  }
}"""

SETTINGS = """
mutation Settings($values: JSON!) {
  updatePluginSettings(input: {format: "cinema", values: $values, reason: "Double points in December"}) {
    settings { values changed }
    errors { code field message }
  }
}"""

BALANCE = "{ me { pointsBalance } }"

TWO_SEATS = {
    "cinemaCode": "IMAX-1",
    "seats": 2,
    "tickets": {"amount": "90.50", "currency": "CNY"},
    "concessions": {"amount": "35.50", "currency": "CNY"},
}


@pytest.fixture
def atrium_plugins() -> list[str]:
    """Only the installed cinema plugin, loaded by its entry point: the packaging is tested too."""
    return ["cinema"]


async def test_the_gateway_lists_the_plugin_with_its_version_and_hooks(atrium_admin: GraphQLClient) -> None:
    data = await atrium_admin.data("{ plugins { name distribution version hooks } }")

    assert data["plugins"] == [
        {
            "name": "cinema",
            "distribution": "atrium-cinema",
            "version": "0.1.0",
            "hooks": [
                "atrium_benefit_use_changed",
                "atrium_coupon_changed",
                "atrium_posting_committed",
                "atrium_register_activity_kinds",
                "atrium_register_benefits",
                "atrium_register_earn_rules",
                "atrium_register_formats",
                "atrium_register_graphql_types",
                "atrium_register_redemption_types",
                "atrium_register_settings",
                "atrium_tier_changed",
            ],
        }
    ]


async def test_a_box_office_sale_earns_once_per_receipt(
    atrium_service: Callable[[str], GraphQLClient], atrium_member_factory: MemberFactory
) -> None:
    member = await atrium_member_factory()
    cinema = atrium_service("cinema")
    sale = {"member": member.ref, "key": "IMAX-1-000001", "input": TWO_SEATS}

    first = await cinema.mutate(SALE, sale)
    again = await cinema.mutate(SALE, sale)

    assert first["errors"] == []
    assert first["posting"] == {
        "points": 198,
        "growth": 90,
        "replayed": False,
        "lines": [
            {"rule": "cinema.box_office", "points": 181, "reason": "2 pts per CN¥1 on CN¥90.50 of tickets"},
            {"rule": "cinema.box_office", "points": 17, "reason": "1 pt per CN¥2 on CN¥35.50 of concessions"},
        ],
        "activity": {"summary": "2 seats at IMAX-1, CN¥126.00"},
    }
    assert again["posting"]["replayed"] is True
    assert again["member"] == {"pointsBalance": 198}


async def test_a_silver_member_gets_the_tier_bonus_on_top(
    atrium_service: Callable[[str], GraphQLClient], atrium_member_factory: MemberFactory
) -> None:
    member = await atrium_member_factory(tier="silver")
    sale = {"member": member.ref, "key": "IMAX-1-000002", "input": TWO_SEATS}

    payload = await atrium_service("cinema").mutate(SALE, sale)

    # 198 base points x 1.2 = 237.6, rounded down: a bonus line of 39.
    assert payload["posting"]["points"] == 237
    assert payload["posting"]["lines"][-1] == {
        "rule": "tier.silver", "points": 39, "reason": "Silver tier ×1.2: +39 pts"
    }


async def test_an_admin_doubles_the_ticket_rate_and_the_next_sale_earns_it(
    atrium_admin: GraphQLClient, atrium_service: Callable[[str], GraphQLClient], atrium_member_factory: MemberFactory
) -> None:
    member = await atrium_member_factory()
    sale = {"member": member.ref, "key": "IMAX-1-000005", "input": TWO_SEATS}

    changed = await atrium_admin.mutate(SETTINGS, {"values": {"ticket_rate": "4"}})
    payload = await atrium_service("cinema").mutate(SALE, sale)

    assert changed == {"settings": {"values": {"ticket_rate": "4"}, "changed": ["ticket_rate"]}, "errors": []}
    # CN¥90.50 x 4 = 362; concessions unchanged: 17.
    assert [(line["points"], line["reason"]) for line in payload["posting"]["lines"]] == [
        (362, "4 pts per CN¥1 on CN¥90.50 of tickets"),
        (17, "1 pt per CN¥2 on CN¥35.50 of concessions"),
    ]


async def test_a_ticket_rate_out_of_bounds_is_refused_naming_the_field(atrium_admin: GraphQLClient) -> None:
    refused = await atrium_admin.mutate(SETTINGS, {"values": {"ticket_rate": "25"}})

    assert refused["settings"] is None
    [error] = refused["errors"]
    assert (error["code"], error["field"]) == ("INVALID_CONFIG", "input.values.ticket_rate")


async def test_a_sale_with_concessions_in_another_currency_writes_nothing(
    atrium_service: Callable[[str], GraphQLClient], atrium_member_factory: MemberFactory
) -> None:
    member = await atrium_member_factory()
    sale = {**TWO_SEATS, "concessions": {"amount": "5.00", "currency": "USD"}}

    payload = await atrium_service("cinema").mutate(SALE, {"member": member.ref, "key": "IMAX-1-000003", "input": sale})

    assert payload["posting"] is None
    assert payload["errors"] == [
        {
            "code": "UNSUPPORTED_CURRENCY",
            "field": "input.concessions.currency",
            "message": "Concessions must be in the currency of the tickets.",
        }
    ]
    assert await member.client.data(BALANCE) == {"me": {"pointsBalance": 0}}


async def test_a_member_buys_free_tickets_on_a_weekday_one_code_per_seat(
    atrium_gateway: GatewayUnderTest, atrium_member_factory: MemberFactory
) -> None:
    atrium_gateway.freeze_time(datetime(2026, 11, 25, 12, tzinfo=UTC))  # a Wednesday
    member = await atrium_member_factory(points=5000)

    payload = await member.client.mutate(
        REDEEM, {"input": {"format": "cinema", "reward": "free_ticket", "quantity": 2, "idempotencyKey": "FT-1"}}
    )

    assert payload["errors"] == []
    assert payload["posting"]["points"] == -4000
    assert [code[:4] for code in payload["posting"]["details"]["ticketCodes"]] == ["CIN-", "CIN-"]
    assert payload["member"] == {"pointsBalance": 1000}


async def test_free_tickets_are_refused_at_the_weekend(
    atrium_gateway: GatewayUnderTest, atrium_member_factory: MemberFactory
) -> None:
    atrium_gateway.freeze_time(datetime(2026, 11, 28, 12, tzinfo=UTC))  # a Saturday
    member = await atrium_member_factory(points=5000)

    payload = await member.client.mutate(
        REDEEM, {"input": {"format": "cinema", "reward": "free_ticket", "quantity": 1, "idempotencyKey": "FT-2"}}
    )

    assert [error["code"] for error in payload["errors"]] == ["REDEMPTION_REJECTED"]
    assert await member.client.data(BALANCE) == {"me": {"pointsBalance": 5000}}


async def test_a_retail_till_cannot_record_a_cinema_sale(
    atrium_service: Callable[[str], GraphQLClient], atrium_member_factory: MemberFactory
) -> None:
    member = await atrium_member_factory()
    sale = {"member": member.ref, "key": "IMAX-1-000004", "input": TWO_SEATS}

    payload = await atrium_service("retail").mutate(SALE, sale)

    assert [error["code"] for error in payload["errors"]] == ["FORBIDDEN"]
