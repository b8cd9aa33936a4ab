"""Holds: a till reserves points, then captures or voids them; a hold left alone voids itself."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from gateway.cli import app
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.holds import (
    CaptureRequest,
    HoldRequest,
    HoldResult,
    VoidRequest,
    capture_hold,
    place_hold,
    sweep_holds,
    void_hold,
)
from gateway.ledger.postings import MemberRef
from gateway.ledger.verify import Discrepancy, verify_ledger
from gateway.member_status import freeze_member
from gateway.members import get_members
from gateway.persistence.models import (
    entry_table,
    hold_table,
    lot_consumption_table,
    lot_table,
    member_table,
    posting_table,
)
from tests.conftest import Backend
from tests.helpers import earn, enrol_phone, retail_purchase, snapshot

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
"""The tests' clock: every write passes its own time."""

LATER = T0 + timedelta(minutes=31)
"""Past the default 30-minute hold."""

PHONE = "13800138000"


async def _member(core: Core, *lots: tuple[int, datetime]) -> int:
    """A member with one retail lot of ``points`` earned at each given time (1 pt per ¥1, under Silver)."""
    member_id = await enrol_phone(core, PHONE, T0 - relativedelta(years=3))
    for n, (points, earned_at) in enumerate(lots):
        purchase = retail_purchase([("SKU1", "grocery", 1, f"{points}.00")], purchased_at=earned_at)
        await earn(core, member_id, f"R-{n}", purchase, T0 - timedelta(hours=1))
    return member_id


def _hold(member_id: int, key: str, points: int, ttl: timedelta | None = None) -> HoldRequest:
    return HoldRequest(MemberRef(member_id=member_id), "dining", points, key, ttl)


def _capture(hold: str, key: str, points: int | None = None, format_code: str = "dining") -> CaptureRequest:
    return CaptureRequest(format_code, hold, key, points)


async def _balances(core: Core, member_id: int) -> tuple[int, int]:
    """``(points_balance, held_balance)`` as stored."""
    async with core.db.read() as conn:
        row = (
            await conn.execute(
                select(member_table.c.points_balance, member_table.c.held_balance).where(member_table.c.id == member_id)
            )
        ).one()
    return int(row[0]), int(row[1])


async def _lots(core: Core, member_id: int) -> list[int]:
    """What each of the member's lots has left, oldest first."""
    async with core.db.read() as conn:
        rows = await conn.execute(select(lot_table.c.remaining).where(lot_table.c.member_id == member_id).order_by(lot_table.c.id))
        return [int(remaining) for (remaining,) in rows]


async def _entries(core: Core, posting_id: int) -> set[tuple[str, int | None, int]]:
    async with core.db.read() as conn:
        rows = await conn.execute(
            select(entry_table.c.account, entry_table.c.member_id, entry_table.c.amount).where(entry_table.c.posting_id == posting_id)
        )
        return set(rows.all())


async def _draws(core: Core, posting_id: int) -> list[tuple[int, int]]:
    async with core.db.read() as conn:
        rows = await conn.execute(
            select(lot_consumption_table.c.lot_id, lot_consumption_table.c.points)
            .where(lot_consumption_table.c.posting_id == posting_id)
            .order_by(lot_consumption_table.c.lot_id)
        )
        return [(int(lot_id), int(points)) for lot_id, points in rows]


async def _lot_ids(core: Core, member_id: int) -> list[int]:
    async with core.db.read() as conn:
        rows = await conn.execute(select(lot_table.c.id).where(lot_table.c.member_id == member_id).order_by(lot_table.c.id))
        return [int(lot_id) for (lot_id,) in rows]


async def _verify(core: Core) -> list[Discrepancy]:
    async with core.db.read() as conn:
        return list(await verify_ledger(conn))


async def _status(core: Core, key: str) -> str:
    async with core.db.read() as conn:
        return str(await conn.scalar(select(hold_table.c.status).where(hold_table.c.idempotency_key == key)))


# --- placing -----------------------------------------------------------------------------------


