"""Over HTTP: admins read the settlement, set transfer prices (audited) and download the CSV; nobody else can."""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx
import pytest

from gateway.core import Core
from gateway.ledger.postings import MemberRef
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.settings import Settings
from gateway.settlement.csv_export import settlement_csv
from gateway.settlement.report import settlement_report
from tests.helpers import earn, enrol_phone, retail_purchase
from tests.http.graphql import Caller, caller

SETTLEMENT = """
query Settlement($period: SettlementPeriodInput!) {
  settlement(period: $period) {
    from to startsAt endsAt timezone currency defaultPricePerPoint
    redemptions { issuer redeemer points pricePerPoint value }
    clawbacks { issuer refunder points value }
    formats { format openingLiability issued redeemed honoured closingLiability receivable payable net }
    totals { issued redeemed settledValue netSum }
    liability { points pendingPoints heldPoints byFormat { format points } byExpiryMonth { month points } }
  }
}"""

SET_PRICE = """
mutation Set($input: SetTransferPriceInput!) {
  setTransferPrice(input: $input) { price { issuer redeemer pricePerPoint updatedBy } errors { code field message } }
}"""

REMOVE_PRICE = """
mutation Remove($input: RemoveTransferPriceInput!) {
  removeTransferPrice(input: $input) { price { issuer redeemer pricePerPoint } errors { code field message } }
}"""

PRICES = "{ transferPrices { defaultPricePerPoint default { pricePerPoint } overrides { issuer redeemer pricePerPoint } } }"
PRICES_ON = """
query Prices($on: Date) {
  transferPrices(on: $on) { defaultPricePerPoint default { pricePerPoint } overrides { issuer redeemer pricePerPoint } }
}"""
CHANGES = '{ configChanges(entity: "transfer_price") { key before after actor reason } }'
NOVEMBER = {"period": {"from": "2026-11-01", "to": "2026-11-30"}}


def at(day: int) -> datetime:
    return datetime(2026, 11, day, 12, tzinfo=UTC)


async def _month(core: Core) -> None:
    """A retail purchase of ¥1000 redeemed for a dessert at dining (800 pts) in November."""
    member = await enrol_phone(core, "13800138000", at(1))
    await earn(core, member, "R-1", retail_purchase([("A", "grocery", 1, "1000.00")]), at(2))
    await redeem(core, RedeemRequest(MemberRef(member_id=member), "dining", "dessert_voucher", 1, "DES-1"), now=at(3))


async def _set(admin: Caller, **input: object) -> dict:  # type: ignore[type-arg]
    return await admin.mutate("setTransferPrice", SET_PRICE, {"input": {"reason": "settlement rates 2026", **input}})


async def test_an_admin_reads_the_settlement_of_a_month(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    await _month(core)
    admin = caller(client, settings, "admin")
    assert (await _set(admin, pricePerPoint="0.8", effectiveFrom="2026-11-01"))["errors"] == []

    settlement = (await admin.data(SETTLEMENT, NOVEMBER))["settlement"]

    assert (settlement["from"], settlement["to"], settlement["timezone"], settlement["currency"]) == ("2026-11-01", "2026-11-30", "UTC", "CNY")
    assert settlement["startsAt"].startswith("2026-11-01T00:00:00") and settlement["endsAt"].startswith("2026-12-01T00:00:00")
    assert settlement["defaultPricePerPoint"] == "0.8"
    assert settlement["redemptions"] == [
        {"issuer": "retail", "redeemer": "dining", "points": 800, "pricePerPoint": "0.8", "value": "6.40"}
    ]
    assert settlement["clawbacks"] == []
    nets = {party["format"]: party["net"] for party in settlement["formats"]}
    assert nets == {"dining": "6.40", "property": "0.00", "retail": "-6.40", "group": "0.00"}
    retail = next(party for party in settlement["formats"] if party["format"] == "retail")
    assert (retail["openingLiability"], retail["issued"], retail["redeemed"], retail["closingLiability"]) == (0, 1000, 800, 200)
    assert settlement["totals"] == {"issued": 1000, "redeemed": 800, "settledValue": "6.40", "netSum": "0.00"}
    assert settlement["liability"]["points"] == 200
    assert settlement["liability"]["byFormat"] == [{"format": "retail", "points": 200}]
    assert settlement["liability"]["byExpiryMonth"] == [{"month": "2028-11", "points": 200}]


async def test_a_period_ending_before_it_starts_is_a_typed_error(client: httpx.AsyncClient, settings: Settings) -> None:
    body = await caller(client, settings, "admin").raw(SETTLEMENT, {"period": {"from": "2026-11-30", "to": "2026-11-01"}})

    assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "period.to"}


