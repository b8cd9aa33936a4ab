"""Earning: plugin earn rules, tier multiplier, one balanced posting and one lot, exactly once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy import select

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.postings import MemberRef
from gateway.persistence.models import entry_table, lot_table
from tests.helpers import (
    dining_bill,
    earn,
    enrol_phone,
    member_state,
    phone_ref,
    property_fee,
    retail_purchase,
    snapshot,
)

PHONE = "13800138000"


async def _entries(core: Core, posting_id: int) -> list[tuple[str, int | None, int]]:
    async with core.db.read() as conn:
        rows = await conn.execute(
            select(entry_table.c.account, entry_table.c.member_id, entry_table.c.amount)
            .where(entry_table.c.posting_id == posting_id)
            .order_by(entry_table.c.id)
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def _lots(core: Core) -> list[dict[str, object]]:
    async with core.db.read() as conn:
        rows = await conn.execute(select(lot_table).order_by(lot_table.c.id))
        return [dict(row) for row in rows.mappings().all()]


async def test_retail_purchase_earns_its_points_and_growth_in_one_balanced_posting_and_lot(
    core: Core, now: datetime
) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    receipt = retail_purchase(
        [
            ("SKU-RICE", "grocery", 2, "45.50"),  # 91.00
            ("SKU-MILK", "dairy", 1, "29.90", "5.00"),  # 24.90
            ("GIFT-100", "gift_card", 1, "100.00"),  # excluded
        ]
    )

    result = await earn(core, phone_ref("138 0013 8000"), "R-0001", receipt, now)

    # 115.90 of eligible items at 1 pt per CN¥1, rounded down.
    assert (result.points, result.growth, result.balance_after) == (115, 115, 115)
    assert (result.kind, result.format, result.activity_kind, result.member_id) == ("earn", "retail", "purchase", member_id)
    assert (result.tier_before, result.tier_after) == ("member", "member")
    assert result.amount_minor == 21590 and result.currency == "CNY" and result.store == "SH-001"
    assert [line["rule"] for line in result.lines] == ["retail.base_rate"]
    assert "115.90" in result.lines[0]["reason"]
    assert result.replayed is False
    assert await member_state(core, member_id) == (115, 115, "member")

    lots = await _lots(core)
    assert len(lots) == 1
    lot = lots[0]
    assert (lot["format"], lot["member_id"], lot["posting_id"], lot["points"], lot["remaining"]) == (
        "retail", member_id, result.id, 115, 115
    )
    assert lot["expires_at"] > lot["available_at"]

    entries = await _entries(core, result.id)
    assert sorted(entries, key=str) == sorted(
        [("member.wallet", member_id, 115), ("format.retail.issuance", None, -115)], key=str
    )
    assert sum(amount for _, _, amount in entries) == 0


async def test_replayed_purchase_returns_the_original_result_and_writes_nothing(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    receipt = retail_purchase([("SKU1", "grocery", 1, "120.00")])
    first = await earn(core, phone_ref(PHONE), "R-0001", receipt, now)
    after_first = await snapshot(core)

    replay = await earn(core, phone_ref("+86 138 0013 8000"), "R-0001", retail_purchase([("SKU1", "grocery", 1, "120.00")]), now)

    assert replay.replayed is True
    assert replay.id == first.id
    assert replay == first  # every field of the stored result, not just the id
    assert await snapshot(core) == after_first
    assert await member_state(core, member_id) == (120, 120, "member")


async def test_same_key_with_another_payload_is_idempotency_key_reused(core: Core, now: datetime) -> None:
    await enrol_phone(core, PHONE, now)
    await earn(core, phone_ref(PHONE), "R-0001", retail_purchase([("SKU1", "grocery", 1, "120.00")]), now)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await earn(core, phone_ref(PHONE), "R-0001", retail_purchase([("SKU1", "grocery", 1, "121.00")]), now)

    assert (raised.value.code, raised.value.field) == (ErrorCode.IDEMPOTENCY_KEY_REUSED, "idempotencyKey")
    assert await snapshot(core) == before


async def test_same_key_at_another_format_is_a_separate_activity(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await earn(core, phone_ref(PHONE), "BILL-1", retail_purchase([("SKU1", "grocery", 1, "120.00")]), now)

    second = await earn(core, phone_ref(PHONE), "BILL-1", dining_bill("80.00"), now, format_code="dining", kind="bill")

    assert (second.replayed, second.points) == (False, 80)
    assert await member_state(core, member_id) == (200, 200, "member")


def _case(format_code: str, kind: str, data: Callable[[], object], code: ErrorCode, field: str, **extra: object):  # type: ignore[no-untyped-def]
    return (format_code, kind, data, code, field, extra)


BAD_ACTIVITIES = {
    "zero-retail-total": _case(
        "retail", "purchase", lambda: retail_purchase([("SKU1", "grocery", 1, "0.00")]), ErrorCode.INVALID_AMOUNT, "input.items"
    ),
    "zero-dining-bill": _case(
        "dining", "bill", lambda: dining_bill("0"), ErrorCode.INVALID_AMOUNT, "input.foodAndBeverage"
    ),
    "negative-price": _case(
        "retail", "purchase", lambda: retail_purchase([("SKU1", "grocery", 1, "-5.00")]), ErrorCode.INVALID_AMOUNT, "input.items.0.unitPrice"
    ),
    "negative-fee": _case(
        "property", "fee_payment", lambda: property_fee("-500.00"), ErrorCode.INVALID_AMOUNT, "input.amount.amount"
    ),
    "fractional-minor-unit": _case(
        "retail", "purchase", lambda: retail_purchase([("SKU1", "grocery", 1, "12.345")]), ErrorCode.INVALID_AMOUNT, "input.items.0.unitPrice"
    ),
    "fractional-minor-unit-dining": _case(
        "dining", "bill", lambda: dining_bill("99.999"), ErrorCode.INVALID_AMOUNT, "input.foodAndBeverage"
    ),
    "absurdly-large": _case(
        "retail", "purchase", lambda: retail_purchase([("SKU1", "grocery", 1, "1e20")]), ErrorCode.INVALID_AMOUNT, "input"
    ),
    "absurdly-large-fee": _case(
        "property", "fee_payment", lambda: property_fee("1e40"), ErrorCode.INVALID_AMOUNT, "input.amount.amount"
    ),
    "foreign-currency": _case(
        "retail", "purchase", lambda: retail_purchase(currency="USD"), ErrorCode.UNSUPPORTED_CURRENCY, "input"
    ),
    "not-a-currency": _case(
        "retail", "purchase", lambda: retail_purchase(currency="XYZ"), ErrorCode.UNSUPPORTED_CURRENCY, "input.currency"
    ),
    "unknown-format": _case(
        "cinema", "ticket", lambda: retail_purchase(), ErrorCode.UNKNOWN_FORMAT, "format"
    ),
    "unknown-activity-kind": _case(
        "retail", "refund", lambda: retail_purchase(), ErrorCode.UNKNOWN_FORMAT, "kind"
    ),
    "unknown-member": _case(
        "retail", "purchase", lambda: retail_purchase(), ErrorCode.MEMBER_NOT_FOUND, "member", member=phone_ref("13900139000")
    ),
    "unknown-member-id": _case(
        "retail", "purchase", lambda: retail_purchase(), ErrorCode.MEMBER_NOT_FOUND, "member", member=MemberRef(member_id=4242)
    ),
    "blank-idempotency-key": _case(
        "retail", "purchase", lambda: retail_purchase(), ErrorCode.INVALID_IDEMPOTENCY_KEY, "idempotencyKey", key=" "
    ),
}


@pytest.mark.parametrize(("format_code", "kind", "data", "code", "field", "extra"), BAD_ACTIVITIES.values(), ids=BAD_ACTIVITIES.keys())
async def test_bad_activity_is_a_typed_error_and_writes_nothing(
    core: Core,
    now: datetime,
    format_code: str,
    kind: str,
    data: Callable[[], object],
    code: ErrorCode,
    field: str,
    extra: dict[str, object],
) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await earn(core, member_id, "R-SEED", retail_purchase([("SKU1", "grocery", 1, "50.00")]), now)
    before = await snapshot(core)

    with pytest.raises(AtriumError) as raised:
        await earn(
            core,
            extra.get("member", phone_ref(PHONE)),  # type: ignore[arg-type]
            str(extra.get("key", "R-BAD")),
            data(),
            now,
            format_code=format_code,
            kind=kind,
        )

    assert (raised.value.code, raised.value.field) == (code, field)
    assert raised.value.message
    assert await snapshot(core) == before
    assert await member_state(core, member_id) == (50, 50, "member")


async def test_silver_member_earns_the_tier_multiplier_rounded_down(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await earn(core, member_id, "R-1", retail_purchase([("TV", "electronics", 1, "1500.00")]), now)
    await earn(core, member_id, "R-2", retail_purchase([("SOFA", "furniture", 1, "600.00")]), now)
    assert await member_state(core, member_id) == (2100, 2100, "silver")

    result = await earn(core, member_id, "R-3", retail_purchase([("SKU1", "grocery", 1, "99.99")]), now)

    # 99 base points × 1.2 = 118.8, rounded down to 118; growth is not multiplied.
    assert (result.points, result.growth) == (118, 99)
    assert [(line["rule"], line["points"]) for line in result.lines] == [("retail.base_rate", 99), ("tier.silver", 19)]
    assert "1.2" in result.lines[1]["reason"]
    assert (result.tier_before, result.tier_after) == ("silver", "silver")
    assert await member_state(core, member_id) == (2218, 2199, "silver")


async def test_crossing_a_threshold_upgrades_the_tier_in_the_same_posting(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)
    await earn(core, member_id, "R-1", retail_purchase([("TV", "electronics", 1, "1500.00")]), now)

    result = await earn(core, member_id, "R-2", retail_purchase([("SOFA", "furniture", 1, "600.00")]), now)

    # The posting that crosses 2000 growth is still earned at the old tier's rate.
    assert (result.tier_before, result.tier_after) == ("member", "silver")
    assert (result.points, result.growth) == (600, 600)
    assert [line["rule"] for line in result.lines] == ["retail.base_rate"]
    assert await member_state(core, member_id) == (2100, 2100, "silver")


async def test_one_purchase_can_climb_several_tiers(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, PHONE, now)

    result = await earn(core, member_id, "R-1", retail_purchase([("PIANO", "music", 1, "6500.00")]), now)

    assert (result.tier_before, result.tier_after) == ("member", "gold")
    assert await member_state(core, member_id) == (6500, 6500, "gold")
