"""A property office's month over HTTP, points worked out by hand: fees paid by an owner, a tenant and a resident, on time, late
and by autopay; a refund of an overcharge; visitor parking; points towards next month's management fee; priority maintenance.

Settings for the journey (an admin sets them first): points may pay at most 20% of a fee notice
(the group allows 50%). Bonuses are the defaults: 10% more points for paying by the due date, 5%
for autopay. The members are at the entry tier (×1) until the owner reaches Gold at the end.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from gateway.core import Core
from gateway.settings import Settings
from tests.http.graphql import caller
from tests.http.journeys import (
    APPLY_OFFSET,
    BALANCES,
    COUPON,
    ERRORS,
    MEMBER,
    POSTING,
    QUOTE,
    REDEEM,
    REFUND_ACTIVITY,
    USE_BENEFIT,
    USE_COUPON,
    WALL,
    Clock,
    change_settings,
    cny,
    enrol,
    ledger_balances,
    put_in_tier,
    wall_entry,
)

TENTH = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai

FEE = f"""
mutation Fee($member: MemberRefInput!, $key: String!, $input: PropertyFeePaymentInput!, $paidWith: PaidWithInput) {{
  recordPropertyFeePayment(member: $member, idempotencyKey: $key, input: $input, paidWith: $paidWith) {{ {POSTING} {MEMBER} {ERRORS} }}
}}"""

HISTORY = """
query History {
  me {
    history(first: 10) {
      edges { node { kind points activity { ... on PropertyFeePaymentDetails { summary unitCode feeType relation dueDate autopay } } } }
    }
  }
}"""


def fee(unit: str, fee_type: str, amount: str, relation: str, due: str | None, autopay: bool = False, period: str = "2026-11") -> dict[str, Any]:
    return {
        "unitCode": unit, "feeType": fee_type, "amount": cny(amount), "period": period, "paidAt": "2026-11-10T09:00:00+08:00",
        "relation": relation, "dueDate": due, "autopay": autopay,
    }


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch, TENTH)


async def test_owners_tenants_and_residents_pay_fees_and_the_owner_spends_points_on_parking_and_the_next_fee(
    client: httpx.AsyncClient, settings: Settings, core: Core, clock: Clock
) -> None:
    admin = caller(client, settings, "admin")
    office = caller(client, settings, "service", format="property")
    await change_settings(admin, "property", {"points_offset_cap_percent": 20}, "Points pay at most a fifth of a fee notice")
    owner = await enrol(office, "13800138000")
    tenant = await enrol(office, "13900139000")
    resident = await enrol(office, "13700137000")
    owner_ref = {"id": owner["id"]}

    # The owner's November management fee, CN¥456.00, by autopay, five days before it is due:
    # 1 pt per CN¥2 = 228 pts (growth 228); on time +10% = 22; autopay +5% = 11. 261 pts.
    management = await office.mutate(
        "recordPropertyFeePayment", FEE,
        {"member": owner_ref, "key": "P-1", "input": fee("A-1203", "MANAGEMENT", "456.00", "OWNER", "2026-11-15", autopay=True)},
    )
    assert management["errors"] == []
    assert [(line["rule"], line["points"], line["growth"], line["reason"]) for line in management["posting"]["lines"]] == [
        ("property.fee_rate", 228, 228, "1 pt per CN¥2 on CN¥456.00 management fee for unit A-1203, 2026-11"),
        ("property.payment_bonus", 22, 0, "On-time bonus +10% on 228 pts: paid by 2026-11-15"),
        ("property.payment_bonus", 11, 0, "Autopay bonus +5% on 228 pts"),
    ]
    assert management["posting"]["points"] == 261

    # The parking fee, CN¥450.00, paid five days late: 1 pt per CN¥5 = 90 pts, no bonus.
    parking = await office.mutate(
        "recordPropertyFeePayment", FEE, {"member": owner_ref, "key": "P-2", "input": fee("A-1203", "PARKING", "450.00", "OWNER", "2026-11-05")}
    )
    assert (parking["posting"]["points"], parking["member"]) == (90, {"pointsBalance": 351, "pendingPoints": 0, "growthValue": 318})

    # A tenant pays the management fee of the unit it rents, on time: 190 + 19 = 209 pts.
    rent = await office.mutate(
        "recordPropertyFeePayment", FEE,
        {"member": {"id": tenant["id"]}, "key": "P-3", "input": fee("B-0805", "MANAGEMENT", "380.00", "TENANT", "2026-11-15")},
    )
    assert rent["posting"]["points"] == 209

    # The group keeps the bonuses for owners and tenants; the owner's daughter, a resident, pays
    # the utilities by autopay on time: 1 pt per CN¥5 on CN¥120.00 = 24 pts and no bonus.
    await change_settings(admin, "property", {"bonus_relations": ["owner", "tenant"]}, "Bonuses for the billed party")
    utilities = await office.mutate(
        "recordPropertyFeePayment", FEE,
        {"member": {"id": resident["id"]}, "key": "P-4", "input": fee("A-1203", "UTILITIES", "120.00", "RESIDENT", "2026-11-15", autopay=True)},
    )
    assert ([line["rule"] for line in utilities["posting"]["lines"]], utilities["posting"]["points"]) == (["property.fee_rate"], 24)

    # The owner sees each payment's unit and link in history.
    owner_app = caller(client, settings, "member", member_id=int(owner["number"]))
    history = [edge["node"]["activity"] for edge in (await owner_app.data(HISTORY))["me"]["history"]["edges"]]
    assert history[1] == {
        "summary": "Management fee for unit A-1203 (owner), 2026-11: CN¥456.00",
        "unitCode": "A-1203", "feeType": "MANAGEMENT", "relation": "OWNER", "dueDate": "2026-11-15", "autopay": True,
    }

    # CN¥150.00 of the parking fee was overcharged: a third of the amount, a third of its 90 pts: 30.
    # The resident's utilities are refunded in full: all 24 pts.
    overcharge = await office.mutate(
        "refundActivity", REFUND_ACTIVITY,
        {"input": {"format": "property", "original": "P-2", "amount": cny("150.00"), "idempotencyKey": "P-2-RF-1"}},
    )
    assert (overcharge["errors"], overcharge["posting"]["points"], overcharge["posting"]["growth"]) == ([], -30, -30)
    assert overcharge["member"] == {"pointsBalance": 321, "pendingPoints": 0, "growthValue": 288}
    whole = await office.mutate(
        "refundActivity", REFUND_ACTIVITY,
        {"input": {"format": "property", "original": "P-4", "amount": cny("120.00"), "idempotencyKey": "P-4-RF-1"}},
    )
    assert (whole["posting"]["points"], whole["member"]["pointsBalance"]) == (-24, 0)

    # An hour of visitor parking for 300 pts; the car park's gate uses the code once.
    hour = await owner_app.mutate(
        "redeem", REDEEM, {"input": {"format": "property", "reward": "parking_hour", "quantity": 1, "idempotencyKey": "APP-PK-1"}}
    )
    assert (hour["errors"], hour["posting"]["points"], hour["member"]["pointsBalance"]) == ([], -300, 21)
    [code] = hour["posting"]["details"]["couponCodes"]
    assert (await office.data(COUPON, {"code": code}))["coupon"]["item"] == "1 hour of visitor parking"
    gate = await office.mutate("useCoupon", USE_COUPON, {"input": {"code": code, "idempotencyKey": "GATE2-0871", "till": "GATE-2"}})
    assert gate["coupon"] == {"code": code, "status": "USED", "usedTill": "GATE-2"}

    # December's management fee notice, CN¥456.00: property lets points pay 20% (9120 pts at most);
    # the owner's 21 pts pay CN¥0.21, CN¥455.79 in cash. The office records the fee, naming the
    # offset (paidWith): points are earned on money only. The rules give floor(456.00 / 2) = 228 pts
    # and, paid by the due date, +10%: 22; each scaled to 455.79 / 456.00 and rounded down:
    # floor(227.89) = 227 and floor(21.98) = 21, 248 in all.
    quote = (await office.data(QUOTE, {"format": "property", "bill": cny("456.00"), "member": owner_ref}))["pointsOffsetQuote"]
    assert quote == {
        "points": 21, "offset": "0.21", "cash": "455.79", "maxPoints": 9120, "balance": 21, "capPercent": 20, "pointsValueMinor": 1,
    }
    offset = await office.mutate(
        "applyPointsOffset", APPLY_OFFSET,
        {"input": {"member": owner_ref, "format": "property", "bill": cny("456.00"), "points": 21, "idempotencyKey": "NOTICE-A1203-2026-12"}},
    )
    assert (offset["errors"], offset["posting"]["points"], offset["member"]["pointsBalance"]) == ([], -21, 0)
    december = await office.mutate(
        "recordPropertyFeePayment", FEE,
        {
            "member": owner_ref, "key": "P-5", "input": fee("A-1203", "MANAGEMENT", "456.00", "OWNER", "2026-12-15", period="2026-12"),
            "paidWith": {"pointsOffsets": ["NOTICE-A1203-2026-12"]},
        },
    )
    assert (december["posting"]["points"], december["member"]["pointsBalance"]) == (248, 248)
    assert december["posting"]["details"]["paidWith"]["moneyMinor"] == 45579

    # At Gold, repairs are dispatched first, four times a year.
    await put_in_tier(core, int(owner["number"]), "gold")
    repair = await office.mutate(
        "useBenefit", USE_BENEFIT, {"input": {"benefit": "property.maintenance_priority", "member": owner_ref, "idempotencyKey": "WO-5521"}}
    )
    assert repair["use"] == {"benefit": "property.maintenance_priority", "usedInPeriod": 1, "remainingInPeriod": 3, "replayed": False}
    assert wall_entry((await owner_app.data(WALL))["me"]["benefits"], "property.maintenance_priority")["usage"] == {"used": 1, "remaining": 3}
    assert (await owner_app.data(BALANCES))["me"]["pointsBalance"] == 248

    assert await ledger_balances(core)
