"""What a bill's points offsets and coupons paid, checked against the member and the format.

:func:`non_money_paid` runs in the earn's write transaction, with the member locked. Every
tender named must be this member's and this format's: an offset is the ``offset`` posting the
till made with ``applyPointsOffset`` under that idempotency key; a coupon must have been used
(``useCoupon``) before the bill is recorded. Another member's offset or coupon is refused exactly
like one that does not exist, so a till learns nothing of other members'.

A tender that two bills name lowers both bills' earn: the only party a wrong claim can hurt is the
member, never the programme, so no claim is stored. A coupon's face value is what it paid; an
item coupon (a dish, a parking hour) has no face value, so the till says what the item cost on
this bill. What the tenders paid never exceeds the bill: a CN¥10 voucher on a CN¥8 bill earns
nothing and pays CN¥8.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.coupons import find_coupon
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.coupons import not_usable
from gateway.ledger.tenders import Tenders
from gateway.money import Money
from gateway.persistence.coupon_tables import USED
from gateway.persistence.models import posting_table

FIELD = "paidWith"
MAX_TENDERS = 20
"""Most offsets or coupons on one bill; more is a till bug."""


def _refuse(message: str, field: str, code: ErrorCode = ErrorCode.INVALID_INPUT) -> AtriumError:
    return AtriumError(code, message, field)


def check_tenders(tenders: Tenders) -> None:
    """Refuse a list too long or naming one offset or coupon twice, before anything is read."""
    for name, values in (("pointsOffsets", tenders.offsets), ("coupons", [c.code for c in tenders.coupons])):
        if len(values) > MAX_TENDERS:
            raise _refuse(f"A bill names at most {MAX_TENDERS} {name}.", f"{FIELD}.{name}")
        seen: set[str] = set()
        for index, value in enumerate(values):
            wanted = value.strip().upper() if name == "coupons" else value.strip()
            if wanted in seen:
                raise _refuse(f"{value!r} is named twice.", f"{FIELD}.{name}.{index}")
            seen.add(wanted)


async def _offset_paid(conn: AsyncConnection, key: str, *, member_id: int, format_code: str, field: str) -> int:
    posting = posting_table.c
    row = (
        await conn.execute(
            select(posting.member_id, posting.details).where(
                (posting.idempotency_scope == f"offset:{format_code}") & (posting.idempotency_key == key.strip())
            )
        )
    ).first()
    if row is None or row.member_id != member_id:
        raise _refuse(f"This member paid no {format_code} bill with points under {key!r}.", field)
    return int(row.details["offsetMinor"])


async def non_money_paid(
    conn: AsyncConnection, tenders: Tenders, *, member_id: int, format_code: str, bill: Money, now: datetime
) -> tuple[Money, dict[str, Any]]:
    """What the tenders paid of ``bill`` (at most all of it), and the facts kept in the posting's details.

    Refuses (nothing written) an offset that is not this member's in this format, a coupon not
    found for this member in this format (``COUPON_NOT_FOUND``) or not used yet
    (``COUPON_NOT_USABLE``), and an item coupon without the value it paid.
    """
    check_tenders(tenders)
    points_minor = 0
    for index, key in enumerate(tenders.offsets):
        points_minor += await _offset_paid(
            conn, key, member_id=member_id, format_code=format_code, field=f"{FIELD}.pointsOffsets.{index}"
        )
    coupon_minor = 0
    codes: list[str] = []
    for index, tender in enumerate(tenders.coupons):
        field = f"{FIELD}.coupons.{index}"
        try:
            coupon = await find_coupon(conn, tender.code, format_code=format_code, member_id=member_id)
        except AtriumError as exc:
            raise AtriumError(exc.code, exc.message, f"{field}.code") from None
        if coupon.status_at(now) != USED:
            if coupon.status_at(now) == "issued":
                raise _refuse(
                    f"{coupon.code} is not used yet: use it (useCoupon) before recording the bill.",
                    f"{field}.code",
                    ErrorCode.COUPON_NOT_USABLE,
                )
            raise not_usable(coupon, now, field=f"{field}.code")
        if coupon.value_minor is not None:
            coupon_minor += coupon.value_minor
        elif tender.value is None:
            raise _refuse(f"{coupon.code} is good for {coupon.item}: say what it paid on this bill.", f"{field}.value")
        else:
            if tender.value.currency != bill.currency:
                raise _refuse(f"The bill is in {bill.currency}.", f"{field}.value.currency", ErrorCode.UNSUPPORTED_CURRENCY)
            coupon_minor += tender.value.minor
        codes.append(coupon.code)
    points_minor = min(points_minor, bill.minor)
    coupon_minor = min(coupon_minor, bill.minor - points_minor)
    money = Money(bill.minor - points_minor - coupon_minor, bill.currency)
    facts = {
        "moneyMinor": money.minor,
        "pointsMinor": points_minor,
        "couponsMinor": coupon_minor,
        "pointsOffsets": [key.strip() for key in tenders.offsets],
        "coupons": codes,
    }
    return money, facts
