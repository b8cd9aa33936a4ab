"""Over HTTP: admins close a settlement month, read its stored figures (GraphQL and CSV), check drift; totals past 2^31.

November 2026 in UTC: a member earns 1,000 retail points on October 20 and spends 800 on a dessert
at dining on November 10, at a group default price of 0.8 fen a point from October 1. The request
clock is December 2, so November is over and can be closed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from gateway.core import Core
from gateway.ledger.postings import MemberRef
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.persistence.models import lot_consumption_table
from gateway.settings import Settings
from tests.helpers import earn, enrol_phone, retail_purchase
from tests.http.graphql import Caller, caller
from tests.http.journeys import Clock

FIGURES = """
    from to closed closedAt closedBy
    redemptions { issuer redeemer points pricePerPoint value }
    formats { format issued redeemed honoured closingLiability net }
    totals { issued redeemed settledValue netSum }
    liability { points byFormat { format points } }"""

CLOSE = f"""
mutation Close($input: CloseSettlementPeriodInput!) {{
  closeSettlementPeriod(input: $input) {{ settlement {{ {FIGURES} }} errors {{ code field message }} }}
}}"""

SETTLEMENT = f"query Settlement($period: SettlementPeriodInput!) {{ settlement(period: $period) {{ {FIGURES} }} }}"

DRIFT = """
query Drift($period: SettlementPeriodInput) {
  settlementDrift(period: $period) {
    drifted
    periods { from to closedBy matches differences { section figure format counterparty pricePerPoint month closed recomputed } }
  }
}"""

SET_PRICE = """
mutation Set($input: SetTransferPriceInput!) {
  setTransferPrice(input: $input) { price { pricePerPoint effectiveFrom } errors { code field message } }
}"""

SCHEDULE = "{ transferPrices(on: \"2026-11-20\") { day defaultPricePerPoint schedule { issuer redeemer effectiveFrom pricePerPoint } } }"

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}
DECEMBER_2 = datetime(2026, 12, 2, 9, tzinfo=UTC)


def utc(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch, DECEMBER_2)


@pytest.fixture
async def admin(client: httpx.AsyncClient, settings: Settings, clock: Clock) -> Caller:
    """An admin whose group default price is 0.8 fen a point from October 1."""
    admin = caller(client, settings, "admin")
    price = {"pricePerPoint": "0.8", "effectiveFrom": "2026-10-01", "reason": "group rate"}
    assert (await admin.mutate("setTransferPrice", SET_PRICE, {"input": price}))["errors"] == []
    return admin


async def _november(core: Core) -> int:
    """The month of the module docstring; returns the dessert's posting id."""
    member = await enrol_phone(core, "13800138000", utc(10, 1))
    await earn(core, member, "R-1", retail_purchase([("A", "grocery", 1, "1000.00")]), utc(10, 20))
    return (await redeem(core, RedeemRequest(MemberRef(member_id=member), "dining", "dessert_voucher", 1, "DES-1"), now=utc(11, 10))).id


async def _close(admin: Caller, **period: str) -> dict[str, Any]:
    return await admin.mutate("closeSettlementPeriod", CLOSE, {"input": {**NOVEMBER, **period, "reason": "November paid"}})


async def test_an_admin_closes_november_and_its_settlement_is_then_the_stored_one(admin: Caller, core: Core) -> None:
    await _november(core)
    open_month = (await admin.data(SETTLEMENT, {"period": NOVEMBER}))["settlement"]

    closed = await _close(admin)
    read = (await admin.data(SETTLEMENT, {"period": NOVEMBER}))["settlement"]

    assert (open_month["closed"], open_month["closedAt"], open_month["closedBy"]) == (False, None, None)
    assert closed["errors"] == []
    assert (read["closed"], read["closedBy"]) == (True, "admin")
    assert read["closedAt"].startswith("2026-12-02T09:00:00")
    assert read == closed["settlement"]
    assert {key: value for key, value in read.items() if not key.startswith("closed")} == {
        key: value for key, value in open_month.items() if not key.startswith("closed")
    }
    assert read["redemptions"] == [{"issuer": "retail", "redeemer": "dining", "points": 800, "pricePerPoint": "0.8", "value": "6.40"}]


async def test_the_csv_of_a_closed_month_carries_its_closing(admin: Caller, client: httpx.AsyncClient, core: Core) -> None:
    await _november(core)
    await _close(admin)

    response = await client.get("/exports/settlement.csv", params=NOVEMBER, headers={"Authorization": f"Bearer {admin.token}"})

    assert response.status_code == 200
    lines = response.text.splitlines()
    assert lines[0].endswith(",currency,closed_at")
    assert "2026-11-01,2026-11-30,redemption,retail,dining,,800,,,0.8,640,CNY,2026-12-02T09:00:00+00:00" in lines


