"""Cancelling a redemption: the points go back to the lots they came from, once.

A redemption recorded, in ``lot_consumption``, how many points it drew from each lot. Its
cancellation, a posting of kind ``cancel`` linked to it by ``reverses_posting_id``, gives each of
those draws back:

- to the same lot, when the lot has not expired: ``lot.remaining`` goes up again and a
  **negative** ``lot_consumption`` row against the cancellation records it. A lot's
  ``points − sum(consumption) = remaining`` stays true (verify checks it), the lot never holds more
  than it was issued, and its draws still net to what the member really spent;
- to ``group.expiry``, when the lot's expiry date has come since: the member would have lost
  those points had they never been spent, so it does not get them back; the lot is left alone,
  and ``details.lots`` records, lot by lot, what was restored and what expired (a later refund of
  the activity that issued the lot counts those as already expired).

Points restored to the lots of a purchase refunded meanwhile, whose refund could not take them
back (they were spent by this redemption), are reclaimed for that refund instead of returned
(:mod:`gateway.ledger.reclaim`): drawn again from the lot by the cancellation, credited to the
purchase's format issuance account, and listed in ``details.reclaimed``; ``details.restored``
and ``details.lots[].restored`` count what the member got back.

Entries: the format's redemption account −N (all the redemption's points), the wallet +M (the
points restored to lots and not reclaimed), ``group.expiry`` +E (the expired ones), each
purchase format's issuance account +C (the reclaimed ones), N = M + E + C. A member in debt
(negative balance) repays it first from the restored points (:mod:`gateway.ledger.debt`). A redemption is cancelled at most
once: a second cancellation under another key is ``ALREADY_CANCELLED`` (and that key stays
failed). Idempotent by key within ``cancel:<format>``. The redemption's coupons, if its reward
issues them, are cancelled with it, and a redemption with a used or expired coupon is refused
(``COUPON_NOT_USABLE``, :mod:`gateway.ledger.coupons`). Voiding anything else the format fulfilled
is the format's business: its plugin hears of the cancellation through ``atrium_posting_committed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.compensate import find_original, remember_refusals
from gateway.ledger.coupons import cancel_redemption_coupons
from gateway.ledger.debt import repay_debt
from gateway.ledger.holds import catch_up
from gateway.ledger.postings import (
    MemberRef,
    PostingResult,
    check_idempotency_key,
    find_replay,
    insert_entries,
    insert_posting,
    lock_member,
    replay_after_conflict,
    request_hash,
    result_from_values,
)
from gateway.ledger.reclaim import ReturnedDraw, apply_reclaim, plan_reclaim
from gateway.ledger.reverse import REVERSIBLE_STATUSES
from gateway.notices import notifying_write
from gateway.persistence.models import (
    EXPIRY,
    WALLET,
    lot_consumption_table,
    lot_table,
    member_table,
    posting_table,
    redemption_account,
)


@dataclass(frozen=True)
class CancelRequest:
    """Cancel a redemption of ``format``, named by its idempotency key or posting id."""

    format: str
    idempotency_key: str
    redemption_key: str | None = None
    redemption_posting_id: int | None = None


async def _draws(conn: AsyncConnection, redemption_id: int) -> list[Any]:
    """What the redemption drew from each lot, with the lot's expiry date, activity and format; the lots locked."""
    query = (
        select(
            lot_consumption_table.c.lot_id,
            lot_consumption_table.c.points,
            lot_table.c.expires_at,
            lot_table.c.posting_id.label("activity_id"),
            lot_table.c.format,
        )
        .select_from(lot_consumption_table.join(lot_table, lot_table.c.id == lot_consumption_table.c.lot_id))
        .where(lot_consumption_table.c.posting_id == redemption_id)
        .order_by(lot_consumption_table.c.id)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=lot_table)
    return list((await conn.execute(query)).all())


async def restore_lots(conn: AsyncConnection, posting_id: int, restores: list[tuple[int, int]]) -> None:
    """Put each ``(lot_id, points)`` back into its lot, recorded as a negative draw against ``posting_id``."""
    if not restores:
        return
    await conn.execute(
        update(lot_table)
        .where(lot_table.c.id == bindparam("lot_id"))
        .values(remaining=lot_table.c.remaining + bindparam("back")),
        [{"lot_id": lot_id, "back": points} for lot_id, points in restores],
    )
    await conn.execute(
        insert(lot_consumption_table),
        [{"posting_id": posting_id, "lot_id": lot_id, "points": -points} for lot_id, points in restores],
    )


