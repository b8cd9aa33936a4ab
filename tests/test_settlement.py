"""Settlement of a scripted month: retail issues, dining and property redeem, one refund, one expiry.

The group runs in Asia/Shanghai with points expiring at the end of the 12th month after the month
earned. Every figure below is worked out by hand from the script, lot by lot (``L1`` ...), and
the report must equal it.

Before November 2026 (the opening liability: retail 400 + 1200 = 1600, dining 300, property 200):

- L1  M1 retail    400  2025-10-15, expires 2026-11-01 00:00 CST (due, not yet taken by the job)
- L2  M1 dining    300  2026-10-20, last valid month 2027-10
- L3  M2 retail   1200  2026-10-25, 2027-10
- L8  M4 property  200  2026-10-28, 2027-10 (¥400 management fee at 0.5 pt per ¥1)

November 2026 (CST):

- Nov  1 00:30  M2 retail ¥700 -> L4 700 (2027-11). 16:30 UTC on Oct 31: November in the group's zone.
- Nov  3        the expiry job takes L1: retail 400 expired.
- Nov  5        M2 redeems 2 desserts at dining, 1600 pts, first-expiring first: L3 1200 + L4 400: retail -> dining 1600.
- Nov  8        M1 retail ¥1000 -> L5 1000 (2027-11).
- Nov 10        M1 redeems 3 parking hours at property, 900 pts: L2 300 + L5 600: dining -> property 300, retail -> property 600.
- Nov 12, 13    M3 dining ¥900 -> L6 900; a dessert at dining, 800 from L6: dining -> dining 800 (no money moves).
- Nov 14        M1 dining ¥250 -> L7 250 (2027-11).
- Nov 15        M1 refund of ¥600 of the Nov 8 receipt: 600 pts due, 400 from L5 (its own lot) and 200 from
                L7 (the member had spent the rest): retail clawback of retail 400, of dining 200.
- Dec  1 00:30  M2 redeems a parking hour, 300 pts from L4: after the period (16:30 UTC on Nov 30).

Prices: a group default of 0.8 fen a point and retail -> dining at 1.2345. Values (fen): retail ->
dining 1600 × 1.2345 = 1975.2 -> 1975; retail -> property 600 × 0.8 = 480; dining -> property
300 × 0.8 = 240; dining -> dining 800 × 0.8 = 640; clawbacks retail 400 × 0.8 = 320 (own, no money
moves) and dining -> retail 200 × 0.8 = 160.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from gateway.core import Core
from gateway.ledger.expiry import expire_points
from gateway.ledger.postings import MemberRef
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.reverse import RefundRequest, refund_activity
from gateway.money import Money
from gateway.settings import Settings
from gateway.settlement.csv_export import settlement_csv
from gateway.settlement.price_changes import set_transfer_price
from gateway.settlement.report import SettlementReport, settlement_report, value_of
from tests.conftest import Backend
from tests.helpers import dining_bill, earn, enrol_phone, property_fee, retail_purchase

CST = ZoneInfo("Asia/Shanghai")


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """A moment in the group's time zone."""
    return datetime(year, month, day, hour, minute, tzinfo=CST)


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return Settings(
        database_url=backend.url,
        plugins=None,
        timezone="Asia/Shanghai",
        points_expiry_policy="end_of_month",
        points_expiry_n=12,
        _env_file=None,  # type: ignore[call-arg]
    )


def _redeem(member: int, format_code: str, reward: str, quantity: int, key: str) -> RedeemRequest:
    return RedeemRequest(member=MemberRef(member_id=member), format=format_code, reward=reward, quantity=quantity, idempotency_key=key)


