"""Cancelling a redemption: points go back to the lots they came from (to expiry for expired lots), once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.cancel import CancelRequest, cancel_redemption
from gateway.ledger.postings import MemberRef, PostingResult
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.reverse import RefundRequest, refund_activity
from gateway.ledger.verify import Discrepancy, verify_ledger
from gateway.money import Money
from gateway.persistence.models import (
    entry_table,
    lot_consumption_table,
    lot_table,
    posting_table,
)
from gateway.settings import Settings
from tests.conftest import Backend
from tests.helpers import (
    dining_bill,
    earn,
    enrol_phone,
    member_state,
    retail_purchase,
    snapshot,
)

PHONE = "13800138000"
T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def refund_policy() -> str:
    """The refund policy under test; a test that needs the other one parametrizes this fixture."""
    return "claw_back_available"


@pytest.fixture
def settings(backend: Backend, refund_policy: str) -> Settings:
    return Settings(database_url=backend.url, plugins=None, refund_policy=refund_policy, _env_file=None)  # type: ignore[call-arg]


def _dessert(member_id: int, key: str = "RD-1") -> RedeemRequest:
    return RedeemRequest(MemberRef(member_id=member_id), "dining", "dessert_voucher", 1, key)


def _cancel(key: str = "CX-1", redemption: str = "RD-1", format_code: str = "dining") -> CancelRequest:
    return CancelRequest(format=format_code, idempotency_key=key, redemption_key=redemption)


def _receipt(yuan: str, at: datetime = T0) -> object:
    return retail_purchase([("SKU1", "grocery", 1, yuan)], purchased_at=at)


async def _member(core: Core) -> int:
    return await enrol_phone(core, PHONE, T0 - relativedelta(months=30))


async def _verify(core: Core) -> list[Discrepancy]:
    async with core.db.read() as conn:
        return list(await verify_ledger(conn))


async def _entries(core: Core, posting_id: int) -> set[tuple[str, int | None, int]]:
    async with core.db.read() as conn:
        rows = await conn.execute(
            select(entry_table.c.account, entry_table.c.member_id, entry_table.c.amount).where(entry_table.c.posting_id == posting_id)
        )
        return {tuple(row) for row in rows.all()}  # type: ignore[misc]


async def _lot(core: Core, earned: PostingResult) -> tuple[int, int]:
    """``(id, remaining)`` of the lot an earn filled."""
    async with core.db.read() as conn:
        row = (await conn.execute(select(lot_table.c.id, lot_table.c.remaining).where(lot_table.c.posting_id == earned.id))).one()
    return int(row[0]), int(row[1])


async def _draws(core: Core, posting_id: int) -> list[tuple[int, int]]:
    async with core.db.read() as conn:
        rows = await conn.execute(
            select(lot_consumption_table.c.lot_id, lot_consumption_table.c.points)
            .where(lot_consumption_table.c.posting_id == posting_id)
            .order_by(lot_consumption_table.c.id)
        )
        return [(int(lot_id), int(points)) for lot_id, points in rows.all()]


async def test_cancelling_returns_the_points_to_the_lots_they_came_from(core: Core) -> None:
    member_id = await _member(core)
    retail = await earn(core, member_id, "R-1", _receipt("500.00"), T0)
    dining = await earn(core, member_id, "D-1", dining_bill("500.00", closed_at=T0), T0, format_code="dining", kind="bill")
    redemption = await redeem(core, _dessert(member_id), now=T0)
    retail_lot, dining_lot = (await _lot(core, retail))[0], (await _lot(core, dining))[0]
    assert await _draws(core, redemption.id) == [(retail_lot, 500), (dining_lot, 300)]

    cancel = await cancel_redemption(core, _cancel(), now=T0)

    assert (cancel.kind, cancel.format, cancel.points, cancel.balance_after) == ("cancel", "dining", 800, 1000)
    assert await _lot(core, retail) == (retail_lot, 500)
    assert await _lot(core, dining) == (dining_lot, 500)
    assert await _draws(core, cancel.id) == [(retail_lot, -500), (dining_lot, -300)]
    assert await _entries(core, cancel.id) == {("format.dining.redemption", None, -800), ("member.wallet", member_id, 800)}
    async with core.db.read() as conn:
        reverses = await conn.scalar(select(posting_table.c.reverses_posting_id).where(posting_table.c.id == cancel.id))
    assert reverses == redemption.id
    assert await _verify(core) == []


async def test_points_of_a_lot_expired_since_go_to_the_expiry_account(core: Core) -> None:
    member_id = await _member(core)
    old = await earn(core, member_id, "R-OLD", _receipt("500.00", T0 - relativedelta(months=23, days=10)), T0)
    fresh = await earn(core, member_id, "R-NEW", _receipt("500.00"), T0)
    await redeem(core, _dessert(member_id), now=T0)  # 500 from the old lot (expiring first), 300 from the fresh one
    later = T0 + relativedelta(days=25)  # the old lot has expired; the dessert coupon (30 days) has not

    cancel = await cancel_redemption(core, _cancel(), now=later)

    assert (cancel.points, cancel.balance_after, cancel.details["expired"]) == (300, 500, 500)
    assert await _entries(core, cancel.id) == {
        ("format.dining.redemption", None, -800),
        ("member.wallet", member_id, 300),
        ("group.expiry", None, 500),
    }
    assert (await _lot(core, old))[1] == 0
    assert (await _lot(core, fresh))[1] == 500
    assert await _verify(core) == []


async def test_cancelling_again_with_another_key_is_already_cancelled(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("1000.00"), T0)
    await redeem(core, _dessert(member_id), now=T0)
    await cancel_redemption(core, _cancel("CX-1"), now=T0)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await cancel_redemption(core, _cancel("CX-2"), now=T0)

    assert (raised.value.code, raised.value.field) == (ErrorCode.ALREADY_CANCELLED, "redemption")
    assert "CX-1" in raised.value.message
    after = await snapshot(core)
    assert after["members"] == before["members"]
    assert after["counts"] == {**before["counts"], "idempotency_failure": 1}  # type: ignore[dict-item]
    assert await member_state(core, member_id) == (1000, 1000, "member")
    assert await _verify(core) == []


async def test_replaying_a_cancellation_returns_the_original_and_writes_nothing(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("1000.00"), T0)
    redemption = await redeem(core, _dessert(member_id), now=T0)
    original = await cancel_redemption(core, _cancel(), now=T0)
    before = await snapshot(core)

    replay = await cancel_redemption(
        core, CancelRequest(format="dining", idempotency_key="CX-1", redemption_posting_id=redemption.id), now=T0
    )

    assert replay.replayed is True
    assert replay == original
    assert await snapshot(core) == before
    assert await _verify(core) == []


async def test_cancelling_an_unknown_redemption_is_posting_not_found(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("1000.00"), T0)
    await redeem(core, _dessert(member_id), now=T0)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await cancel_redemption(core, _cancel(redemption="RD-404"), now=T0)

    assert (raised.value.code, raised.value.field) == (ErrorCode.POSTING_NOT_FOUND, "redemption")
    assert await snapshot(core) == before


async def test_another_formats_redemption_cannot_be_cancelled(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("1000.00"), T0)
    await redeem(core, _dessert(member_id), now=T0)

    with pytest.raises(AtriumError) as raised:
        await cancel_redemption(core, _cancel(format_code="retail"), now=T0)

    assert raised.value.code is ErrorCode.POSTING_NOT_FOUND


@pytest.mark.parametrize("refund_policy", ["allow_negative"])
async def test_a_member_in_debt_repays_it_from_the_cancelled_points(core: Core) -> None:
    member_id = await _member(core)
    earned = await earn(core, member_id, "R-1", _receipt("1000.00"), T0)
    await redeem(core, _dessert(member_id), now=T0)
    refund = RefundRequest(format="retail", amount=Money(1000_00, "CNY"), idempotency_key="RF-1", original_key="R-1")
    assert (await refund_activity(core, refund, now=T0)).balance_after == -800

    cancel = await cancel_redemption(core, _cancel(), now=T0)

    assert cancel.balance_after == 0
    lot_id, remaining = await _lot(core, earned)
    assert remaining == 0
    assert await _draws(core, cancel.id) == [(lot_id, -800), (lot_id, 800)]
    assert await _verify(core) == []