async def cancel_redemption(core: Core, request: CancelRequest, *, now: datetime) -> PostingResult:
    """Cancel a redemption once: its points go back to their lots, or to expiry for lots expired since.

    ``POSTING_NOT_FOUND`` when the format has no such redemption, ``ALREADY_CANCELLED`` when another
    key cancelled it before; a replay returns the original cancellation. Frozen members' redemptions
    can be cancelled (a correction, not a redemption).
    """
    if request.format not in core.registry.formats:
        raise AtriumError(ErrorCode.UNKNOWN_FORMAT, f"There is no format {request.format!r}.", "format")
    key = check_idempotency_key(request.idempotency_key)
    async with core.db.read() as conn:
        redemption = await find_original(
            conn,
            format_code=request.format,
            kind="redeem",
            key=request.redemption_key,
            posting_id=request.redemption_posting_id,
            field="redemption",
            posting_field="redemptionPosting",
        )
    named_by = "redemption" if request.redemption_key is not None else "redemptionPosting"
    scope = f"cancel:{request.format}"
    fingerprint = request_hash({"redemption": redemption.id})
    now = now.astimezone(UTC)
    async with remember_refusals(core.db, scope=scope, key=key, fingerprint=fingerprint, now=now) as attempt:
        try:
            async with notifying_write(core) as conn:
                member = await lock_member(conn, MemberRef(member_id=redemption.member_id))
                member = await catch_up(core, conn, member, now=now)
                replay = await find_replay(conn, scope, key, fingerprint, member.id)
                if replay is not None:
                    return replay
                attempt.member_id = member.id
                if member.status not in REVERSIBLE_STATUSES:
                    raise AtriumError(ErrorCode.MEMBER_INACTIVE, f"Member {member.id} is {member.status}.")
                earlier = await conn.scalar(
                    select(posting_table.c.idempotency_key).where(
                        (posting_table.c.reverses_posting_id == redemption.id) & (posting_table.c.kind == "cancel")
                    )
                )
                if earlier is not None:
                    raise AtriumError(
                        ErrorCode.ALREADY_CANCELLED,
                        f"Redemption {redemption.idempotency_key} was already cancelled (by {earlier}).",
                        named_by,
                    )
                spent = -redemption.points
                draws = await _draws(conn, redemption.id)
                if sum(int(draw.points) for draw in draws) != spent:
                    raise RuntimeError(f"ledger inconsistency: redemption {redemption.id} drew other than its {spent} pts")
                restores = [(int(draw.lot_id), int(draw.points)) for draw in draws if draw.expires_at > now]
                reclaim = await plan_reclaim(
                    conn,
                    [
                        ReturnedDraw(int(draw.lot_id), int(draw.activity_id), draw.format, int(draw.points))
                        for draw in draws
                        if draw.expires_at > now
                    ],
                )
                expired = spent - sum(points for _, points in restores)
                restored = spent - expired - reclaim.points
                balance_after = member.points_balance + restored
                format_name = core.registry.formats[request.format].name
                reward = core.registry.reward(request.format, redemption.reward_code or "")
                label = f"{reward.name if reward else redemption.reward_code} ×{redemption.quantity}"
                reason = f"{format_name} reward cancelled: {label} (+{restored} pts)"
                if expired:
                    reason += f"; {expired} pts came from lots that have expired since and are not returned"
                if reclaim.points:
                    reason += f"; {reclaim.points} pts of refunded purchases are taken back, not returned"
                values = {
                    "member_id": member.id,
                    "kind": "cancel",
                    "format": request.format,
                    "idempotency_scope": scope,
                    "idempotency_key": key,
                    "request_hash": fingerprint,
                    "points": restored,
                    "growth": 0,
                    "balance_after": balance_after,
                    "tier_before": member.tier_code,
                    "tier_after": member.tier_code,
                    "reason": reason[:500],
                    "lines": [
                        {
                            "rule": f"cancel.{request.format}.{redemption.reward_code}",
                            "points": restored,
                            "growth": 0,
                            "reason": f"{label} cancelled: {spent} pts back, {expired} of them expired"
                            + (f", {reclaim.points} reclaimed by refunds" if reclaim.points else ""),
                        }
                    ],
                    "reward_code": redemption.reward_code,
                    "quantity": redemption.quantity,
                    "details": {
                        "redemptionPostingId": redemption.id,
                        "redemptionKey": redemption.idempotency_key,
                        "restored": restored,
                        "expired": expired,
                        "reclaimedPoints": reclaim.points,
                        "reclaimed": reclaim.details(),
                        "lots": [
                            {
                                "lotId": int(draw.lot_id),
                                "restored": int(draw.points) - reclaim.on_lot(int(draw.lot_id))
                                if draw.expires_at > now
                                else 0,
                                "reclaimed": reclaim.on_lot(int(draw.lot_id)),
                                "expired": 0 if draw.expires_at > now else int(draw.points),
                            }
                            for draw in draws
                        ],
                    },
                    "occurred_at": now,
                    "created_at": now,
                }
                posting_id = await insert_posting(conn, {**values, "reverses_posting_id": redemption.id})
                await cancel_redemption_coupons(
                    conn, redemption_id=redemption.id, posting_id=posting_id, member_id=member.id, now=now, field=named_by
                )
                await insert_entries(
                    conn,
                    posting_id,
                    [
                        (redemption_account(request.format), None, -spent),
                        (WALLET, member.id, restored),
                        (EXPIRY, None, expired),
                        *reclaim.legs(),
                    ],
                )
                await restore_lots(conn, posting_id, restores)
                await apply_reclaim(conn, posting_id, reclaim)
                if restored:
                    await conn.execute(
                        update(member_table)
                        .where(member_table.c.id == member.id)
                        .values(points_balance=member_table.c.points_balance + restored)
                    )
                await repay_debt(conn, member.id, posting_id, balance_before=member.points_balance, credited=restored)
        except IntegrityError as conflict:
            return await replay_after_conflict(core.db, conflict, scope, key, fingerprint, redemption.member_id)
    return result_from_values(posting_id, values)