async def _script(core: Core) -> None:
    """The month of the module docstring; asserts each earn and redemption is what the hand computation assumes."""
    m1 = await enrol_phone(core, "13800138001", at(2025, 10, 1))
    m2 = await enrol_phone(core, "13800138002", at(2026, 10, 1))
    m3 = await enrol_phone(core, "13800138003", at(2026, 10, 1))
    m4 = await enrol_phone(core, "13800138004", at(2026, 10, 1))
    assert (await earn(core, m1, "R-L1", retail_purchase([("A", "grocery", 1, "400.00")]), at(2025, 10, 15))).points == 400
    assert (await earn(core, m1, "D-L2", dining_bill("300.00"), at(2026, 10, 20), format_code="dining", kind="bill")).points == 300
    assert (await earn(core, m2, "R-L3", retail_purchase([("A", "grocery", 1, "1200.00")]), at(2026, 10, 25))).points == 1200
    fee = property_fee("400.00", period="2026-10")
    assert (await earn(core, m4, "P-L8", fee, at(2026, 10, 28), format_code="property", kind="fee_payment")).points == 200

    assert (await earn(core, m2, "R-L4", retail_purchase([("A", "grocery", 1, "700.00")]), at(2026, 11, 1, 0, 30))).points == 700
    assert (await expire_points(core, now=at(2026, 11, 3))).points == 400
    assert (await redeem(core, _redeem(m2, "dining", "dessert_voucher", 2, "DES-1"), now=at(2026, 11, 5))).points == -1600
    assert (await earn(core, m1, "R-L5", retail_purchase([("A", "grocery", 1, "1000.00")]), at(2026, 11, 8))).points == 1000
    assert (await redeem(core, _redeem(m1, "property", "parking_hour", 3, "PRK-1"), now=at(2026, 11, 10))).points == -900
    assert (await earn(core, m3, "D-L6", dining_bill("900.00"), at(2026, 11, 12), format_code="dining", kind="bill")).points == 900
    assert (await redeem(core, _redeem(m3, "dining", "dessert_voucher", 1, "DES-2"), now=at(2026, 11, 13))).points == -800
    assert (await earn(core, m1, "D-L7", dining_bill("250.00"), at(2026, 11, 14), format_code="dining", kind="bill")).points == 250
    refund = RefundRequest(format="retail", amount=Money(60000, "CNY"), idempotency_key="RF-1", original_key="R-L5")
    refunded = await refund_activity(core, refund, now=at(2026, 11, 15))
    assert refunded.points == -600 and refunded.details["fromActivityLots"] == 400 and refunded.details["fromOtherPoints"] == 200
    assert (await redeem(core, _redeem(m2, "property", "parking_hour", 1, "PRK-2"), now=at(2026, 12, 1, 0, 30))).points == -300


async def _prices(core: Core) -> None:
    await set_transfer_price(core, issuer=None, redeemer=None, price="0.8", actor="admin", reason="group rate 2026", now=at(2026, 10, 1))
    await set_transfer_price(
        core, issuer="retail", redeemer="dining", price="1.2345", actor="admin", reason="dining negotiated", now=at(2026, 10, 1)
    )


async def _november(core: Core) -> SettlementReport:
    await _prices(core)
    await _script(core)
    return await settlement_report(core, date(2026, 11, 1), date(2026, 11, 30))


def _matrix(cells: tuple) -> dict[tuple[str, str], tuple[int, Decimal, int]]:  # type: ignore[type-arg]
    return {(cell.issuer, cell.counterparty): (cell.points, cell.price, cell.value) for cell in cells}


async def test_the_redemption_matrix_equals_the_one_computed_by_hand(core: Core) -> None:
    report = await _november(core)

    assert _matrix(report.redemptions) == {
        ("dining", "dining"): (800, Decimal("0.8"), 640),
        ("dining", "property"): (300, Decimal("0.8"), 240),
        ("retail", "dining"): (1600, Decimal("1.2345"), 1975),
        ("retail", "property"): (600, Decimal("0.8"), 480),
    }


async def test_a_refund_shows_as_clawbacks_to_the_refunded_format_not_as_redemptions(core: Core) -> None:
    report = await _november(core)

    assert _matrix(report.clawbacks) == {
        ("dining", "retail"): (200, Decimal("0.8"), 160),
        ("retail", "retail"): (400, Decimal("0.8"), 320),
    }


