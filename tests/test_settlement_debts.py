"""Settlement under ``allow_negative``: a refund debt repaid from later points is a clawback by the refunded format.

M earns 800 retail points and spends them on a dessert at dining; the purchase is refunded in full,
so the member owes 800 (a negative balance). A property fee then earns 500 points, all taken to
repay the debt; a dining bill in December earns 400, of which 300 finish repaying it. Property's
and dining's points were clawed back for retail's refund, so they owe retail their value; retail
still owes dining the dessert. At 1 fen a point (no price configured):

- November: retail -> dining 800 redeemed; property -> retail 500 clawed back. Nets: retail
  +500 − 800 = −300, dining +800, property −500.
- December: dining -> retail 300 clawed back (matched to the November refund first-in first-out).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gateway.core import Core
from gateway.ledger.postings import MemberRef
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.reverse import RefundRequest, refund_activity
from gateway.money import Money
from gateway.settings import Settings
from gateway.settlement.report import settlement_report
from tests.conftest import Backend
from tests.helpers import dining_bill, earn, enrol_phone, property_fee, retail_purchase


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return Settings(database_url=backend.url, plugins=None, refund_policy="allow_negative", _env_file=None)  # type: ignore[call-arg]


def utc(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


def _cells(cells: tuple) -> dict[tuple[str, str], int]:  # type: ignore[type-arg]
    return {(cell.issuer, cell.counterparty): cell.points for cell in cells}


async def test_repaid_refund_debts_are_clawbacks_of_the_repaying_issuer_by_the_refunded_format(core: Core) -> None:
    member = await enrol_phone(core, "13800138000", utc(10, 1))
    await earn(core, member, "R-1", retail_purchase([("A", "grocery", 1, "800.00")]), utc(11, 1))
    await redeem(core, RedeemRequest(MemberRef(member_id=member), "dining", "dessert_voucher", 1, "DES-1"), now=utc(11, 2))
    refund = RefundRequest(format="retail", amount=Money(80000, "CNY"), idempotency_key="RF-1", original_key="R-1")
    assert (await refund_activity(core, refund, now=utc(11, 3))).details["debt"] == 800
    assert (await earn(core, member, "P-1", property_fee("1000.00"), utc(11, 4), format_code="property", kind="fee_payment")).points == 500
    assert (await earn(core, member, "D-1", dining_bill("400.00"), utc(12, 5), format_code="dining", kind="bill")).balance_after == 100

    november = await settlement_report(core, date(2026, 11, 1), date(2026, 11, 30))
    december = await settlement_report(core, date(2026, 12, 1), date(2026, 12, 31))

    assert _cells(november.redemptions) == {("retail", "dining"): 800}
    assert _cells(november.clawbacks) == {("property", "retail"): 500}
    assert {party.code: party.net for party in november.parties} == {"retail": -300, "dining": 800, "property": -500, "group": 0}
    assert _cells(december.clawbacks) == {("dining", "retail"): 300}
    for report in (november, december):
        for party in report.parties:
            assert party.closing_liability == (
                party.opening_liability + party.issued - party.redeemed - party.clawed_back - party.expired - party.adjusted
            ), party
    assert [(line.issuer, line.points) for line in december.liability] == [("dining", 100)]
