"""Settlement values each posting at the transfer prices in force on the day it was booked.

The group runs in UTC. A member earns 4,000 retail points in October and spends them on desserts
at dining (800 points each): on November 10 and 20 and on December 5. Retail -> dining is priced
0.8 fen a point from November 1 (set in October) and 1.2 from November 15 (set on November 14).
By hand, at 1 fen a point before November:

- November: 800 at 0.8 = 640 (the 10th) and 800 at 1.2 = 960 (the 20th): dining is owed 1,600.
- December: 800 at 1.2 = 960, until a price of 2 from December 1 is set on December 20: then 1,600.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from gateway.core import Core
from gateway.ledger.postings import MemberRef
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.settlement.price_changes import set_transfer_price
from gateway.settlement.report import SettlementReport, settlement_report
from tests.helpers import earn, enrol_phone, retail_purchase


def utc(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


async def _price(core: Core, price: str, day: date, *, set_on: datetime) -> None:
    await set_transfer_price(
        core, issuer="retail", redeemer="dining", price=price, actor="admin", reason="rate", now=set_on, effective_from=day
    )


async def _dessert(core: Core, member: int, key: str, when: datetime) -> None:
    assert (await redeem(core, RedeemRequest(MemberRef(member_id=member), "dining", "dessert_voucher", 1, key), now=when)).points == -800


async def _script(core: Core) -> None:
    member = await enrol_phone(core, "13800138000", utc(10, 1))
    assert (await earn(core, member, "R-1", retail_purchase([("A", "grocery", 1, "4000.00")]), utc(10, 20))).points == 4000
    await _price(core, "0.8", date(2026, 11, 1), set_on=utc(10, 25))
    await _dessert(core, member, "DES-1", utc(11, 10))
    await _price(core, "1.2", date(2026, 11, 15), set_on=utc(11, 14))
    await _dessert(core, member, "DES-2", utc(11, 20))
    await _dessert(core, member, "DES-3", utc(12, 5))


def _matrix(report: SettlementReport) -> list[tuple[str, str, int, Decimal, int]]:
    return [(cell.issuer, cell.counterparty, cell.points, cell.price, cell.value) for cell in report.redemptions]


def _net(report: SettlementReport, code: str) -> int:
    return next(party.net for party in report.parties if party.code == code)


async def test_a_pair_whose_price_changed_in_the_month_has_one_cell_per_price(core: Core) -> None:
    await _script(core)

    november = await settlement_report(core, date(2026, 11, 1), date(2026, 11, 30))

    assert _matrix(november) == [
        ("retail", "dining", 800, Decimal("0.8"), 640),
        ("retail", "dining", 800, Decimal("1.2"), 960),
    ]
    assert (_net(november, "dining"), _net(november, "retail")) == (1600, -1600)
    assert next(party.redeemed for party in november.parties if party.code == "retail") == 1600
    assert november.default_price == Decimal(1)  # no default configured: a point pays 1 fen on a bill


async def test_a_new_price_does_not_change_the_months_before_its_day(core: Core) -> None:
    await _script(core)
    november = await settlement_report(core, date(2026, 11, 1), date(2026, 11, 30))
    december = await settlement_report(core, date(2026, 12, 1), date(2026, 12, 31))

    await _price(core, "2", date(2026, 12, 1), set_on=utc(12, 20))

    assert await settlement_report(core, date(2026, 11, 1), date(2026, 11, 30)) == november
    assert _matrix(december) == [("retail", "dining", 800, Decimal("1.2"), 960)]
    assert _matrix(await settlement_report(core, date(2026, 12, 1), date(2026, 12, 31))) == [
        ("retail", "dining", 800, Decimal("2"), 1600)
    ]


async def test_a_quarter_values_each_posting_as_its_month_does(core: Core) -> None:
    await _script(core)

    quarter = await settlement_report(core, date(2026, 10, 1), date(2026, 12, 31))

    assert _matrix(quarter) == [
        ("retail", "dining", 800, Decimal("0.8"), 640),
        ("retail", "dining", 1600, Decimal("1.2"), 1920),
    ]
    assert _net(quarter, "dining") == 640 + 960 + 960
    retail = next(party for party in quarter.parties if party.code == "retail")
    assert (retail.opening_liability, retail.issued, retail.redeemed, retail.closing_liability) == (0, 4000, 2400, 1600)


async def test_a_price_set_later_for_an_earlier_day_revalues_that_day_on(core: Core) -> None:
    await _script(core)

    await _price(core, "1", date(2026, 11, 10), set_on=utc(11, 25))

    november = await settlement_report(core, date(2026, 11, 1), date(2026, 11, 30))
    assert _matrix(november) == [
        ("retail", "dining", 800, Decimal("1"), 800),
        ("retail", "dining", 800, Decimal("1.2"), 960),
    ]