async def test_each_format_pays_for_its_points_redeemed_elsewhere_and_the_nets_sum_to_zero(core: Core) -> None:
    report = await _november(core)

    money = {party.code: (party.receivable, party.payable, party.net) for party in report.parties}
    assert money == {
        "retail": (160, 1975 + 480, 160 - 2455),
        "dining": (1975, 240 + 160, 1975 - 400),
        "property": (480 + 240, 0, 720),
        "group": (0, 0, 0),
    }
    assert sum(party.net for party in report.parties) == 0
    assert report.settled_value == 1975 + 480 + 240 + 160


async def test_each_issuer_reconciles_opening_and_closing_liability(core: Core) -> None:
    report = await _november(core)

    movements = {
        party.code: (
            party.opening_liability, party.issued, party.redeemed, party.clawed_back, party.expired,
            party.adjusted, party.other, party.closing_liability, party.honoured, party.claws,
        )
        for party in report.parties
    }
    assert movements == {
        "retail": (1600, 1700, 2200, 400, 400, 0, 0, 300, 0, 600),
        "dining": (300, 1150, 1100, 200, 0, 0, 0, 150, 2400, 0),
        "property": (200, 0, 0, 0, 0, 0, 0, 200, 900, 0),
        "group": (0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    }
    for party in report.parties:
        assert party.closing_liability == (
            party.opening_liability + party.issued - party.redeemed - party.clawed_back - party.expired - party.adjusted - party.other
        )


async def test_liability_at_the_period_end_is_by_issuer_and_expiry_month_as_it_was_then(core: Core) -> None:
    report = await _november(core)

    # L4 still held 300 at the end of November: the parking hour of December 1 does not count.
    assert [(line.issuer, line.month, line.available, line.pending, line.held) for line in report.liability] == [
        ("dining", "2027-11", 150, 0, 0),
        ("property", "2027-10", 200, 0, 0),
        ("retail", "2027-11", 300, 0, 0),
    ]


async def test_the_period_follows_the_group_time_zone(core: Core) -> None:
    report = await _november(core)

    assert report.period.starts_at == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert report.period.ends_at == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    october = await settlement_report(core, date(2026, 10, 1), date(2026, 10, 31))
    assert [party.issued for party in october.parties if party.code == "retail"] == [1200]


async def test_the_csv_export_has_one_row_per_figure(core: Core) -> None:
    report = await _november(core)

    lines = settlement_csv(report).splitlines()
    assert lines[0] == (
        "period_from,period_to,section,format,counterparty,expiry_month,points,pending_points,held_points,"
        "price_per_point,value_minor,currency,closed_at"
    )
    head = "2026-11-01,2026-11-30"
    assert lines[1:7] == [
        f"{head},redemption,dining,dining,,800,,,0.8,640,CNY,",
        f"{head},redemption,dining,property,,300,,,0.8,240,CNY,",
        f"{head},redemption,retail,dining,,1600,,,1.2345,1975,CNY,",
        f"{head},redemption,retail,property,,600,,,0.8,480,CNY,",
        f"{head},clawback,dining,retail,,200,,,0.8,160,CNY,",
        f"{head},clawback,retail,retail,,400,,,0.8,320,CNY,",
    ]
    assert f"{head},net,retail,,,,,,,-2295,CNY," in lines
    assert f"{head},net,dining,,,,,,,1575,CNY," in lines
    assert f"{head},net,property,,,,,,,720,CNY," in lines
    assert lines[-3:] == [
        f"{head},liability,dining,,2027-11,150,0,0,,,,",
        f"{head},liability,property,,2027-10,200,0,0,,,,",
        f"{head},liability,retail,,2027-11,300,0,0,,,,",
    ]


def test_values_round_half_up_per_cell() -> None:
    assert value_of(3, Decimal("0.5")) == 2
    assert value_of(1, Decimal("0.49")) == 0
    assert value_of(-3, Decimal("0.5")) == -2
    assert value_of(1600, Decimal("1.2345")) == 1975