async def test_a_hold_moves_points_from_the_wallet_to_held(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))

    placed = await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)

    assert (placed.posting.kind, placed.posting.points, placed.posting.balance_after) == ("hold", -200, 300)
    assert (placed.hold.status, placed.hold.points, placed.hold.expires_at) == ("held", 200, T0 + timedelta(minutes=30))
    assert await _balances(core, member_id) == (300, 200)
    assert await _entries(core, placed.posting.id) == {("member.wallet", member_id, -200), ("member.held", member_id, 200)}
    assert await _verify(core) == []


async def test_a_hold_draws_its_points_from_lots_first_expiring_first(core: Core) -> None:
    member_id = await _member(core, (100, T0 - timedelta(days=30)), (200, T0 - timedelta(days=1)))
    older, newer = await _lot_ids(core, member_id)

    placed = await place_hold(core, _hold(member_id, "TILL-1", 150), now=T0)

    assert await _draws(core, placed.posting.id) == [(older, 100), (newer, 50)]
    assert await _lots(core, member_id) == [0, 150]


async def test_a_hold_beyond_the_balance_is_insufficient_points_and_writes_nothing(core: Core) -> None:
    member_id = await _member(core, (100, T0 - timedelta(days=1)))
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await place_hold(core, _hold(member_id, "TILL-1", 101), now=T0)

    assert (raised.value.code, raised.value.field) == (ErrorCode.INSUFFICIENT_POINTS, None)
    after = await snapshot(core)
    assert after["members"] == before["members"] and after["counts"]["hold"] == 0  # type: ignore[index]


async def test_a_refused_hold_stays_refused_after_the_member_earns_enough(core: Core) -> None:
    member_id = await _member(core, (100, T0 - timedelta(days=1)))
    with pytest.raises(AtriumError):
        await place_hold(core, _hold(member_id, "TILL-1", 150), now=T0)
    await earn(core, member_id, "R-more", retail_purchase([("SKU1", "grocery", 1, "100.00")]), T0)

    with pytest.raises(AtriumError) as raised:
        await place_hold(core, _hold(member_id, "TILL-1", 150), now=T0)

    assert raised.value.code is ErrorCode.INSUFFICIENT_POINTS


async def test_replaying_a_hold_returns_the_original_posting_and_hold(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    placed = await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)

    replay = await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0 + timedelta(minutes=1))

    assert replay.posting.replayed is True
    assert (replay.posting.id, replay.hold.id) == (placed.posting.id, placed.hold.id)
    assert await _balances(core, member_id) == (300, 200)


async def test_a_hold_key_reused_for_other_points_is_idempotency_key_reused(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)

    with pytest.raises(AtriumError) as raised:
        await place_hold(core, _hold(member_id, "TILL-1", 300), now=T0)

    assert raised.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED


async def test_a_hold_longer_than_a_day_is_invalid_input(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))

    with pytest.raises(AtriumError) as raised:
        await place_hold(core, _hold(member_id, "TILL-1", 200, ttl=timedelta(days=2)), now=T0)

    assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_INPUT, "ttlMinutes")


async def test_held_points_cannot_be_spent_by_another_hold(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 400), now=T0)

    with pytest.raises(AtriumError) as raised:
        await place_hold(core, _hold(member_id, "TILL-2", 200), now=T0)

    assert raised.value.code is ErrorCode.INSUFFICIENT_POINTS


async def test_twenty_concurrent_holds_of_100_on_1000_place_exactly_ten(core: Core) -> None:
    member_id = await _member(core, (1000, T0 - timedelta(days=1)))

    outcomes = await asyncio.gather(
        *(place_hold(core, _hold(member_id, f"RACE-{n:02d}", 100), now=T0) for n in range(20)), return_exceptions=True
    )

    placed = [o for o in outcomes if isinstance(o, HoldResult)]
    refused = [o for o in outcomes if isinstance(o, AtriumError) and o.code is ErrorCode.INSUFFICIENT_POINTS]
    assert (len(placed), len(refused)) == (10, 10)
    assert sorted(o.posting.balance_after for o in placed) == list(range(0, 1000, 100))
    assert await _balances(core, member_id) == (0, 1000)
    assert await _verify(core) == []


# --- capturing ---------------------------------------------------------------------------------


