"""Closing a settlement period: its figures are stored for good, read back, audited, and checked for drift.

The group runs in UTC at a default transfer price of 0.8 fen a point (from October 1). A member
earns 1,000 retail points on October 20 and spends 800 on a dessert at dining on November 10: in
November retail owes dining 800 × 0.8 = 640 fen, and retail still owes the member 200 points.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from gateway.config_audit import config_changes
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.postings import MemberRef
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.persistence.models import lot_consumption_table
from gateway.persistence.settlement_tables import (
    settlement_closing_table,
    transfer_price_table,
)
from gateway.settlement.closing import close_settlement_period, period_settlement
from gateway.settlement.csv_export import settlement_csv
from gateway.settlement.drift import Difference, settlement_drift
from gateway.settlement.price_changes import set_transfer_price
from gateway.settlement.prices import transfer_prices
from gateway.settlement.report import SettlementReport, settlement_report
from tests.helpers import earn, enrol_phone, retail_purchase

NOV_1, NOV_30 = date(2026, 11, 1), date(2026, 11, 30)
DECEMBER_2 = datetime(2026, 12, 2, 9, tzinfo=UTC)


def utc(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


async def _november(core: Core) -> int:
    """The month of the module docstring; returns the dessert's posting id."""
    await set_transfer_price(
        core, issuer=None, redeemer=None, price="0.8", actor="admin", reason="group rate", now=utc(9, 30), effective_from=date(2026, 10, 1)
    )
    member = await enrol_phone(core, "13800138000", utc(10, 1))
    await earn(core, member, "R-1", retail_purchase([("A", "grocery", 1, "1000.00")]), utc(10, 20))
    dessert = await redeem(core, RedeemRequest(MemberRef(member_id=member), "dining", "dessert_voucher", 1, "DES-1"), now=utc(11, 10))
    return dessert.id


async def _close(core: Core, first: date = NOV_1, last: date = NOV_30, *, now: datetime = DECEMBER_2) -> SettlementReport:
    return await close_settlement_period(core, first=first, last=last, actor="finance-admin", reason="November paid", now=now)


def _figures(report: SettlementReport) -> SettlementReport:
    """The report without its closing mark, to compare figures."""
    return replace(report, closing=None)


async def test_closing_stores_the_figures_and_the_period_reads_them_from_then_on(core: Core) -> None:
    await _november(core)
    computed = await settlement_report(core, NOV_1, NOV_30)

    closed = await _close(core)
    read = await period_settlement(core, NOV_1, NOV_30)

    assert closed.closing is not None and (closed.closing.closed_by, closed.closing.closed_at) == ("finance-admin", DECEMBER_2)
    assert read == closed
    assert _figures(read) == computed
    assert [(cell.issuer, cell.counterparty, cell.points, cell.value) for cell in read.redemptions] == [("retail", "dining", 800, 640)]


async def test_a_closed_period_keeps_its_figures_when_the_ledger_is_altered_and_drift_names_each_difference(core: Core) -> None:
    dessert = await _november(core)
    closed = await _close(core)
    assert [(drift.matches, drift.differences) for drift in await settlement_drift(core)] == [(True, ())]

    async with core.db.write() as conn:  # a hand-made "fix" behind the gateway: the dessert drew 700, not 800
        await conn.execute(update(lot_consumption_table).where(lot_consumption_table.c.posting_id == dessert).values(points=700))

    assert await period_settlement(core, NOV_1, NOV_30) == closed
    [drift] = await settlement_drift(core)
    assert drift.closed == closed and not drift.matches
    price = closed.redemptions[0].price
    assert drift.differences == (
        Difference("redemption", "points", 800, 700, format="retail", counterparty="dining", price=price),
        Difference("redemption", "value", 640, 560, format="retail", counterparty="dining", price=price),
        Difference("party", "honoured", 800, 700, format="dining"),
        Difference("party", "receivable", 640, 560, format="dining"),
        Difference("party", "net", 640, 560, format="dining"),
        Difference("party", "redeemed", 800, 700, format="retail"),
        Difference("party", "closing_liability", 200, 300, format="retail"),
        Difference("party", "payable", 640, 560, format="retail"),
        Difference("party", "net", -640, -560, format="retail"),
        Difference("liability", "available", 200, 300, format="retail", month="2028-10"),
    )


async def test_drift_checks_only_the_closed_periods_in_the_range_asked(core: Core) -> None:
    await _november(core)
    await _close(core)
    await _close(core, date(2026, 12, 1), date(2026, 12, 31), now=datetime(2027, 1, 1, tzinfo=UTC))

    everything = await settlement_drift(core)
    december = await settlement_drift(core, date(2026, 12, 15), date(2027, 3, 31))

    assert [(d.closed.period.first, d.matches) for d in everything] == [(NOV_1, True), (date(2026, 12, 1), True)]
    assert [d.closed.period.first for d in december] == [date(2026, 12, 1)]


@pytest.mark.parametrize(
    ("first", "last"),
    [(NOV_1, NOV_30), (date(2026, 11, 15), date(2026, 12, 15)), (date(2026, 10, 1), date(2026, 11, 1)), (date(2026, 11, 30), NOV_30)],
    ids=["the same period", "overlapping its end", "overlapping its start", "its last day"],
)
async def test_a_period_sharing_a_day_with_a_closed_one_is_refused_and_writes_nothing(core: Core, first: date, last: date) -> None:
    await _november(core)
    await _close(core)

    with pytest.raises(AtriumError) as refused:
        await _close(core, first, last, now=datetime(2027, 1, 1, tzinfo=UTC))

    assert (refused.value.code, refused.value.field) == (ErrorCode.PERIOD_CLOSED, "from")
    async with core.db.read() as conn:
        assert len((await conn.execute(select(settlement_closing_table))).all()) == 1
        assert len(await config_changes(conn, entity="settlement_period")) == 1


