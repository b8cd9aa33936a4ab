"""Freezing a member: a frozen member neither earns nor redeems, and every change is audited."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.postings import MemberRef
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.member_status import freeze_member, unfreeze_member
from gateway.persistence.models import audit_log_table, member_table
from tests.helpers import (
    earn,
    enrol_phone,
    member_state,
    phone_ref,
    retail_purchase,
    snapshot,
)

PHONE = "13800138000"


async def _freeze(core: Core, member_id: int, now: datetime, reason: str = "card reported stolen") -> int:
    return await freeze_member(core.db, MemberRef(member_id=member_id), actor="admin", reason=reason, now=now)


async def _unfreeze(core: Core, member_id: int, now: datetime, reason: str = "card replaced") -> int:
    return await unfreeze_member(core.db, MemberRef(member_id=member_id), actor="admin", reason=reason, now=now)


async def _status(core: Core, member_id: int) -> str:
    async with core.db.read() as conn:
        return str(await conn.scalar(select(member_table.c.status).where(member_table.c.id == member_id)))


async def _audit(core: Core) -> list[tuple[str, str, int | None, dict[str, object], str | None]]:
    async with core.db.read() as conn:
        rows = await conn.execute(
            select(
                audit_log_table.c.actor,
                audit_log_table.c.action,
                audit_log_table.c.member_id,
                audit_log_table.c.details,
                audit_log_table.c.reason,
            ).order_by(audit_log_table.c.id)
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def test_a_frozen_member_cannot_earn(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await _freeze(core, member_id, now)

    with pytest.raises(AtriumError) as raised:
        await earn(core, member_id, "R-1", retail_purchase(), now)

    assert (raised.value.code, raised.value.field) == (ErrorCode.MEMBER_FROZEN, None)
    assert await member_state(core, member_id) == (0, 0, "member")


async def test_a_frozen_member_cannot_redeem(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, "900.00")]), now)
    await _freeze(core, member_id, now)

    with pytest.raises(AtriumError) as raised:
        await redeem(core, RedeemRequest(phone_ref(PHONE), "dining", "dessert_voucher", 1, "RD-1"), now=now)

    assert raised.value.code is ErrorCode.MEMBER_FROZEN
    assert (await member_state(core, member_id))[0] == 900


async def test_an_unfrozen_member_earns_again_but_a_key_refused_while_frozen_stays_refused(
    core: Core, now: datetime
) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await _freeze(core, member_id, now)
    with pytest.raises(AtriumError):
        await earn(core, member_id, "R-1", retail_purchase(), now)

    await _unfreeze(core, member_id, now)

    with pytest.raises(AtriumError) as raised:
        await earn(core, member_id, "R-1", retail_purchase(), now)
    assert raised.value.code is ErrorCode.MEMBER_FROZEN
    assert (await earn(core, member_id, "R-2", retail_purchase(), now)).balance_after == 120


async def test_an_earn_made_before_freezing_still_replays(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    original = await earn(core, member_id, "R-1", retail_purchase(), now)
    await _freeze(core, member_id, now)

    replay = await earn(core, member_id, "R-1", retail_purchase(), now)

    assert replay.replayed and replay.id == original.id


async def test_freezing_and_unfreezing_are_audited_with_actor_statuses_and_reason(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)

    await _freeze(core, member_id, now, reason="chargeback fraud under review")
    assert await _status(core, member_id) == "frozen"
    await _unfreeze(core, member_id, now, reason="review closed")

    assert await _status(core, member_id) == "active"
    assert await _audit(core) == [
        ("admin", "freeze_member", member_id, {"before": "active", "after": "frozen"}, "chargeback fraud under review"),
        ("admin", "unfreeze_member", member_id, {"before": "frozen", "after": "active"}, "review closed"),
    ]


async def test_freezing_a_frozen_member_changes_and_audits_nothing(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await _freeze(core, member_id, now)
    before = await snapshot(core)

    assert await _freeze(core, member_id, now) == member_id

    assert await snapshot(core) == before


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501], ids=["empty", "blank", "too-long"])
async def test_freezing_needs_a_reason_and_without_one_writes_nothing(core: Core, now: datetime, reason: str) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await _freeze(core, member_id, now, reason=reason)

    assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_INPUT, "reason")
    assert await snapshot(core) == before


async def test_freezing_an_unknown_member_is_member_not_found(core: Core, now: datetime) -> None:
    with pytest.raises(AtriumError) as raised:
        await freeze_member(core.db, phone_ref(PHONE), actor="admin", reason="test", now=now)

    assert raised.value.code is ErrorCode.MEMBER_NOT_FOUND