async def test_capturing_a_hold_spends_its_points_at_the_format(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)

    captured = await capture_hold(core, _capture("TILL-1", "PAY-1"), now=T0 + timedelta(minutes=2))

    assert (captured.posting.kind, captured.posting.points, captured.posting.balance_after) == ("capture", 0, 300)
    assert (captured.hold.status, captured.hold.settle_posting_id) == ("captured", captured.posting.id)
    assert await _entries(core, captured.posting.id) == {("member.held", member_id, -200), ("format.dining.redemption", None, 200)}
    assert await _balances(core, member_id) == (300, 0)
    assert await _verify(core) == []


async def test_a_partial_capture_returns_the_rest_to_the_lots_it_came_from(core: Core) -> None:
    member_id = await _member(core, (100, T0 - timedelta(days=30)), (200, T0 - timedelta(days=1)))
    older, newer = await _lot_ids(core, member_id)
    await place_hold(core, _hold(member_id, "TILL-1", 250), now=T0)

    captured = await capture_hold(core, _capture("TILL-1", "PAY-1", points=120), now=T0 + timedelta(minutes=2))

    assert (captured.posting.points, captured.posting.balance_after) == (130, 180)
    assert await _lots(core, member_id) == [0, 180]
    assert await _draws(core, captured.posting.id) == [(newer, -130)]
    assert captured.posting.details["lots"] == [
        {"lotId": older, "format": "retail", "captured": 100, "returned": 0, "reclaimed": 0, "expired": 0},
        {"lotId": newer, "format": "retail", "captured": 20, "returned": 130, "reclaimed": 0, "expired": 0},
    ]
    assert await _entries(core, captured.posting.id) == {
        ("member.held", member_id, -250), ("format.dining.redemption", None, 120), ("member.wallet", member_id, 130),
    }
    assert await _verify(core) == []


async def test_capturing_more_than_the_hold_is_invalid_input(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)

    with pytest.raises(AtriumError) as raised:
        await capture_hold(core, _capture("TILL-1", "PAY-1", points=201), now=T0)

    assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_INPUT, "points")
    assert await _status(core, "TILL-1") == "held"


async def test_replaying_a_capture_returns_the_original_posting(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)
    captured = await capture_hold(core, _capture("TILL-1", "PAY-1", points=150), now=T0)

    replay = await capture_hold(core, _capture("TILL-1", "PAY-1", points=150), now=T0 + timedelta(hours=2))

    assert (replay.posting.replayed, replay.posting.id) == (True, captured.posting.id)
    assert replay.hold.status == "captured"
    assert await _balances(core, member_id) == (350, 0)


async def test_a_hold_is_captured_once_a_second_capture_is_hold_not_active(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)
    await capture_hold(core, _capture("TILL-1", "PAY-1"), now=T0)

    with pytest.raises(AtriumError) as raised:
        await capture_hold(core, _capture("TILL-1", "PAY-2"), now=T0)

    assert (raised.value.code, raised.value.field) == (ErrorCode.HOLD_NOT_ACTIVE, "hold")
    assert await _balances(core, member_id) == (300, 0)


async def test_two_concurrent_captures_of_one_hold_capture_it_once(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)

    outcomes = await asyncio.gather(
        *(capture_hold(core, _capture("TILL-1", f"PAY-{n}"), now=T0) for n in range(4)), return_exceptions=True
    )

    assert sum(isinstance(o, HoldResult) for o in outcomes) == 1
    assert all(o.code is ErrorCode.HOLD_NOT_ACTIVE for o in outcomes if isinstance(o, AtriumError))
    assert await _balances(core, member_id) == (300, 0)
    assert await _verify(core) == []


async def test_capturing_another_formats_hold_is_hold_not_found(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)

    with pytest.raises(AtriumError) as raised:
        await capture_hold(core, _capture("TILL-1", "PAY-1", format_code="retail"), now=T0)

    assert (raised.value.code, raised.value.field) == (ErrorCode.HOLD_NOT_FOUND, "hold")


async def test_a_frozen_member_cannot_capture_and_the_key_stays_failed(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)
    await freeze_member(core.db, MemberRef(member_id=member_id), actor="admin", reason="fraud check", now=T0)

    with pytest.raises(AtriumError) as raised:
        await capture_hold(core, _capture("TILL-1", "PAY-1"), now=T0)

    assert raised.value.code is ErrorCode.MEMBER_FROZEN
    assert await _balances(core, member_id) == (300, 200)


