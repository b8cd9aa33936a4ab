"""Coupons in the ledger's transactions: issued by a redemption, cancelled with it.

A reward whose type declares a :class:`~gateway.plugin_api.CouponSpec` issues one coupon per unit
in the redemption's own transaction (:func:`issue_coupons`); the codes go into the posting's
``details`` first, so a replay of the redemption returns the same codes and never draws new ones.

Cancelling works on whole redemptions: :func:`cancel_redemption_coupons` runs inside the
cancellation's transaction and marks every coupon of the redemption ``cancelled``, or refuses
(``COUPON_NOT_USABLE``, and the cancellation rolls back) when any of them has been used or has
expired. A guarded update does it, so a till using one of the coupons at the same moment either
wins (the cancellation is refused) or finds it cancelled. A redemption that issued several
coupons is therefore cancelled whole or not at all; there is no partial cancellation.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import AtriumError, ErrorCode
from gateway.notices import after_commit
from gateway.persistence.coupon_tables import (
    CANCELLED,
    EXPIRED,
    ISSUED,
    USED,
    coupon_table,
)
from gateway.persistence.models import member_table
from gateway.plugin_api import VOUCHER_ALPHABET, CouponEvent, CouponSpec, RedemptionType

CODE_LENGTH = 12
"""Random characters after the prefix: 60 bits, from an alphabet without look-alikes."""

DETAILS_CODES = "couponCodes"
DETAILS_EXPIRY = "couponsExpireAt"
RESERVED_DETAILS = frozenset({DETAILS_CODES, DETAILS_EXPIRY})
"""Keys of a redemption's ``details`` that the gateway writes; a plugin's fulfilment may not use them."""


@dataclass(frozen=True)
class CouponRow:
    """A stored coupon. ``member_id`` is the member it lives on now (the survivor after a merge)."""

    id: int
    code: str
    member_id: int
    format: str
    reward_code: str
    redemption_posting_id: int
    stored_status: str
    value_minor: int | None
    currency: str | None
    item: str | None
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None
    used_by: str | None
    used_till: str | None
    use_key: str | None
    cancelled_at: datetime | None
    cancel_posting_id: int | None
    member_status: str

    def status_at(self, now: datetime) -> str:
        """``issued``, ``used``, ``expired`` or ``cancelled``: an issued coupon past its expiry is expired."""
        if self.stored_status == ISSUED and self.expires_at <= now:
            return EXPIRED
        return self.stored_status


_COLUMNS = (
    "id code format reward_code redemption_posting_id status value_minor currency item issued_at expires_at "
    "used_at used_by used_till use_key cancelled_at cancel_posting_id"
).split()


def coupon_select() -> Select[Any]:
    """Coupons with the member they belong to now (following a merge) and that member's status."""
    holder = member_table.alias("holder")
    survivor = member_table.alias("survivor")
    return select(
        *(coupon_table.c[name] for name in _COLUMNS),
        func.coalesce(holder.c.merged_into_id, holder.c.id).label("owner_id"),
        func.coalesce(survivor.c.status, holder.c.status).label("member_status"),
    ).select_from(
        coupon_table.join(holder, holder.c.id == coupon_table.c.member_id).outerjoin(
            survivor, survivor.c.id == holder.c.merged_into_id
        )
    )


def coupon_from_row(row: Any) -> CouponRow:
    """Build a :class:`CouponRow` from a row of :func:`coupon_select`."""
    values = {name: row._mapping[name] for name in _COLUMNS if name != "status"}
    return CouponRow(
        **values, stored_status=row.status, member_id=int(row.owner_id), member_status=row.member_status
    )


def new_coupon_codes(spec: CouponSpec, count: int) -> list[str]:
    """``count`` distinct fresh codes: the spec's prefix and :data:`CODE_LENGTH` random characters."""
    codes: list[str] = []
    while len(codes) < count:
        code = spec.prefix + "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(CODE_LENGTH))
        if code not in codes:
            codes.append(code)
    return codes


def coupon_details(codes: list[str], expires_at: datetime) -> dict[str, Any]:
    """What a redemption's ``details`` say of its coupons: the codes and when they expire."""
    return {DETAILS_CODES: codes, DETAILS_EXPIRY: expires_at.isoformat()}


def coupon_expiry(spec: CouponSpec, issued_at: datetime) -> datetime:
    """When coupons of ``spec`` issued at ``issued_at`` stop being usable: ``valid_days`` later."""
    return issued_at + timedelta(days=spec.valid_days)