@pytest.mark.parametrize("role", ["member", "service"])
async def test_settlement_and_prices_are_refused_to_non_admin_tokens(
    client: httpx.AsyncClient, settings: Settings, core: Core, role: str
) -> None:
    member = await enrol_phone(core, "13800138000", at(1))
    other = caller(client, settings, role, member_id=member if role == "member" else None, format="retail" if role == "service" else None)

    settlement = await other.raw(SETTLEMENT, NOVEMBER)
    prices = await other.raw(PRICES)
    setting = await other.mutate("setTransferPrice", SET_PRICE, {"input": {"pricePerPoint": "2", "reason": "cheaper"}})
    removing = await other.mutate("removeTransferPrice", REMOVE_PRICE, {"input": {"reason": "gone"}})

    assert settlement["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert prices["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert setting == {"price": None, "errors": [{"code": "FORBIDDEN", "field": None, "message": "Only admin tokens may do this."}]}
    assert removing["errors"][0]["code"] == "FORBIDDEN"
    admin = caller(client, settings, "admin")
    assert (await admin.data(PRICES))["transferPrices"]["default"] is None
    assert (await admin.data(CHANGES))["configChanges"] == []


async def test_price_changes_are_validated_and_audited(client: httpx.AsyncClient, settings: Settings) -> None:
    admin = caller(client, settings, "admin")

    bad = await _set(admin, issuer="retail", redeemer="dining", pricePerPoint="0.00001")
    unknown = await _set(admin, issuer="cinema", redeemer="dining", pricePerPoint="1")
    half = await _set(admin, issuer="retail", pricePerPoint="1")
    default = await _set(admin, pricePerPoint="0.8")
    pair = await _set(admin, issuer="retail", redeemer="dining", pricePerPoint="1.25")
    ended = {"issuer": "retail", "redeemer": "dining", "effectiveFrom": "2030-01-01"}
    removed = await admin.mutate("removeTransferPrice", REMOVE_PRICE, {"input": {**ended, "reason": "ended"}})
    missing = await admin.mutate("removeTransferPrice", REMOVE_PRICE, {"input": {**ended, "reason": "again"}})

    assert [(e["code"], e["field"]) for e in bad["errors"]] == [("INVALID_CONFIG", "input.pricePerPoint")]
    assert [(e["code"], e["field"]) for e in unknown["errors"]] == [("UNKNOWN_FORMAT", "input.issuer")]
    assert [(e["code"], e["field"]) for e in half["errors"]] == [("INVALID_CONFIG", "input.redeemer")]
    assert default == {"price": {"issuer": None, "redeemer": None, "pricePerPoint": "0.8", "updatedBy": "admin"}, "errors": []}
    assert pair["price"]["pricePerPoint"] == "1.25"
    assert removed["price"] == {"issuer": "retail", "redeemer": "dining", "pricePerPoint": "1.25"}
    assert [(e["code"], e["field"]) for e in missing["errors"]] == [("CONFIG_NOT_FOUND", "input.issuer")]
    assert (await admin.data(PRICES_ON, {"on": "2030-01-01"}))["transferPrices"] == {
        "defaultPricePerPoint": "0.8", "default": {"pricePerPoint": "0.8"}, "overrides": []
    }
    today = datetime.now(UTC).date().isoformat()
    assert (await admin.data(PRICES_ON, {"on": today}))["transferPrices"]["overrides"] == [
        {"issuer": "retail", "redeemer": "dining", "pricePerPoint": "1.25"}
    ]
    changes = (await admin.data(CHANGES))["configChanges"]
    pair_state = {"issuer": "retail", "redeemer": "dining", "pricePerPoint": "1.25", "effectiveFrom": today}
    assert [(c["key"], c["before"], c["after"], c["actor"], c["reason"]) for c in changes] == [
        ("retail:dining", pair_state, {**ended, "pricePerPoint": None}, "admin", "ended"),
        ("retail:dining", None, pair_state, "admin", "settlement rates 2026"),
        (
            "default",
            None,
            {"issuer": None, "redeemer": None, "pricePerPoint": "0.8", "effectiveFrom": today},
            "admin",
            "settlement rates 2026",
        ),
    ]


async def test_an_admin_downloads_the_settlement_csv(client: httpx.AsyncClient, settings: Settings, core: Core) -> None:
    await _month(core)
    admin = caller(client, settings, "admin")

    response = await client.get(
        "/exports/settlement.csv", params={"from": "2026-11-01", "to": "2026-11-30"}, headers={"Authorization": f"Bearer {admin.token}"}
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="settlement-2026-11-01-2026-11-30.csv"'
    assert response.text == settlement_csv(await settlement_report(core, date(2026, 11, 1), date(2026, 11, 30)))
    assert "2026-11-01,2026-11-30,redemption,retail,dining,,800,,,1,800,CNY," in response.text.splitlines()


@pytest.mark.parametrize(
    ("role", "query", "status", "code"),
    [
        (None, "from=2026-11-01&to=2026-11-30", 401, "UNAUTHENTICATED"),
        ("member", "from=2026-11-01&to=2026-11-30", 403, "FORBIDDEN"),
        ("service", "from=2026-11-01&to=2026-11-30", 403, "FORBIDDEN"),
        ("admin", "from=2026-11-01", 400, "INVALID_INPUT"),
        ("admin", "from=2026-11-01&to=30.11.2026", 400, "INVALID_INPUT"),
        ("admin", "from=2026-11-30&to=2026-11-01", 400, "INVALID_INPUT"),
    ],
)
async def test_the_csv_is_refused_to_others_and_bad_periods(
    client: httpx.AsyncClient, settings: Settings, role: str | None, query: str, status: int, code: str
) -> None:
    headers = {}
    if role is not None:
        token = caller(client, settings, role, member_id=1 if role == "member" else None, format="retail" if role == "service" else None).token
        headers["Authorization"] = f"Bearer {token}"

    response = await client.get(f"/exports/settlement.csv?{query}", headers=headers)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