# --- voiding -----------------------------------------------------------------------------------


async def test_voiding_a_hold_returns_every_point_to_its_lots(core: Core) -> None:
    member_id = await _member(core, (100, T0 - timedelta(days=30)), (200, T0 - timedelta(days=1)))
    older, newer = await _lot_ids(core, member_id)
    await place_hold(core, _hold(member_id, "TILL-1", 250), now=T0)

    voided = await void_hold(core, VoidRequest("dining", "TILL-1", "VOID-1"), now=T0 + timedelta(minutes=5))

    assert (voided.posting.kind, voided.posting.points, voided.posting.balance_after) == ("void", 250, 300)
    assert voided.hold.status == "voided" and not voided.hold.lapsed
    assert await _lots(core, member_id) == [100, 200]
    assert await _draws(core, voided.posting.id) == [(older, -100), (newer, -150)]
    assert await _balances(core, member_id) == (300, 0)
    assert await _verify(core) == []


async def test_a_frozen_members_hold_can_be_voided(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)
    await freeze_member(core.db, MemberRef(member_id=member_id), actor="admin", reason="fraud check", now=T0)

    await void_hold(core, VoidRequest("dining", "TILL-1", "VOID-1"), now=T0)

    assert await _balances(core, member_id) == (500, 0)


async def test_a_void_after_a_capture_is_hold_not_active(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)
    await capture_hold(core, _capture("TILL-1", "PAY-1"), now=T0)

    with pytest.raises(AtriumError) as raised:
        await void_hold(core, VoidRequest("dining", "TILL-1", "VOID-1"), now=T0)

    assert raised.value.code is ErrorCode.HOLD_NOT_ACTIVE
    assert await _balances(core, member_id) == (300, 0)


async def test_held_points_whose_lot_expired_meanwhile_go_to_expiry_on_void(core: Core) -> None:
    expires_soon = T0 - relativedelta(months=24) + timedelta(minutes=10)
    member_id = await _member(core, (100, expires_soon), (200, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 250), now=T0)

    voided = await void_hold(core, VoidRequest("dining", "TILL-1", "VOID-1"), now=T0 + timedelta(minutes=20))

    assert (voided.posting.points, voided.posting.balance_after) == (150, 200)
    assert voided.posting.details["expiredPoints"] == 100
    assert await _entries(core, voided.posting.id) == {
        ("member.held", member_id, -250), ("member.wallet", member_id, 150), ("group.expiry", None, 100),
    }
    assert await _lots(core, member_id) == [0, 200]
    assert await _verify(core) == []


# --- lapsing -----------------------------------------------------------------------------------


async def test_a_hold_left_alone_voids_itself_at_the_next_write_after_its_time(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)

    await earn(core, member_id, "R-later", retail_purchase([("SKU1", "grocery", 1, "10.00")]), LATER)

    assert await _balances(core, member_id) == (510, 0)
    assert await _status(core, "TILL-1") == "voided"
    async with core.db.read() as conn:
        lapse = (await conn.execute(select(posting_table).where(posting_table.c.kind == "void"))).mappings().one()
    assert (lapse["idempotency_scope"], lapse["points"], lapse["occurred_at"]) == ("hold-lapse", 200, T0 + timedelta(minutes=30))
    assert await _verify(core) == []


async def test_a_write_before_the_hold_lapses_leaves_it_held(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)

    await earn(core, member_id, "R-later", retail_purchase([("SKU1", "grocery", 1, "10.00")]), T0 + timedelta(minutes=29))

    assert await _balances(core, member_id) == (310, 200)
    assert await _status(core, "TILL-1") == "held"


async def test_reads_show_a_lapsed_hold_as_available_without_writing(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)
    before = await snapshot(core)

    async with core.db.read() as conn:
        (held,) = await get_members(conn, [member_id], now=T0 + timedelta(minutes=29))
        (lapsed,) = await get_members(conn, [member_id], now=LATER)

    assert held is not None and (held.available_points, held.held_points) == (300, 200)
    assert lapsed is not None and (lapsed.available_points, lapsed.held_points) == (500, 0)
    assert await snapshot(core) == before


