"""Verify coupons against the postings that issued and cancelled them.

- A redemption that declares coupons (its ``details.couponCodes``, :mod:`gateway.ledger.coupons`)
  issued exactly ``quantity`` coupons, with exactly the declared codes; a posting that declares
  none issued none.
- A ``cancelled`` coupon names its cancelling posting: a ``cancel`` posting of the coupon's own
  redemption, with ``cancelled_at`` set.
- A coupon of a cancelled redemption is ``cancelled`` (a cancellation cancels every coupon or is
  refused), so a ``used`` coupon's redemption was never cancelled; and a coupon that is not
  ``cancelled`` carries no cancellation.

Redemptions are read a batch at a time (:func:`gateway.ledger.discrepancy.keyset_batches`); the
status checks are single statements that return only the coupons that disagree.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Select, Text, cast, exists, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.ledger.coupons import DETAILS_CODES
from gateway.ledger.discrepancy import Discrepancy, keyset_batches
from gateway.persistence.coupon_tables import CANCELLED, USED, coupon_table
from gateway.persistence.models import posting_table

_MENTIONS_CODES = cast(posting_table.c.details, Text).like(f"%{DETAILS_CODES}%")
"""A cheap filter: every posting whose details declare coupon codes mentions the key (the check reads the JSON)."""


async def coupon_discrepancies(conn: AsyncConnection) -> list[Discrepancy]:
    """Every coupon that its redemption does not account for, or whose status contradicts the cancellations."""
    found = await _declared_coupons(conn)
    found += await _undeclared_coupons(conn)
    found += await _cancelled_without_cancellation(conn)
    found += await _cancelled_redemption_coupons_not_cancelled(conn)
    return found


async def _declared_coupons(conn: AsyncConnection) -> list[Discrepancy]:
    """Redemptions declaring coupons issued exactly ``quantity`` of them, with the declared codes."""

    def redemptions(after: int) -> Select[Any]:
        return (
            select(posting_table.c.id, posting_table.c.member_id, posting_table.c.quantity, posting_table.c.details)
            .where((posting_table.c.id > after) & _MENTIONS_CODES)
            .order_by(posting_table.c.id)
        )

    found: list[Discrepancy] = []
    async for batch in keyset_batches(conn, redemptions, key=lambda row: int(row.id)):
        issued: dict[int, list[str]] = defaultdict(list)
        rows = await conn.execute(
            select(coupon_table.c.redemption_posting_id, coupon_table.c.code).where(
                coupon_table.c.redemption_posting_id.in_([row.id for row in batch])
            )
        )
        for posting_id, code in rows.all():
            issued[int(posting_id)].append(code)
        for row in batch:
            declared = (row.details or {}).get(DETAILS_CODES)
            if declared is None:
                continue
            codes = issued.get(int(row.id), [])
            quantity = row.quantity
            if not (isinstance(declared, list) and len(declared) == quantity == len(codes) and sorted(codes) == sorted(declared)):
                found.append(
                    Discrepancy(
                        f"redemption {row.id} of quantity {quantity} declares {_count(declared)} coupon code(s) "
                        f"and issued {len(codes)} coupon(s)"
                        + ("" if sorted(codes) == sorted(declared or []) else ", not the declared codes"),
                        member_id=int(row.member_id),
                        posting_id=int(row.id),
                    )
                )
    return found


def _count(declared: Any) -> int | str:
    return len(declared) if isinstance(declared, list) else repr(declared)


async def _undeclared_coupons(conn: AsyncConnection) -> list[Discrepancy]:
    """Coupons whose posting declares no coupons (or is not a redemption)."""
    query = (
        select(coupon_table.c.redemption_posting_id, coupon_table.c.member_id, posting_table.c.kind, func.count())
        .select_from(coupon_table.join(posting_table, posting_table.c.id == coupon_table.c.redemption_posting_id))
        .where((posting_table.c.kind != "redeem") | not_(_MENTIONS_CODES))
        .group_by(coupon_table.c.redemption_posting_id, coupon_table.c.member_id, posting_table.c.kind)
        .order_by(coupon_table.c.redemption_posting_id)
    )
    return [
        Discrepancy(f"{count} coupon(s) name posting {posting_id} ({kind}), which declares no coupons", member_id=int(member_id), posting_id=int(posting_id))
        for posting_id, member_id, kind, count in (await conn.execute(query)).all()
    ]


async def _cancelled_without_cancellation(conn: AsyncConnection) -> list[Discrepancy]:
    """``cancelled`` coupons without a ``cancel`` posting of their own redemption (or without ``cancelled_at``)."""
    cancel = posting_table.alias("cancel")
    query = (
        select(coupon_table.c.code, coupon_table.c.member_id, coupon_table.c.redemption_posting_id, coupon_table.c.cancel_posting_id)
        .select_from(coupon_table.outerjoin(cancel, cancel.c.id == coupon_table.c.cancel_posting_id))
        .where(
            (coupon_table.c.status == CANCELLED)
            & (
                cancel.c.id.is_(None)
                | (cancel.c.kind != "cancel")
                | (cancel.c.reverses_posting_id.is_(None))
                | (cancel.c.reverses_posting_id != coupon_table.c.redemption_posting_id)
                | coupon_table.c.cancelled_at.is_(None)
            )
        )
        .order_by(coupon_table.c.id)
    )
    return [
        Discrepancy(
            f"coupon {code} of redemption {redemption} is cancelled, but "
            + (f"posting {cancel_id} is not a cancellation of that redemption" if cancel_id is not None else "names no cancelling posting")
            + " (or has no cancellation time)",
            member_id=int(member_id),
            posting_id=cancel_id,
        )
        for code, member_id, redemption, cancel_id in (await conn.execute(query)).all()
    ]


async def _cancelled_redemption_coupons_not_cancelled(conn: AsyncConnection) -> list[Discrepancy]:
    """Coupons not ``cancelled`` although their redemption was, or carrying a cancellation (a used coupon was never cancelled)."""
    cancel = posting_table.alias("cancel")
    cancelled_redemption = (
        select(cancel.c.id)
        .where((cancel.c.kind == "cancel") & (cancel.c.reverses_posting_id == coupon_table.c.redemption_posting_id))
        .limit(1)
        .scalar_subquery()
    )
    query = (
        select(
            coupon_table.c.code,
            coupon_table.c.member_id,
            coupon_table.c.status,
            coupon_table.c.redemption_posting_id,
            cancelled_redemption.label("cancel_id"),
        )
        .where(
            (coupon_table.c.status != CANCELLED)
            & or_(
                exists().where((cancel.c.kind == "cancel") & (cancel.c.reverses_posting_id == coupon_table.c.redemption_posting_id)),
                coupon_table.c.cancel_posting_id.is_not(None),
                coupon_table.c.cancelled_at.is_not(None),
            )
        )
        .order_by(coupon_table.c.id)
    )
    found = []
    for code, member_id, status, redemption, cancel_id in (await conn.execute(query)).all():
        word = "was used" if status == USED else f"is {status}"
        why = f"its redemption {redemption} was cancelled by posting {cancel_id}" if cancel_id is not None else "it carries a cancellation"
        found.append(Discrepancy(f"coupon {code} {word}, but {why}", member_id=int(member_id), posting_id=cancel_id))
    return found