async def test_the_month_after_a_closed_one_can_be_closed(core: Core) -> None:
    await _november(core)
    await _close(core)

    december = await _close(core, date(2026, 12, 1), date(2026, 12, 31), now=datetime(2027, 1, 1, tzinfo=UTC))

    assert december.closing is not None
    assert [party.opening_liability for party in december.parties if party.code == "retail"] == [200]


@pytest.mark.parametrize(
    ("last", "now", "field"),
    [
        (NOV_30, datetime(2026, 11, 30, 23, 59, tzinfo=UTC), "to"),  # not over yet: a posting could still be booked into it
        (date(2026, 10, 31), DECEMBER_2, "to"),  # ends before it starts
    ],
)
async def test_a_period_not_over_or_ending_before_it_starts_cannot_be_closed(core: Core, last: date, now: datetime, field: str) -> None:
    with pytest.raises(AtriumError) as refused:
        await _close(core, NOV_1, last, now=now)

    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, field)
    async with core.db.read() as conn:
        assert (await conn.execute(select(settlement_closing_table))).all() == []


async def test_closing_is_audited_with_the_period_and_its_headline_figures(core: Core) -> None:
    await _november(core)
    await _close(core)

    async with core.db.read() as conn:
        [change] = await config_changes(conn, entity="settlement_period")

    assert (change.key, change.actor, change.reason, change.before) == ("2026-11-01..2026-11-30", "finance-admin", "November paid", None)
    assert change.after == {
        "from": "2026-11-01",
        "to": "2026-11-30",
        "currency": "CNY",
        "settledValueMinor": 640,
        "nets": {"dining": 640, "property": 0, "retail": -640, "group": 0},
        "liabilityPoints": 200,
    }


async def test_prices_cannot_change_from_a_day_in_closed_books(core: Core) -> None:
    await _november(core)
    await _close(core)

    with pytest.raises(AtriumError) as refused:
        await set_transfer_price(
            core, issuer="retail", redeemer="dining", price="2", actor="admin", reason="late", now=DECEMBER_2,
            effective_from=date(2026, 11, 20), field="input",
        )
    await set_transfer_price(
        core, issuer="retail", redeemer="dining", price="2", actor="admin", reason="next month", now=DECEMBER_2, effective_from=date(2026, 12, 1)
    )

    assert (refused.value.code, refused.value.field) == (ErrorCode.PERIOD_CLOSED, "input.effectiveFrom")
    assert [d.matches for d in await settlement_drift(core)] == [True]


async def test_the_database_refuses_to_change_or_delete_a_closed_period(core: Core) -> None:
    await _november(core)
    await _close(core)

    for statement in (update(settlement_closing_table).values(reason="rewritten"), settlement_closing_table.delete()):
        with pytest.raises(DBAPIError):
            async with core.db.write() as conn:
                await conn.execute(statement)

    assert (await period_settlement(core, NOV_1, NOV_30)).closing.reason == "November paid"  # type: ignore[union-attr]


async def test_the_csv_of_a_closed_period_is_its_stored_figures_marked_with_the_closing(core: Core) -> None:
    dessert = await _november(core)
    await _close(core)
    async with core.db.write() as conn:
        await conn.execute(update(lot_consumption_table).where(lot_consumption_table.c.posting_id == dessert).values(points=700))

    lines = settlement_csv(await period_settlement(core, NOV_1, NOV_30)).splitlines()

    assert "2026-11-01,2026-11-30,redemption,retail,dining,,800,,,0.8,640,CNY,2026-12-02T09:00:00+00:00" in lines
    assert all(line.endswith(",2026-12-02T09:00:00+00:00") for line in lines[1:])


async def test_closing_values_at_the_prices_on_record_even_when_the_cache_is_stale(core: Core) -> None:
    await _november(core)
    assert (await transfer_prices(core)).on(NOV_1).price("retail", "dining", fallback=1) == Decimal("0.8")  # cached
    async with core.db.write() as conn:  # the default changed behind the cache's back
        await conn.execute(update(transfer_price_table).values(price_minor=Decimal("1")))

    closed = await _close(core)

    assert [(cell.points, cell.price, cell.value) for cell in closed.redemptions] == [(800, Decimal("1"), 800)]
    assert [d.matches for d in await settlement_drift(core)] == [True]


async def test_drift_sees_a_price_row_changed_behind_the_gateway(core: Core) -> None:
    await _november(core)
    await _close(core)
    await transfer_prices(core)  # warm the cache

    async with core.db.write() as conn:
        await conn.execute(update(transfer_price_table).values(price_minor=Decimal("1")))

    [drift] = await settlement_drift(core)
    assert drift.differences[:2] == (
        Difference("redemption", "points", 800, 0, format="retail", counterparty="dining", price=Decimal("0.8")),
        Difference("redemption", "value", 640, 0, format="retail", counterparty="dining", price=Decimal("0.8")),
    )
    assert drift.differences[2:4] == (
        Difference("redemption", "points", 0, 800, format="retail", counterparty="dining", price=Decimal("1")),
        Difference("redemption", "value", 0, 800, format="retail", counterparty="dining", price=Decimal("1")),
    )
