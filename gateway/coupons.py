"""Coupons at the till: look a code up, use it once, cancel it, list a member's, expire them.

Redeeming a reward whose type declares a ``CouponSpec`` issues the coupons
(:mod:`gateway.ledger.coupons`); this module is what happens to them afterwards.

- **Scoped to the issuing format.** A format's till sees and uses only its own format's coupons;
  another format's code is ``COUPON_NOT_FOUND``, exactly like a code that does not exist, so a
  till learns nothing about other formats' coupons. Admins see every format's.
- **Used once.** :func:`use_coupon` is one guarded update, ``UPDATE coupon SET status = 'used' ...
  WHERE id = :id AND status = 'issued' AND expires_at > :now RETURNING ...``: of any number of
  concurrent uses (several gateway processes on PostgreSQL included) exactly one changes the row;
  PostgreSQL re-checks the condition on the committed row for every waiting updater, and SQLite
  serialises writers. The others get ``COUPON_NOT_USABLE`` saying why (used, expired, cancelled).
- **Idempotent by the till's key**, unique within the format: a retry of the winning use returns
  the same coupon with ``replayed``; the key on another coupon is ``IDEMPOTENCY_KEY_REUSED``.
- **Cancelling** a coupon cancels the redemption that issued it, with all of its coupons, and
  gives the points back through :func:`gateway.ledger.cancel.cancel_redemption` (points to their
  lots). It is refused when any of those coupons was used or has expired.
- **Expiry.** An issued coupon past ``expires_at`` reads as ``expired`` at once; the expiry job
  (:func:`expire_coupons`, run by ``atrium ledger expire``) stores it. An expired coupon returns
  no points: the member had the reward and let it lapse, as with any voucher.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.cancel import CancelRequest, cancel_redemption
from gateway.ledger.coupons import CouponRow, coupon_from_row, coupon_select, not_usable
from gateway.ledger.postings import PostingResult, check_idempotency_key
from gateway.notices import after_commit, notifying_write
from gateway.persistence.coupon_tables import (
    CANCELLED,
    EXPIRED,
    ISSUED,
    USED,
    coupon_table,
)
from gateway.persistence.models import member_table
from gateway.plugin_api import CouponChange, CouponEvent

MAX_PAGE = 100
_SPACES = re.compile(r"\s+")


def normalize_code(code: str) -> str:
    """A code as a till may type it: surrounding and inner spaces dropped, upper-cased."""
    return _SPACES.sub("", code or "").upper()


def _not_found(code: str) -> AtriumError:
    return AtriumError(ErrorCode.COUPON_NOT_FOUND, f"There is no coupon {code!r} here.", "code")


async def find_coupon(
    conn: AsyncConnection, code: str, *, format_code: str | None = None, member_id: int | None = None
) -> CouponRow:
    """The coupon with ``code``; ``COUPON_NOT_FOUND`` when absent or outside the caller's scope.

    ``format_code`` limits the search to one issuing format (a till), ``member_id`` to one member's
    coupons (a member token); ``None`` is no limit (an admin).
    """
    wanted = normalize_code(code)
    if not 1 <= len(wanted) <= 32:
        raise _not_found(code)
    row = (await conn.execute(coupon_select().where(coupon_table.c.code == wanted))).first()
    if row is None:
        raise _not_found(wanted)
    coupon = coupon_from_row(row)
    if (format_code is not None and coupon.format != format_code) or (
        member_id is not None and coupon.member_id != member_id
    ):
        raise _not_found(wanted)
    return coupon


async def lookup_coupon(core: Core, code: str, *, format_code: str | None = None, member_id: int | None = None) -> CouponRow:
    """:func:`find_coupon` in a read transaction."""
    async with core.db.read() as conn:
        return await find_coupon(conn, code, format_code=format_code, member_id=member_id)


@dataclass(frozen=True)
class UseCouponRequest:
    """A till uses a coupon: the code, the till's idempotency key, and who is asking.

    ``format_code`` is the caller's format (``None`` for an admin, who may use any format's);
    ``used_by`` names the caller (``service:retail``) and ``till`` optionally the till or store.
    """

    code: str
    idempotency_key: str
    used_by: str
    format_code: str | None = None
    till: str | None = None


@dataclass(frozen=True)
class CouponUse:
    """The used coupon; ``replayed`` when this answers a retry of the use that won."""

    coupon: CouponRow
    replayed: bool = False


_MEMBER_REFUSALS = {
    "frozen": (ErrorCode.MEMBER_FROZEN, "is frozen: its coupons cannot be used until an admin unfreezes it"),
    "erased": (ErrorCode.MEMBER_ERASED, "was erased on request: its coupons cannot be used"),
}


async def use_coupon(core: Core, request: UseCouponRequest, *, now: datetime) -> CouponUse:
    """Use a coupon once; see the module docstring for the guarantees.

    ``COUPON_NOT_FOUND`` (absent or another format's), ``COUPON_NOT_USABLE`` (used, expired,
    cancelled), ``IDEMPOTENCY_KEY_REUSED`` (the key used another coupon), ``MEMBER_FROZEN`` /
    ``MEMBER_ERASED`` (the holder may not use coupons now). Nothing is written on a refusal.
    """
    key = check_idempotency_key(request.idempotency_key)
    till = request.till.strip() if request.till else None
    if till is not None and not 1 <= len(till) <= 64:
        raise AtriumError(ErrorCode.INVALID_INPUT, "The till is 1 to 64 characters.", "till")
    now = now.astimezone(UTC)
    try:
        return await _use(core, request, key, till, now)
    except IntegrityError:
        # A concurrent use claimed this key for another coupon of the format: the retry finds it.
        return await _use(core, request, key, till, now)


async def _use(core: Core, request: UseCouponRequest, key: str, till: str | None, now: datetime) -> CouponUse:
    async with notifying_write(core) as conn:
        coupon = await find_coupon(conn, request.code, format_code=request.format_code)
        earlier = await _used_with_key(conn, coupon.format, key)
        if earlier is not None:
            return _replay(earlier, coupon, key)
        refusal = _MEMBER_REFUSALS.get(coupon.member_status)
        if refusal is not None:
            raise AtriumError(refusal[0], f"Member {coupon.member_id} {refusal[1]}.")
        won = await conn.scalar(
            update(coupon_table)
            .where((coupon_table.c.id == coupon.id) & (coupon_table.c.status == ISSUED) & (coupon_table.c.expires_at > now))
            .values(status=USED, used_at=now, used_by=request.used_by[:128], used_till=till, use_key=key)
            .returning(coupon_table.c.id)
        )
        current = await find_coupon(conn, coupon.code)
        if won is not None:
            after_commit(conn, _event(current, USED, now, till=till))
    if won is not None:
        return CouponUse(current)
    if current.use_key == key:
        return CouponUse(current, replayed=True)  # a concurrent retry of this very use won
    raise not_usable(current, now, field="code")


async def _used_with_key(conn: AsyncConnection, format_code: str, key: str) -> CouponRow | None:
    row = (
        await conn.execute(coupon_select().where((coupon_table.c.format == format_code) & (coupon_table.c.use_key == key)))
    ).first()
    return coupon_from_row(row) if row is not None else None


def _replay(earlier: CouponRow, asked: CouponRow, key: str) -> CouponUse:
    if earlier.id != asked.id:
        raise AtriumError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            f"Idempotency key {key!r} already used coupon {earlier.code}; use a new key for another coupon.",
            "idempotencyKey",
        )
    return CouponUse(earlier, replayed=True)


@dataclass(frozen=True)
class CancelCouponRequest:
    """Cancel a coupon (and the redemption that issued it); ``format_code`` as in :class:`UseCouponRequest`."""

    code: str
    idempotency_key: str
    format_code: str | None = None


@dataclass(frozen=True)
class CouponCancellation:
    """The cancellation's posting (the original one on a replay) and every coupon it cancelled."""

    posting: PostingResult
    coupons: list[CouponRow]


