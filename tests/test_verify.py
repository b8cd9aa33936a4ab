"""Ledger verification: recompute balances from entries and lots, and name what does not add up."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from gateway.core import Core
from gateway.identity import link_identity
from gateway.ledger.postings import MemberRef
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.ledger.verify import Discrepancy, verify_ledger
from gateway.persistence.models import member_table
from tests.helpers import (
    customer_id_key,
    dining_bill,
    earn,
    enrol_phone,
    property_fee,
    retail_purchase,
)


async def _verify(core: Core) -> list[Discrepancy]:
    async with core.db.read() as conn:
        return list(await verify_ledger(conn))


async def _activity(core: Core, now: datetime) -> tuple[int, int]:
    """Two members earning in every format and redeeming across formats."""
    first = await enrol_phone(core, "13800138000", now)
    second = await enrol_phone(core, "13900139000", now, enrolled_format="dining")
    await link_identity(core.db, member_id=second, identity=customer_id_key(core, "dining", "D-2"), now=now)
    await earn(core, first, "R-1", retail_purchase([("SKU1", "grocery", 3, "500.00")]), now)
    await earn(core, first, "P-1", property_fee("1200.00"), now, format_code="property", kind="fee_payment")
    await earn(core, second, "D-1", dining_bill("950.00", service_charge="95.00"), now, format_code="dining", kind="bill")
    await redeem(core, RedeemRequest(MemberRef(member_id=first), "dining", "dessert_voucher", 2, "X-1"), now=now)
    await redeem(core, RedeemRequest(MemberRef(member_id=first), "property", "parking_hour", 1, "X-2"), now=now)
    await redeem(
        core,
        RedeemRequest(MemberRef(identity=customer_id_key(core, "dining", "D-2")), "property", "parking_hour", 3, "X-3"),
        now=now,
    )
    return first, second


async def test_verify_passes_on_a_clean_ledger_after_activity(core: Core, now: datetime) -> None:
    await _activity(core, now)

    assert await _verify(core) == []


async def test_tampered_stored_balance_is_reported_naming_the_member(core: Core, now: datetime) -> None:
    first, second = await _activity(core, now)
    async with core.db.write() as conn:
        await conn.execute(
            update(member_table)
            .where(member_table.c.id == second)
            .values(points_balance=member_table.c.points_balance + 100)
        )

    found = await _verify(core)

    assert [d.member_id for d in found] == [second]
    assert "stored balance" in found[0].problem