async def issue_coupons(
    conn: AsyncConnection,
    *,
    reward: RedemptionType,
    member_id: int,
    posting_id: int,
    codes: list[str],
    issued_at: datetime,
) -> None:
    """Insert one ``issued`` coupon per code for redemption ``posting_id`` (one statement).

    The plugins are told of each coupon (``issued``) once the redemption commits.
    """
    spec = reward.coupon
    assert spec is not None, "only rewards with a CouponSpec issue coupons"
    face = spec.face_value
    issued = await conn.execute(
        insert(coupon_table).returning(coupon_table.c.id, coupon_table.c.code, sort_by_parameter_order=True),
        [
            {
                "code": code,
                "member_id": member_id,
                "format": reward.format,
                "reward_code": reward.code,
                "redemption_posting_id": posting_id,
                "status": ISSUED,
                "value_minor": face.minor if face else None,
                "currency": face.currency if face else None,
                "item": spec.item.strip() if spec.item else None,
                "issued_at": issued_at,
                "expires_at": coupon_expiry(spec, issued_at),
            }
            for code in codes
        ],
    )
    for row in issued.all():
        after_commit(
            conn,
            CouponEvent(
                coupon_id=int(row.id), code=row.code, member_id=member_id, format=reward.format, reward=reward.code,
                kind=ISSUED, redemption_posting_id=posting_id, at=issued_at,
            ),
        )


def not_usable(coupon: CouponRow, now: datetime, *, field: str, cancelling: bool = False) -> AtriumError:
    """``COUPON_NOT_USABLE`` saying why ``coupon`` cannot be used (or, ``cancelling``, cancelled):
    it was used, has expired or was cancelled. The message starts with the code and the reason."""
    status = coupon.status_at(now)
    if status == USED:
        at = coupon.used_at.isoformat() if coupon.used_at else "an earlier time"
        why = f"was already used at {at}"
        if cancelling:
            why += ": a used coupon cannot be cancelled"
    elif status == EXPIRED:
        why = f"expired at {coupon.expires_at.isoformat()}"
        if cancelling:
            why += ": an expired coupon cannot be cancelled and returns no points"
    elif status == CANCELLED:
        at = coupon.cancelled_at.isoformat() if coupon.cancelled_at else "an earlier time"
        why = f"was cancelled at {at}"
    else:
        why = f"is {status}"
    return AtriumError(ErrorCode.COUPON_NOT_USABLE, f"Coupon {coupon.code} {why}.", field)


async def cancel_redemption_coupons(
    conn: AsyncConnection, *, redemption_id: int, posting_id: int, member_id: int, now: datetime, field: str = "redemption"
) -> int:
    """Mark every coupon of redemption ``redemption_id`` (of member ``member_id``) cancelled by ``posting_id``; how many.

    Refuses with ``COUPON_NOT_USABLE`` on ``field`` (the request's name for the redemption; the
    caller's transaction must roll back) when any of them is no longer ``issued`` and unexpired: a
    used coupon was honoured, and an expired one returns no points. Redemptions that issued no coupons pass untouched (0). The plugins are told of each
    coupon cancelled once the cancellation commits.
    """
    cancelled = (
        await conn.execute(
            update(coupon_table)
            .where(
                (coupon_table.c.redemption_posting_id == redemption_id)
                & (coupon_table.c.status == ISSUED)
                & (coupon_table.c.expires_at > now)
            )
            .values(status=CANCELLED, cancelled_at=now, cancel_posting_id=posting_id)
            .returning(coupon_table.c.id, coupon_table.c.code, coupon_table.c.format, coupon_table.c.reward_code)
        )
    ).all()
    blocking = (
        await conn.execute(
            coupon_select()
            .where((coupon_table.c.redemption_posting_id == redemption_id) & (coupon_table.c.status != CANCELLED))
            .order_by(coupon_table.c.id)
            .limit(1)
        )
    ).first()
    if blocking is not None:
        raise not_usable(coupon_from_row(blocking), now, field=field, cancelling=True)
    for row in sorted(cancelled, key=lambda row: int(row.id)):
        after_commit(
            conn,
            CouponEvent(
                coupon_id=int(row.id), code=row.code, member_id=member_id, format=row.format, reward=row.reward_code,
                kind=CANCELLED, redemption_posting_id=redemption_id, at=now, cancel_posting_id=posting_id,
            ),
        )
    return len(cancelled)


def add_coupon_codes(reward: RedemptionType, details: dict[str, Any], quantity: int, now: datetime) -> list[str]:
    """Draw ``quantity`` codes for a coupon reward and write them into ``details``; ``[]`` for other rewards.

    ``PLUGIN_FAILED`` when the plugin's fulfilment used a key the gateway writes (:data:`RESERVED_DETAILS`),
    whatever the reward: ``couponCodes`` in a redemption's details is the gateway's declaration of
    the coupons it issued, which ``atrium ledger verify`` holds the coupon table to.
    """
    clash = sorted(RESERVED_DETAILS & details.keys())
    if clash:
        raise AtriumError(
            ErrorCode.PLUGIN_FAILED, f"Reward {reward.code!r} returned details {clash}: the gateway writes those keys."
        )
    if reward.coupon is None:
        return []
    codes = new_coupon_codes(reward.coupon, quantity)
    details.update(coupon_details(codes, coupon_expiry(reward.coupon, now)))
    return codes
