"""Settlement of holds, cancellations, expiry, admin adjustments and pending points, each reconciled.

The group runs in UTC with the default expiry (24 months after earning) and no transfer price
configured: a point is worth ``settings.points_value_minor`` (1 fen) between formats. Every report
must reconcile, issuer by issuer: opening + issued − redeemed − clawed back − expired − adjusted
= closing liability.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from gateway.core import Core
from gateway.ledger.adjust import AdjustRequest, adjust_points
from gateway.ledger.cancel import CancelRequest, cancel_redemption
from gateway.ledger.expiry import expire_points
from gateway.ledger.holds import (
    CaptureRequest,
    HoldRequest,
    VoidRequest,
    capture_hold,
    place_hold,
    void_hold,
)
from gateway.ledger.postings import MemberRef
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.reverse import RefundRequest, refund_activity
from gateway.money import Money
from gateway.settlement.report import SettlementReport, settlement_report
from tests.helpers import earn, enrol_phone, retail_purchase
from tests.pending_plugin import BoutiquePlugin, BoutiqueSaleInput


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    return [("boutique", BoutiquePlugin())]


def utc(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def _november(core: Core) -> SettlementReport:
    return await settlement_report(core, date(2026, 11, 1), date(2026, 11, 30))


def _cells(cells: tuple) -> dict[tuple[str, str], tuple[int, int]]:  # type: ignore[type-arg]
    return {(cell.issuer, cell.counterparty): (cell.points, cell.value) for cell in cells}


def _party(report: SettlementReport, code: str) -> dict[str, int]:
    party = next(party for party in report.parties if party.code == code)
    return {
        "opening": party.opening_liability, "issued": party.issued, "redeemed": party.redeemed, "clawed_back": party.clawed_back,
        "expired": party.expired, "adjusted": party.adjusted, "closing": party.closing_liability, "net": party.net,
    }


def _assert_reconciles(report: SettlementReport) -> None:
    for party in report.parties:
        assert party.other == 0, party
        assert party.closing_liability == (
            party.opening_liability + party.issued - party.redeemed - party.clawed_back - party.expired - party.adjusted
        ), party
    assert sum(party.net for party in report.parties) == 0


def _hold(member: int, format_code: str, points: int, key: str) -> HoldRequest:
    return HoldRequest(member=MemberRef(member_id=member), format=format_code, points=points, idempotency_key=key, ttl=timedelta(hours=1))


async def test_held_points_are_redeemed_when_captured_and_owed_while_the_hold_is_open(core: Core) -> None:
    member = await enrol_phone(core, "13800138000", utc(2026, 10, 1))
    await earn(core, member, "R-1", retail_purchase([("A", "grocery", 1, "1000.00")]), utc(2026, 10, 20))
    await place_hold(core, _hold(member, "dining", 200, "H-1"), now=utc(2026, 10, 31, 23, 50))
    await capture_hold(core, CaptureRequest("dining", "H-1", "H-1-CAP", points=150), now=utc(2026, 11, 1, 0, 10))
    await place_hold(core, _hold(member, "property", 300, "H-2"), now=utc(2026, 11, 3))
    await void_hold(core, VoidRequest("property", "H-2", "H-2-VOID"), now=utc(2026, 11, 3, 12, 5))
    await place_hold(core, _hold(member, "dining", 400, "H-3"), now=utc(2026, 11, 30, 23, 50))
    await capture_hold(core, CaptureRequest("dining", "H-3", "H-3-CAP"), now=utc(2026, 12, 1, 0, 5))

    report = await _november(core)

    assert _cells(report.redemptions) == {("retail", "dining"): (150, 150)}
    assert _party(report, "retail") == {
        "opening": 1000, "issued": 0, "redeemed": 150, "clawed_back": 0, "expired": 0, "adjusted": 0, "closing": 850, "net": -150,
    }
    assert [(line.issuer, line.available, line.pending, line.held) for line in report.liability] == [("retail", 450, 0, 400)]
    _assert_reconciles(report)
    december = await settlement_report(core, date(2026, 12, 1), date(2026, 12, 31))
    assert _cells(december.redemptions) == {("retail", "dining"): (400, 400)}


async def test_a_cancellation_takes_the_redemption_off_in_its_own_period_and_expired_points_stay_expired(core: Core) -> None:
    member = await enrol_phone(core, "13800138000", utc(2024, 10, 1))
    await earn(core, member, "R-OLD", retail_purchase([("A", "grocery", 1, "1000.00")]), utc(2024, 11, 1))
    await redeem(core, RedeemRequest(MemberRef(member_id=member), "dining", "dessert_voucher", 1, "DES-1"), now=utc(2026, 10, 20))
    cancelled = await cancel_redemption(core, CancelRequest("dining", "DES-1-CANCEL", redemption_key="DES-1"), now=utc(2026, 11, 5))
    assert cancelled.details["expired"] == 800
    await expire_points(core, now=utc(2026, 11, 6))

    report = await _november(core)

    assert _cells(report.redemptions) == {("retail", "dining"): (-800, -800)}
    assert _party(report, "retail") == {
        "opening": 200, "issued": 0, "redeemed": -800, "clawed_back": 0, "expired": 1000, "adjusted": 0, "closing": 0, "net": 800,
    }
    assert _party(report, "dining")["net"] == -800
    _assert_reconciles(report)


async def test_a_cancellation_of_live_points_gives_them_back_to_the_liability(core: Core) -> None:
    member = await enrol_phone(core, "13800138000", utc(2026, 10, 1))
    await earn(core, member, "R-1", retail_purchase([("A", "grocery", 1, "1000.00")]), utc(2026, 10, 10))
    await redeem(core, RedeemRequest(MemberRef(member_id=member), "dining", "dessert_voucher", 1, "DES-1"), now=utc(2026, 10, 12))
    await cancel_redemption(core, CancelRequest("dining", "DES-1-CANCEL", redemption_key="DES-1"), now=utc(2026, 11, 5))

    report = await _november(core)

    assert _party(report, "retail") == {
        "opening": 200, "issued": 0, "redeemed": -800, "clawed_back": 0, "expired": 0, "adjusted": 0, "closing": 1000, "net": 800,
    }
    _assert_reconciles(report)


async def test_admin_credits_are_the_groups_points_and_debits_are_adjustments(core: Core) -> None:
    member = await enrol_phone(core, "13800138000", utc(2026, 10, 1))
    ref = MemberRef(member_id=member)
    await adjust_points(core, AdjustRequest(ref, 500, "goodwill", "ADJ-1", "admin"), now=utc(2026, 11, 1))
    await redeem(core, RedeemRequest(ref, "property", "parking_hour", 1, "PRK-1"), now=utc(2026, 11, 2))
    await adjust_points(core, AdjustRequest(ref, -100, "credited twice", "ADJ-2", "admin"), now=utc(2026, 11, 3))

    report = await _november(core)

    assert _cells(report.redemptions) == {("group", "property"): (300, 300)}
    assert _party(report, "group") == {
        "opening": 0, "issued": 500, "redeemed": 300, "clawed_back": 0, "expired": 0, "adjusted": 100, "closing": 100, "net": -300,
    }
    assert _party(report, "property")["net"] == 300
    _assert_reconciles(report)


async def test_a_refund_of_expired_points_claws_them_back_from_expiry(core: Core) -> None:
    member = await enrol_phone(core, "13800138000", utc(2024, 10, 1))
    await earn(core, member, "R-OLD", retail_purchase([("A", "grocery", 1, "500.00")]), utc(2024, 11, 1))
    await expire_points(core, now=utc(2026, 11, 3))
    refund = RefundRequest(format="retail", amount=Money(50000, "CNY"), idempotency_key="RF-1", original_key="R-OLD")
    assert (await refund_activity(core, refund, now=utc(2026, 11, 4))).details["fromExpiry"] == 500

    report = await _november(core)

    assert _cells(report.clawbacks) == {("retail", "retail"): (500, 500)}
    assert _party(report, "retail") == {
        "opening": 500, "issued": 0, "redeemed": 0, "clawed_back": 500, "expired": 0, "adjusted": 0, "closing": 0, "net": 0,
    }
    _assert_reconciles(report)


async def test_points_of_a_refunded_sale_given_back_by_a_void_are_reclaimed_as_a_clawback(core: Core) -> None:
    member = await enrol_phone(core, "13800138000", utc(2026, 10, 1))
    await earn(core, member, "R-1", retail_purchase([("A", "grocery", 1, "1000.00")]), utc(2026, 11, 1))
    await place_hold(core, _hold(member, "dining", 1000, "H-1"), now=utc(2026, 11, 2, 10, 0))
    refund = RefundRequest(format="retail", amount=Money(100000, "CNY"), idempotency_key="RF-1", original_key="R-1")
    assert (await refund_activity(core, refund, now=utc(2026, 11, 2, 10, 10))).details["unrecovered"] == 1000
    voided = await void_hold(core, VoidRequest("dining", "H-1", "H-1-VOID"), now=utc(2026, 11, 2, 10, 20))
    assert voided.posting.details["reclaimedPoints"] == 1000

    report = await _november(core)

    assert _cells(report.redemptions) == {}
    assert _cells(report.clawbacks) == {("retail", "retail"): (1000, 1000)}
    assert _party(report, "retail")["closing"] == 0
    _assert_reconciles(report)


async def test_pending_points_count_in_the_liability(core: Core) -> None:
    member = await enrol_phone(core, "13800138000", utc(2026, 10, 1))
    sale = BoutiqueSaleInput(points_now=100, points_later=50, pending_days=14)
    await earn(core, member, "B-1", sale, utc(2026, 11, 25), format_code="boutique", kind="sale")

    report = await _november(core)

    assert [(line.issuer, line.month, line.available, line.pending, line.held) for line in report.liability] == [
        ("boutique", "2028-11", 100, 50, 0)
    ]
    december = await settlement_report(core, date(2026, 12, 1), date(2026, 12, 31))
    assert [(line.available, line.pending) for line in december.liability] == [(150, 0)]
    _assert_reconciles(report)


async def test_the_report_issues_the_same_statements_for_one_member_or_many(core: Core, sql_statements) -> None:  # type: ignore[no-untyped-def]
    async def members(count: int, start: int) -> None:
        for n in range(start, start + count):
            member = await enrol_phone(core, f"1380013{n:04d}", utc(2026, 10, 1))
            await earn(core, member, f"R-{n}", retail_purchase([("A", "grocery", 1, "900.00")]), utc(2026, 11, 2))
            await redeem(core, RedeemRequest(MemberRef(member_id=member), "dining", "dessert_voucher", 1, f"D-{n}"), now=utc(2026, 11, 3))

    await members(1, 0)
    await _november(core)
    with sql_statements() as one:
        await _november(core)
    await members(4, 1)
    with sql_statements() as five:
        report = await _november(core)

    assert _cells(report.redemptions) == {("retail", "dining"): (4000, 4000)}
    assert one.count == five.count