@pytest.mark.parametrize(
    ("period", "code", "field"),
    [
        (NOVEMBER, "PERIOD_CLOSED", "input.from"),
        ({"from": "2026-11-20", "to": "2026-12-01"}, "PERIOD_CLOSED", "input.from"),
        ({"from": "2026-12-01", "to": "2026-12-31"}, "INVALID_INPUT", "input.to"),  # not over on December 2
        ({"from": "2026-10-31", "to": "2026-10-01"}, "INVALID_INPUT", "input.to"),
    ],
)
async def test_closing_a_closed_overlapping_or_unfinished_period_is_a_typed_error(
    admin: Caller, core: Core, period: dict[str, str], code: str, field: str
) -> None:
    await _november(core)
    assert (await _close(admin))["errors"] == []

    refused = await _close(admin, **period)

    assert refused["settlement"] is None
    assert [(error["code"], error["field"]) for error in refused["errors"]] == [(code, field)]


async def test_drift_lists_what_changed_in_the_ledger_after_closing(admin: Caller, core: Core) -> None:
    dessert = await _november(core)
    await _close(admin)
    assert (await admin.data(DRIFT))["settlementDrift"] == {
        "drifted": False,
        "periods": [{"from": "2026-11-01", "to": "2026-11-30", "closedBy": "admin", "matches": True, "differences": []}],
    }

    async with core.db.write() as conn:
        await conn.execute(update(lot_consumption_table).where(lot_consumption_table.c.posting_id == dessert).values(points=700))

    check = (await admin.data(DRIFT, {"period": NOVEMBER}))["settlementDrift"]
    assert check["drifted"] is True
    [period] = check["periods"]
    assert period["matches"] is False
    assert period["differences"][:2] == [
        {"section": "redemption", "figure": "points", "format": "retail", "counterparty": "dining", "pricePerPoint": "0.8",
         "month": None, "closed": 800, "recomputed": 700},
        {"section": "redemption", "figure": "value", "format": "retail", "counterparty": "dining", "pricePerPoint": "0.8",
         "month": None, "closed": 640, "recomputed": 560},
    ]
    assert (await admin.data(DRIFT, {"period": {"from": "2026-12-01", "to": "2026-12-31"}}))["settlementDrift"]["periods"] == []


async def test_a_price_cannot_be_dated_into_a_closed_month(admin: Caller, core: Core) -> None:
    await _november(core)
    await _close(admin)
    late = {"issuer": "retail", "redeemer": "dining", "pricePerPoint": "2", "reason": "late deal"}

    refused = await admin.mutate("setTransferPrice", SET_PRICE, {"input": {**late, "effectiveFrom": "2026-11-15"}})
    accepted = await admin.mutate("setTransferPrice", SET_PRICE, {"input": {**late, "effectiveFrom": "2026-12-01"}})

    assert [(error["code"], error["field"]) for error in refused["errors"]] == [("PERIOD_CLOSED", "input.effectiveFrom")]
    assert accepted == {"price": {"pricePerPoint": "2", "effectiveFrom": "2026-12-01"}, "errors": []}
    assert (await admin.data(SCHEDULE))["transferPrices"] == {
        "day": "2026-11-20",
        "defaultPricePerPoint": "0.8",
        "schedule": [
            {"issuer": None, "redeemer": None, "effectiveFrom": "2026-10-01", "pricePerPoint": "0.8"},
            {"issuer": "retail", "redeemer": "dining", "effectiveFrom": "2026-12-01", "pricePerPoint": "2"},
        ],
    }


async def test_group_totals_past_two_to_the_31_are_exact_json_numbers(admin: Caller, core: Core) -> None:
    for number in range(22):  # 22 shoppers at the per-activity limit of ¥100,000,000: 2.2 billion points issued
        member = await enrol_phone(core, f"138001380{number:02d}", utc(11, 1))
        bought = await earn(core, member, f"R-{number}", retail_purchase([("A", "grocery", 1, "100000000.00")]), utc(11, 2))
        assert bought.points == 100_000_000

    settlement = (await admin.data(SETTLEMENT, {"period": NOVEMBER}))["settlement"]
    closed = (await _close(admin))["settlement"]

    assert 2_200_000_000 > 2**31 - 1
    assert settlement["totals"]["issued"] == 2_200_000_000 and isinstance(settlement["totals"]["issued"], int)
    assert settlement["liability"]["points"] == 2_200_000_000
    assert settlement["liability"]["byFormat"] == [{"format": "retail", "points": 2_200_000_000}]
    retail = next(party for party in settlement["formats"] if party["format"] == "retail")
    assert (retail["issued"], retail["closingLiability"]) == (2_200_000_000, 2_200_000_000)
    assert closed["totals"] == settlement["totals"]