async def test_reads_leave_out_lapsed_held_points_whose_lot_has_expired(core: Core) -> None:
    expires_soon = T0 - relativedelta(months=24) + timedelta(minutes=40)
    member_id = await _member(core, (100, expires_soon), (200, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 250), now=T0)

    async with core.db.read() as conn:
        (row,) = await get_members(conn, [member_id], now=T0 + timedelta(minutes=45))

    assert row is not None and (row.available_points, row.held_points) == (200, 0)


async def test_capture_after_the_hold_lapsed_is_hold_not_active(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)

    with pytest.raises(AtriumError) as raised:
        await capture_hold(core, _capture("TILL-1", "PAY-1"), now=LATER)

    assert raised.value.code is ErrorCode.HOLD_NOT_ACTIVE
    assert "lapsed" in raised.value.message
    assert await _verify(core) == []


async def test_capture_after_the_lapse_was_voided_is_hold_not_active(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)
    await sweep_holds(core, now=LATER)

    with pytest.raises(AtriumError) as raised:
        await capture_hold(core, _capture("TILL-1", "PAY-1"), now=LATER)

    assert raised.value.code is ErrorCode.HOLD_NOT_ACTIVE
    assert "lapsed" in raised.value.message
    assert await _balances(core, member_id) == (500, 0)


async def test_the_sweep_voids_lapsed_holds_of_members_nobody_writes_to(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)
    await place_hold(core, _hold(member_id, "TILL-2", 100, ttl=timedelta(hours=2)), now=T0)

    sweep = await sweep_holds(core, now=LATER)
    again = await sweep_holds(core, now=LATER)

    assert [(v.hold.idempotency_key, v.hold.lapsed) for v in sweep.voided] == [("TILL-1", True)]
    assert again.voided == []
    assert await _balances(core, member_id) == (400, 100)
    assert await _verify(core) == []


async def test_two_concurrent_sweeps_void_a_hold_once(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)

    first, second = await asyncio.gather(sweep_holds(core, now=LATER), sweep_holds(core, now=LATER))

    assert len(first.voided) + len(second.voided) == 1
    assert await _balances(core, member_id) == (500, 0)
    assert await _verify(core) == []


async def test_ledger_expire_voids_lapsed_holds(backend: Backend, core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATRIUM_DATABASE_URL", backend.url)
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)

    result = await asyncio.to_thread(CliRunner().invoke, app, ["ledger", "expire", "--now", LATER.isoformat()])

    assert result.exit_code == 0, result.output
    assert f"member {member_id}: dining hold 'TILL-1' of 200 pts lapsed and was voided" in result.output
    assert await _balances(core, member_id) == (500, 0)


# --- verification ------------------------------------------------------------------------------


async def test_verify_reports_a_held_balance_that_differs_from_its_holds(core: Core) -> None:
    member_id = await _member(core, (500, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 200), now=T0)
    async with core.db.write() as conn:
        await conn.execute(update(member_table).where(member_table.c.id == member_id).values(held_balance=150))

    found = await _verify(core)

    assert [(d.member_id, d.problem) for d in found] == [
        (member_id, "stored held balance 150, held entries say 200, active holds hold 200")
    ]


async def test_verify_passes_after_holds_captured_voided_and_lapsed(core: Core) -> None:
    member_id = await _member(core, (300, T0 - timedelta(days=30)), (600, T0 - timedelta(days=1)))
    await place_hold(core, _hold(member_id, "TILL-1", 250), now=T0)
    await place_hold(core, _hold(member_id, "TILL-2", 250), now=T0)
    await place_hold(core, _hold(member_id, "TILL-3", 250), now=T0)
    await capture_hold(core, _capture("TILL-1", "PAY-1", points=99), now=T0)
    await void_hold(core, VoidRequest("dining", "TILL-2", "VOID-2"), now=T0)
    await sweep_holds(core, now=LATER)

    assert await _verify(core) == []
    assert await _balances(core, member_id) == (801, 0)
    async with core.db.read() as conn:
        left = await conn.scalar(select(func.sum(lot_table.c.remaining)).where(lot_table.c.member_id == member_id))
    assert left == 801
