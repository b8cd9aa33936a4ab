"""Plain helpers for tests: first-party plugin inputs, member references, row counts.

Tests may import the first-party plugins (only ``gateway/`` must not).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from atrium_dining.inputs import DiningBillInput
from atrium_property.inputs import PropertyFeePaymentInput, PropertyFeeType
from atrium_retail.inputs import RetailLineItemInput, RetailPurchaseInput
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core import Core
from gateway.identity import IdentityKey, IdentityKind, enrol, normalize_identity
from gateway.ledger.earn import ActivityRequest, record_activity
from gateway.ledger.postings import MemberRef, PostingResult
from gateway.persistence.coupon_tables import coupon_table
from gateway.persistence.models import (
    audit_log_table,
    entry_table,
    hold_table,
    idempotency_failure_table,
    identity_table,
    lot_consumption_table,
    lot_table,
    member_table,
    posting_table,
)
from gateway.plugin_api import MoneyInput
from gateway.tiers import current_ladder

LineItem = tuple[str, str, int, str] | tuple[str, str, int, str, str]
"""``(sku, category, quantity, unit_price[, line_discount])``."""

TABLES = {
    "member": member_table,
    "identity": identity_table,
    "posting": posting_table,
    "entry": entry_table,
    "lot": lot_table,
    "lot_consumption": lot_consumption_table,
    "idempotency_failure": idempotency_failure_table,
    "audit_log": audit_log_table,
    "hold": hold_table,
    "coupon": coupon_table,
}


# --- first-party plugin inputs -------------------------------------------------------------------


def retail_purchase(
    items: Sequence[LineItem] = (("SKU1", "grocery", 1, "120.00"),),
    *,
    store_code: str = "SH-001",
    currency: str = "CNY",
    purchased_at: datetime | None = None,
) -> RetailPurchaseInput:
    """A retail receipt; each item is ``(sku, category, quantity, unit_price[, line_discount])``."""
    lines = [
        RetailLineItemInput(
            sku=item[0],
            category=item[1],
            quantity=item[2],
            unit_price=Decimal(item[3]),
            line_discount=Decimal(item[4]) if len(item) > 4 else Decimal("0"),  # type: ignore[misc]
        )
        for item in items
    ]
    return RetailPurchaseInput(store_code=store_code, currency=currency, purchased_at=purchased_at, items=lines)


def dining_bill(
    food_and_beverage: str = "100.00",
    *,
    service_charge: str = "0",
    tips: str = "0",
    covers: int = 2,
    store_code: str = "RST-01",
    currency: str = "CNY",
    closed_at: datetime | None = None,
) -> DiningBillInput:
    """A closed restaurant bill."""
    return DiningBillInput(
        store_code=store_code,
        currency=currency,
        food_and_beverage=Decimal(food_and_beverage),
        service_charge=Decimal(service_charge),
        tips=Decimal(tips),
        covers=covers,
        closed_at=closed_at,
    )


def property_fee(
    amount: str = "500.00",
    *,
    fee_type: str = "management",
    period: str = "2026-11",
    unit_code: str = "A-1203",
    currency: str = "CNY",
    paid_at: datetime | None = None,
) -> PropertyFeePaymentInput:
    """A paid property fee for one unit and month."""
    return PropertyFeePaymentInput(
        unit_code=unit_code,
        fee_type=PropertyFeeType(fee_type),
        amount=MoneyInput(amount=Decimal(amount), currency=currency),
        period=period,
        paid_at=paid_at,
    )


# --- identities and members ----------------------------------------------------------------------


def phone_key(phone: str, region: str = "CN") -> IdentityKey:
    """A normalised phone identity."""
    return normalize_identity(IdentityKind.PHONE, phone, namespace=None, formats=(), phone_region=region)


def customer_id_key(core: Core, format_code: str, value: str) -> IdentityKey:
    """A normalised customer id of ``format_code``."""
    return normalize_identity(
        IdentityKind.CUSTOMER_ID,
        value,
        namespace=format_code,
        formats=core.registry.formats,
        phone_region=core.settings.default_phone_region,
    )


def phone_ref(phone: str, region: str = "CN") -> MemberRef:
    """A :class:`MemberRef` by phone number, e.g. ``phone_ref("13800138000")``."""
    return MemberRef(identity=phone_key(phone, region))


async def enrol_phone(core: Core, phone: str, now: datetime, *, enrolled_format: str | None = "retail") -> int:
    """Enrol a member by phone; returns the member id."""
    return await enrol(
        core.db, identity=phone_key(phone), ladder=await current_ladder(core), enrolled_format=enrolled_format, now=now
    )


async def earn(
    core: Core,
    member: MemberRef | int,
    key: str,
    data: object,
    now: datetime,
    *,
    format_code: str = "retail",
    kind: str = "purchase",
) -> PostingResult:
    """Record one activity (a retail purchase unless told otherwise)."""
    ref = MemberRef(member_id=member) if isinstance(member, int) else member
    request = ActivityRequest(member=ref, format=format_code, kind=kind, idempotency_key=key, input=data)
    return await record_activity(core, request, now=now)


# --- reading the database ------------------------------------------------------------------------


async def count_rows(conn: AsyncConnection, *tables: str) -> dict[str, int]:
    """Row counts of ``tables`` (all mutable tables when none are named)."""
    names = tables or tuple(TABLES)
    return {name: int(await conn.scalar(select(func.count()).select_from(TABLES[name]))) for name in names}


async def snapshot(core: Core) -> dict[str, object]:
    """Row counts of every mutable table plus every member's balance, growth and tier."""
    async with core.db.read() as conn:
        counts = await count_rows(conn)
        members = (
            await conn.execute(
                select(
                    member_table.c.id,
                    member_table.c.points_balance,
                    member_table.c.growth_value,
                    member_table.c.tier_code,
                ).order_by(member_table.c.id)
            )
        ).all()
    return {"counts": counts, "members": [tuple(row) for row in members]}


async def member_state(core: Core, member_id: int) -> tuple[int, int, str]:
    """``(points_balance, growth_value, tier_code)`` of a member."""
    async with core.db.read() as conn:
        row = (
            await conn.execute(
                select(member_table.c.points_balance, member_table.c.growth_value, member_table.c.tier_code).where(
                    member_table.c.id == member_id
                )
            )
        ).one()
    return int(row[0]), int(row[1]), row[2]