async def cancel_coupon(core: Core, request: CancelCouponRequest, *, now: datetime) -> CouponCancellation:
    """Cancel an unused coupon's redemption with all its coupons; the points go back to their lots.

    ``COUPON_NOT_USABLE`` when the coupon (or another of its redemption) was used or has expired;
    ``ALREADY_CANCELLED`` when another key cancelled it; a retry with the same key replays.
    """
    now = now.astimezone(UTC)
    async with core.db.read() as conn:
        coupon = await find_coupon(conn, request.code, format_code=request.format_code)
    if coupon.status_at(now) in (USED, EXPIRED):
        raise not_usable(coupon, now, field="code", cancelling=True)
    cancel = CancelRequest(
        format=coupon.format, idempotency_key=request.idempotency_key, redemption_posting_id=coupon.redemption_posting_id
    )
    try:
        posting = await cancel_redemption(core, cancel, now=now)
    except AtriumError as error:
        if error.field in ("redemption", "redemptionPosting", "format"):
            raise AtriumError(error.code, error.message, "code") from None
        raise
    return CouponCancellation(posting, await redemption_coupons(core, coupon.redemption_posting_id))


async def redemption_coupons(core: Core, redemption_id: int) -> list[CouponRow]:
    """Every coupon redemption ``redemption_id`` issued, in issue order."""
    async with core.db.read() as conn:
        rows = await conn.execute(
            coupon_select().where(coupon_table.c.redemption_posting_id == redemption_id).order_by(coupon_table.c.id)
        )
        return [coupon_from_row(row) for row in rows.all()]


