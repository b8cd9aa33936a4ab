"""Points plus cash: quote how many points may pay a bill (rate, cap, balance), then apply it once."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.cash import OffsetRequest, apply_points_offset, quote_points_offset
from gateway.ledger.holds import HoldRequest, place_hold
from gateway.ledger.postings import MemberRef
from gateway.ledger.verify import verify_ledger
from gateway.member_status import freeze_member
from gateway.money import Money
from gateway.persistence.models import (
    entry_table,
    lot_consumption_table,
    lot_table,
    member_table,
)
from gateway.settings import PointsOffsetOverride
from tests.helpers import earn, enrol_phone, phone_ref, retail_purchase, snapshot

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
PHONE = "13800138000"


def _cny(minor: int) -> Money:
    return Money(minor, "CNY")


def _with(core: Core, **settings: Any) -> Core:
    """The same core (same database and plugins) under other settings."""
    return dataclasses.replace(core, settings=core.settings.model_copy(update=settings))


async def _member(core: Core, *lots: tuple[int, datetime]) -> int:
    """A member with a retail lot of ``points`` earned at each given time (1 pt per ¥1, under Silver)."""
    member_id = await enrol_phone(core, PHONE, T0 - timedelta(days=400))
    for n, (points, earned_at) in enumerate(lots):
        purchase = retail_purchase([("SKU1", "grocery", 1, f"{points}.00")], purchased_at=earned_at)
        await earn(core, member_id, f"R-{n}", purchase, T0 - timedelta(hours=1))
    return member_id


def _offset(member_id: int, bill: int, points: int, key: str = "BILL-1", format_code: str = "property") -> OffsetRequest:
    return OffsetRequest(MemberRef(member_id=member_id), format_code, _cny(bill), points, key)


async def _balance(core: Core, member_id: int) -> int:
    async with core.db.read() as conn:
        return int(await conn.scalar(select(member_table.c.points_balance).where(member_table.c.id == member_id)))


# --- quoting -----------------------------------------------------------------------------------


async def test_a_quote_lets_points_pay_half_the_bill_by_default(core: Core) -> None:
    member_id = await _member(core, (1500, T0 - timedelta(days=1)))

    quote = await quote_points_offset(core, MemberRef(member_id=member_id), "property", _cny(20_00), now=T0)

    assert (quote.points, quote.max_points, quote.balance) == (1000, 1000, 1500)
    assert (quote.offset, quote.cash) == (_cny(10_00), _cny(10_00))
    assert (quote.policy.points_value_minor, quote.policy.cap_percent) == (1, 50)


async def test_a_quote_is_limited_by_the_balance(core: Core) -> None:
    member_id = await _member(core, (1500, T0 - timedelta(days=1)))

    quote = await quote_points_offset(core, MemberRef(member_id=member_id), "property", _cny(100_00), now=T0)

    assert (quote.points, quote.max_points) == (1500, 5000)
    assert (quote.offset, quote.cash) == (_cny(15_00), _cny(85_00))


async def test_a_quote_never_pays_with_a_partial_point(core: Core) -> None:
    member_id = await _member(core, (1500, T0 - timedelta(days=1)))
    three_fen = _with(core, points_value_minor=3)

    quote = await quote_points_offset(three_fen, MemberRef(member_id=member_id), "property", _cny(10_01), now=T0)

    # 50% of 1001 fen is 500 fen (rounded down); 500 // 3 = 166 whole points pay 498 fen.
    assert (quote.points, quote.offset, quote.cash) == (166, _cny(4_98), _cny(5_03))


async def test_a_format_override_changes_rate_and_cap_for_that_format_only(core: Core) -> None:
    member_id = await _member(core, (1500, T0 - timedelta(days=1)))
    policy = _with(core, points_offset_overrides={"dining": PointsOffsetOverride(points_value_minor=2, cap_percent=30)})
    ref = MemberRef(member_id=member_id)

    dining = await quote_points_offset(policy, ref, "dining", _cny(20_00), now=T0)
    retail = await quote_points_offset(policy, ref, "retail", _cny(20_00), now=T0)

    assert (dining.points, dining.offset, dining.policy.cap_percent) == (300, _cny(6_00), 30)
    assert (retail.points, retail.offset, retail.policy.cap_percent) == (1000, _cny(10_00), 50)


async def test_an_override_keeps_the_group_value_it_leaves_out(core: Core) -> None:
    member_id = await _member(core, (1500, T0 - timedelta(days=1)))
    policy = _with(core, points_value_minor=2, points_offset_overrides={"dining": PointsOffsetOverride(cap_percent=100)})

    quote = await quote_points_offset(policy, MemberRef(member_id=member_id), "dining", _cny(20_00), now=T0)

    assert (quote.policy.points_value_minor, quote.policy.cap_percent, quote.points) == (2, 100, 1000)


async def test_a_quote_counts_a_lapsed_holds_points_without_writing(core: Core) -> None:
    member_id = await _member(core, (1500, T0 - timedelta(days=1)))
    await place_hold(core, HoldRequest(MemberRef(member_id=member_id), "dining", 1000, "TILL-1"), now=T0)
    before = await snapshot(core)

    held = await quote_points_offset(core, MemberRef(member_id=member_id), "property", _cny(100_00), now=T0)
    lapsed = await quote_points_offset(core, MemberRef(member_id=member_id), "property", _cny(100_00), now=T0 + timedelta(hours=1))

    assert (held.points, lapsed.points) == (500, 1500)
    assert await snapshot(core) == before


async def test_a_quote_finds_the_member_by_identity(core: Core) -> None:
    await _member(core, (1500, T0 - timedelta(days=1)))

    quote = await quote_points_offset(core, phone_ref(PHONE), "property", _cny(20_00), now=T0)

    assert quote.points == 1000


async def test_a_frozen_members_quote_is_member_frozen(core: Core) -> None:
    member_id = await _member(core, (1500, T0 - timedelta(days=1)))
    await freeze_member(core.db, MemberRef(member_id=member_id), actor="admin", reason="fraud check", now=T0)

    with pytest.raises(AtriumError) as raised:
        await quote_points_offset(core, MemberRef(member_id=member_id), "property", _cny(20_00), now=T0)

    assert raised.value.code is ErrorCode.MEMBER_FROZEN


async def test_a_bill_in_another_currency_is_unsupported_currency(core: Core) -> None:
    member_id = await _member(core, (1500, T0 - timedelta(days=1)))

    with pytest.raises(AtriumError) as raised:
        await quote_points_offset(core, MemberRef(member_id=member_id), "property", Money(20_00, "USD"), now=T0)

    assert (raised.value.code, raised.value.field) == (ErrorCode.UNSUPPORTED_CURRENCY, "bill.currency")


# --- applying ----------------------------------------------------------------------------------


async def test_applying_an_offset_moves_points_to_the_formats_redemption_account(core: Core) -> None:
    member_id = await _member(core, (1500, T0 - timedelta(days=1)))

    result = await apply_points_offset(core, _offset(member_id, 20_00, 800), now=T0)

    assert (result.kind, result.points, result.balance_after, result.amount_minor) == ("offset", -800, 700, 20_00)
    assert result.details == {
        "billMinor": 20_00, "offsetMinor": 8_00, "cashMinor": 12_00, "currency": "CNY", "pointsValueMinor": 1, "capPercent": 50,
    }
    async with core.db.read() as conn:
        entries = set((await conn.execute(select(entry_table.c.account, entry_table.c.amount).where(entry_table.c.posting_id == result.id))).all())
    assert entries == {("member.wallet", -800), ("format.property.redemption", 800)}
    async with core.db.read() as conn:
        assert await verify_ledger(conn) == []


async def test_an_offset_draws_lots_first_expiring_first(core: Core) -> None:
    member_id = await _member(core, (600, T0 - timedelta(days=30)), (900, T0 - timedelta(days=1)))

    result = await apply_points_offset(core, _offset(member_id, 20_00, 800), now=T0)

    async with core.db.read() as conn:
        draws = (
            await conn.execute(
                select(lot_table.c.points, lot_consumption_table.c.points)
                .join(lot_table, lot_table.c.id == lot_consumption_table.c.lot_id)
                .where(lot_consumption_table.c.posting_id == result.id)
                .order_by(lot_table.c.id)
            )
        ).all()
    assert [tuple(draw) for draw in draws] == [(600, 600), (900, 200)]


async def test_replaying_an_offset_returns_the_original_posting(core: Core) -> None:
    member_id = await _member(core, (1500, T0 - timedelta(days=1)))
    original = await apply_points_offset(core, _offset(member_id, 20_00, 800), now=T0)

    replay = await apply_points_offset(core, _offset(member_id, 20_00, 800), now=T0 + timedelta(minutes=1))

    assert (replay.replayed, replay.id, replay.balance_after) == (True, original.id, 700)
    assert await _balance(core, member_id) == 700


async def test_an_offset_key_reused_for_another_bill_is_idempotency_key_reused(core: Core) -> None:
    member_id = await _member(core, (1500, T0 - timedelta(days=1)))
    await apply_points_offset(core, _offset(member_id, 20_00, 800), now=T0)

    with pytest.raises(AtriumError) as raised:
        await apply_points_offset(core, _offset(member_id, 30_00, 800), now=T0)

    assert raised.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED


async def test_an_offset_beyond_the_cap_is_invalid_input_and_writes_nothing(core: Core) -> None:
    member_id = await _member(core, (1500, T0 - timedelta(days=1)))
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await apply_points_offset(core, _offset(member_id, 20_00, 1001), now=T0)

    assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_INPUT, "points")
    assert "At most 1000 pts" in raised.value.message
    assert await snapshot(core) == before


async def test_an_offset_beyond_the_balance_is_insufficient_points_and_stays_failed(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    with pytest.raises(AtriumError) as raised:
        await apply_points_offset(core, _offset(member_id, 20_00, 800), now=T0)
    assert raised.value.code is ErrorCode.INSUFFICIENT_POINTS
    await earn(core, member_id, "R-more", retail_purchase([("SKU1", "grocery", 1, "500.00")]), T0)

    with pytest.raises(AtriumError) as again:
        await apply_points_offset(core, _offset(member_id, 20_00, 800), now=T0)

    assert again.value.code is ErrorCode.INSUFFICIENT_POINTS
    assert await _balance(core, member_id) == 1000