async def member_coupons(
    conn: AsyncConnection,
    member_id: int,
    *,
    now: datetime,
    first: int,
    before_id: int | None = None,
    status: str | None = None,
) -> tuple[list[CouponRow], bool]:
    """Up to ``first`` of the member's coupons (merged-away records' too), newest first, older than
    ``before_id``, with the status ``status`` as read at ``now``; and whether more follow. One query."""
    owners = select(member_table.c.id).where(
        (member_table.c.id == member_id) | (member_table.c.merged_into_id == member_id)
    )
    query = coupon_select().where(coupon_table.c.member_id.in_(owners))
    if before_id is not None:
        query = query.where(coupon_table.c.id < before_id)
    if status == ISSUED:
        query = query.where((coupon_table.c.status == ISSUED) & (coupon_table.c.expires_at > now))
    elif status == EXPIRED:
        query = query.where(
            or_(coupon_table.c.status == EXPIRED, (coupon_table.c.status == ISSUED) & (coupon_table.c.expires_at <= now))
        )
    elif status in (USED, CANCELLED):
        query = query.where(coupon_table.c.status == status)
    rows = (await conn.execute(query.order_by(coupon_table.c.id.desc()).limit(first + 1))).all()
    return [coupon_from_row(row) for row in rows[:first]], len(rows) > first


async def expire_coupons(core: Core, *, now: datetime) -> int:
    """Mark every issued coupon past its expiry ``expired``; how many. Safe to rerun or run twice at once.

    No points move: an expired coupon's points stay spent (see the module docstring). The plugins
    are told of each coupon marked, once the run commits.
    """
    async with notifying_write(core) as conn:
        expired = (
            await conn.execute(
                update(coupon_table)
                .where((coupon_table.c.status == ISSUED) & (coupon_table.c.expires_at <= now.astimezone(UTC)))
                .values(status=EXPIRED)
                .returning(coupon_table.c.id)
            )
        ).scalars().all()
        ids = sorted(int(coupon_id) for coupon_id in expired)
        for start in range(0, len(ids), _EVENT_BATCH):
            rows = await conn.execute(
                coupon_select().where(coupon_table.c.id.in_(ids[start : start + _EVENT_BATCH])).order_by(coupon_table.c.id)
            )
            for row in rows.all():
                coupon = coupon_from_row(row)
                after_commit(conn, _event(coupon, EXPIRED, coupon.expires_at))
    return len(ids)


_EVENT_BATCH = 1000
"""Coupons read back per statement to tell the plugins of an expiry run."""


def _event(coupon: CouponRow, kind: CouponChange, at: datetime, *, till: str | None = None) -> CouponEvent:
    """What the plugins are told of ``coupon`` changing to ``kind``."""
    return CouponEvent(
        coupon_id=coupon.id,
        code=coupon.code,
        member_id=coupon.member_id,
        format=coupon.format,
        reward=coupon.reward_code,
        kind=kind,
        redemption_posting_id=coupon.redemption_posting_id,
        at=at,
        till=till,
    )
