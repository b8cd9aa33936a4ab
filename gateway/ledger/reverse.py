"""Refunds: a business unit reverses all or part of an activity, and the points and growth it earned go back.

A refund of ``r`` out of an activity of amount ``A`` that earned ``P`` points and ``G`` growth
claws back a proportional share, computed **cumulatively** so partial refunds add up exactly:
with ``R`` the amount refunded so far including this refund,

    points due = floor(P × R / A) − points due by the earlier refunds of the activity
    growth due = floor(G × R / A) − growth due by the earlier refunds

(exact integer arithmetic, rounded down: a member never loses a point more than its share, and
once the whole amount is refunded the refunds have taken exactly ``P`` and ``G``).

``R / A`` is the refunded **share** of the activity. A refund of *parts* (returned lines of a
receipt, through the format's ``refund<Format><Kind>`` mutation) brings its own share, computed
by the plugin from what those parts earned (a returned gift card: none; the only earning line:
all), and the amount it works out from the receipt. Shares add up over the activity's refunds,
exact fractions, kept on each refund as ``details.shareAfter``; the sum never passes 1 and is 1
once the whole amount is refunded. A refund by amount has the share ``r / A``, as above.

The points due are taken, in this order, from:

1. the activity's own lots still pending (``member.pending``), then its available lots
   (``member.wallet``): what is left of them;
2. ``group.expiry``, for points of the activity's lots that expired meanwhile (taken by the
   expiry job, or sent there by a redemption cancelled or a hold settled after the lot's expiry):
   the member no longer has them, so the refund cancels the issuance against the expiry account;
3. the member's other points (``member.wallet``, lots first-expiring-first), when the activity's
   points were already spent;
4. what is still due after that follows ``settings.refund_policy``. ``claw_back_available`` (the
   default) leaves it: the posting records it as ``details.unrecovered``. ``allow_negative`` takes
   it anyway: the wallet goes below zero by ``details.debt``, a debt no lot holds, repaid from the
   next points the member is credited (:mod:`gateway.ledger.debt`).

Unrecovered points come back to the refund when they come back to the activity's lots. Points
the activity's lots had given to a hold or a redemption at refund time are unrecovered under
``claw_back_available``; when the hold is voided or lapses (or is captured in part) or the
redemption is cancelled, those points return to the activity's lots, and the member would keep
points of a refunded sale. So points returned to the lots of an activity with *outstanding*
unrecovered points (the sum of ``details.unrecovered`` over its refunds minus what later
postings reclaimed for it) are reclaimed instead of returned, up to that amount: the returning
posting draws them again from the lot, credits them to the activity's format issuance account
and lists them in ``details.reclaimed: [{originalPostingId, points}]``
(:mod:`gateway.ledger.reclaim`). Under ``allow_negative`` nothing is unrecovered: the debt is
repaid from the returned points instead.

The posting is of kind ``reverse``, links the earn through ``reverses_posting_id`` and credits the
format's issuance account with everything it took; every draw on a lot is recorded in
``lot_consumption``. Growth value goes down at once (never below zero), but the tier does not
change now: downgrades happen only at tier evaluation. Refunds are idempotent by key within
``refund:<format>``; refusing more than is left to refund (``REFUND_EXCEEDS_ACTIVITY``) keeps the
key failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from math import floor
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.compensate import find_original, remember_refusals
from gateway.ledger.holds import catch_up
from gateway.ledger.lots import consume_lots, draw_lots
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
from gateway.members import MemberRow
from gateway.money import Money
from gateway.notices import notifying_write
from gateway.persistence.models import (
    EXPIRY,
    PENDING,
    WALLET,
    hold_table,
    issuance_account,
    lot_consumption_table,
    lot_table,
    member_table,
    posting_table,
)
from gateway.plugin_api import EarlierRefund, RefundDraft

REVERSIBLE_STATUSES = frozenset({"active", "frozen"})
"""Members whose postings can be refunded or cancelled: a frozen member's refund still claws back."""


@dataclass(frozen=True)
class PartRefund:
    """A refund of parts of an activity (lines of a receipt), which the format's plugin turns into an amount and a share.

    :param request: the till's refund input as JSON: a replay must send the same.
    :param plan: ``plan(original, earlier)`` returns the :class:`RefundDraft`; called with the
        member locked, so concurrent refunds of one activity see each other
        (:mod:`gateway.ledger.part_refund` builds it around the plugin's ``to_refund``).
    """

    request: Mapping[str, Any]
    plan: Callable[[PostingResult, tuple[EarlierRefund, ...]], RefundDraft]


@dataclass(frozen=True)
class RefundRequest:
    """Refund ``amount`` of an earn of ``format``, named by its idempotency key (the receipt id) or posting id.

    With ``part`` instead of ``amount``, the format's plugin computes the amount and the share of
    points from the parts the till names (:class:`PartRefund`).
    """

    format: str
    amount: Money | None
    idempotency_key: str
    original_key: str | None = None
    original_posting_id: int | None = None
    part: PartRefund | None = None


@dataclass(frozen=True)
class EarlierRefunds:
    """What an activity's refunds so far add up to."""

    refunded: int
    points: int
    growth: int
    expired: int
    share: Fraction
    seen: tuple[EarlierRefund, ...]


@dataclass(frozen=True)
class Clawback:
    """Where the points due by one refund come from, and what is left of them."""

    due: int
    from_pending: list[tuple[int, int]]
    from_lots: list[tuple[int, int]]
    from_expiry: int
    from_wallet: int
    unrecovered: int
    debt: int

    @property
    def pending_points(self) -> int:
        """Points taken from ``member.pending``."""
        return sum(points for _, points in self.from_pending)

    @property
    def wallet_points(self) -> int:
        """Points taken from ``member.wallet``, the debt included."""
        return sum(points for _, points in self.from_lots) + self.from_wallet + self.debt

    @property
    def member_points(self) -> int:
        """Every point the member loses: pending and wallet."""
        return self.pending_points + self.wallet_points

    @property
    def recovered(self) -> int:
        """Every point credited back to the issuance account."""
        return self.member_points + self.from_expiry


def prorate(total: int, part: int, whole: int) -> int:
    """``floor(total × part / whole)`` for non-negative integers, exactly (no Decimal precision limit).

    The refund share of an activity's points or growth: rounded down, like every earn, and equal
    to ``total`` when ``part == whole``.
    """
    if whole <= 0 or total < 0 or part < 0:
        raise ValueError(f"cannot prorate {total} by {part}/{whole}")
    return total * part // whole


def check_refund_amount(core: Core, amount: Money, original: PostingResult) -> Money:
    """``amount`` if it is a positive amount in the original activity's currency; a typed error otherwise."""
    if not isinstance(amount, Money) or type(amount.minor) is not int:
        raise AtriumError(ErrorCode.INVALID_AMOUNT, "The refund amount must be an amount of money.", "amount")
    if amount.currency != (original.currency or core.settings.currency):
        raise AtriumError(
            ErrorCode.UNSUPPORTED_CURRENCY,
            f"The activity was paid in {original.currency}; refund it in {original.currency}, not {amount.currency}.",
            "amount.currency",
        )
    if amount.minor <= 0:
        raise AtriumError(ErrorCode.INVALID_AMOUNT, "The refund amount must be greater than zero.", "amount.amount")
    return amount


async def _earlier_refunds(conn: AsyncConnection, original: PostingResult) -> EarlierRefunds:
    """What the earlier refunds of ``original`` refunded, took and shared, oldest first.

    The share so far is the last refund's ``shareAfter``; refunds written before shares were
    kept count by amount (``refunded / whole``), which is what they took.
    """
    rows = (
        await conn.execute(
            select(posting_table.c.amount_minor, posting_table.c.details)
            .where((posting_table.c.reverses_posting_id == original.id) & (posting_table.c.kind == "reverse"))
            .order_by(posting_table.c.id)
        )
    ).all()
    refunded = sum(int(amount or 0) for amount, _ in rows)
    shares = [Fraction(*details["shareAfter"]) for _, details in rows if details.get("shareAfter")]
    whole = int(original.amount_minor or 0)
    currency = original.currency or ""
    return EarlierRefunds(
        refunded=refunded,
        points=sum(int(details.get("pointsDue", 0)) for _, details in rows),
        growth=sum(int(details.get("growthDue", 0)) for _, details in rows),
        expired=sum(int(details.get("fromExpiry", 0)) for _, details in rows),
        share=max(shares) if shares else Fraction(refunded, whole) if whole else Fraction(0),
        seen=tuple(EarlierRefund(Money(int(amount or 0), currency), dict(details.get("part") or {})) for amount, details in rows),
    )


def share_after(earlier: EarlierRefunds, amount: Money, whole: int, share: Fraction | None) -> Fraction:
    """The share of the activity's points refunded once this refund is made: never past 1, exactly 1 when all money is back."""
    if earlier.refunded + amount.minor >= whole:
        return Fraction(1)
    after = earlier.share + (Fraction(amount.minor, whole) if share is None else share)
    return min(after, Fraction(1))


async def _original_lots(conn: AsyncConnection, original_id: int) -> list[Any]:
    """The lots the earn filled, locked: ``(id, remaining, pending)``, pending ones first."""
    query = select(lot_table.c.id, lot_table.c.remaining, lot_table.c.pending).where(lot_table.c.posting_id == original_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    lots = (await conn.execute(query.order_by(lot_table.c.id))).all()
    return sorted(lots, key=lambda lot: (not lot.pending, lot.id))


async def _expired_from(conn: AsyncConnection, lot_ids: list[int]) -> int:
    """Points of ``lot_ids`` that went to ``group.expiry``, however they got there.

    The expiry job draws them itself (``expire`` postings). A redemption cancelled, or a hold
    settled, after the lot's expiry date sends the points it had drawn from the lot to expiry
    instead of back to the lot: the cancelling or settling posting says so per lot in
    ``details.lots[].expired``. A refund must count all three, or it would take the same points
    twice: once from expiry's point of view and again from the member's other points.
    """
    if not lot_ids:
        return 0
    wanted = set(lot_ids)
    draws = (
        await conn.execute(
            select(lot_consumption_table.c.posting_id, lot_consumption_table.c.points, posting_table.c.kind)
            .select_from(lot_consumption_table.join(posting_table, posting_table.c.id == lot_consumption_table.c.posting_id))
            .where(lot_consumption_table.c.lot_id.in_(lot_ids) & (lot_consumption_table.c.points > 0))
        )
    ).all()
    expired = sum(int(draw.points) for draw in draws if draw.kind == "expire")
    redemptions = {int(draw.posting_id) for draw in draws if draw.kind == "redeem"}
    holds = {int(draw.posting_id) for draw in draws if draw.kind == "hold"}
    settlements: list[Any] = []
    if redemptions:
        settlements += (
            await conn.execute(
                select(posting_table.c.details).where(
                    posting_table.c.reverses_posting_id.in_(redemptions) & (posting_table.c.kind == "cancel")
                )
            )
        ).all()
    if holds:
        settlements += (
            await conn.execute(
                select(posting_table.c.details)
                .select_from(hold_table.join(posting_table, posting_table.c.id == hold_table.c.settle_posting_id))
                .where(hold_table.c.hold_posting_id.in_(holds))
            )
        ).all()
    for (details,) in settlements:
        expired += sum(int(lot.get("expired", 0)) for lot in (details or {}).get("lots", []) if lot.get("lotId") in wanted)
    return expired


async def plan_clawback(
    conn: AsyncConnection, member: MemberRow, original_id: int, due: int, *, expired_taken: int, allow_negative: bool
) -> Clawback:
    """Decide where ``due`` points come from (see the module docstring); reads and locks, writes nothing."""
    left = due
    from_pending: list[tuple[int, int]] = []
    from_lots: list[tuple[int, int]] = []
    lots = await _original_lots(conn, original_id)
    for lot in lots:
        take = min(int(lot.remaining), left)
        if take > 0:
            (from_pending if lot.pending else from_lots).append((int(lot.id), take))
            left -= take
    from_expiry = 0
    if left > 0:
        from_expiry = min(left, max(await _expired_from(conn, [int(lot.id) for lot in lots]) - expired_taken, 0))
        left -= from_expiry
    # The wallet holds exactly the available lots (when not negative): what the activity's own
    # lots gave up is no longer among them.
    others = max(member.points_balance - sum(take for _, take in from_lots), 0)
    from_wallet = min(left, others)
    left -= from_wallet
    return Clawback(
        due=due,
        from_pending=from_pending,
        from_lots=from_lots,
        from_expiry=from_expiry,
        from_wallet=from_wallet,
        unrecovered=0 if allow_negative else left,
        debt=left if allow_negative else 0,
    )


def _reason(format_name: str, amount: Money, original: PostingResult, clawback: Clawback, growth: int, summary: str = "") -> str:
    what = f" ({summary})" if summary else ""
    text = f"{format_name} refund of {amount.format()}{what} on {original.idempotency_key}: -{clawback.member_points} pts"
    if growth:
        text += f", -{growth} growth"
    if clawback.from_expiry:
        text += f" ({clawback.from_expiry} pts had already expired)"
    if clawback.unrecovered:
        text += f"; {clawback.unrecovered} pts already spent could not be taken back"
    if clawback.debt:
        text += f"; {clawback.debt} pts already spent are owed (negative balance)"
    return text


async def refund_activity(core: Core, request: RefundRequest, *, now: datetime) -> PostingResult:
    """Refund all or part of an earn: claw back its points and growth proportionally, exactly once per key.

    The share is computed cumulatively over the activity's refunds and taken from the activity's
    own lots first; already spent points follow ``settings.refund_policy`` (module docstring).
    ``POSTING_NOT_FOUND`` when the format has no such earn, ``REFUND_EXCEEDS_ACTIVITY`` when the
    amount is more than is left to refund; a replay returns the original refund; the same key
    with another payload is ``IDEMPOTENCY_KEY_REUSED``. The tier is left as it is.
    """
    if request.format not in core.registry.formats:
        raise AtriumError(ErrorCode.UNKNOWN_FORMAT, f"There is no format {request.format!r}.", "format")
    key = check_idempotency_key(request.idempotency_key)
    async with core.db.read() as conn:
        original = await find_original(
            conn,
            format_code=request.format,
            kind="earn",
            key=request.original_key,
            posting_id=request.original_posting_id,
            field="original",
            posting_field="originalPosting",
        )
    amount: Money | None = None
    if request.part is None:
        if request.amount is None:
            raise AtriumError(ErrorCode.INVALID_INPUT, "Say how much is refunded.", "amount")
        amount = check_refund_amount(core, request.amount, original)
        fingerprint = request_hash({"original": original.id, "amount": amount.minor, "currency": amount.currency})
    else:
        fingerprint = request_hash({"original": original.id, "part": request.part.request})
    scope = f"refund:{request.format}"
    allow_negative = core.settings.refund_policy == "allow_negative"
    now = now.astimezone(UTC)
    async with remember_refusals(core.db, scope=scope, key=key, fingerprint=fingerprint, now=now) as attempt:
        try:
            async with notifying_write(core) as conn:
                member = await lock_member(conn, MemberRef(member_id=original.member_id))
                member = await catch_up(core, conn, member, now=now)
                replay = await find_replay(conn, scope, key, fingerprint, member.id)
                if replay is not None:
                    return replay
                attempt.member_id = member.id
                if member.status not in REVERSIBLE_STATUSES:
                    raise AtriumError(ErrorCode.MEMBER_INACTIVE, f"Member {member.id} is {member.status}.")
                whole = int(original.amount_minor or 0)
                earlier = await _earlier_refunds(conn, original)
                refunded, points_before, growth_before, expired_taken = (
                    earlier.refunded, earlier.points, earlier.growth, earlier.expired
                )
                share: Fraction | None = None
                summary = ""
                part_details: dict[str, Any] | None = None
                if request.part is not None:
                    draft = request.part.plan(original, earlier.seen)
                    amount = check_refund_amount(core, draft.amount, original)
                    share, summary, part_details = draft.share, draft.summary, dict(draft.details)
                assert amount is not None
                if refunded + amount.minor > whole:
                    left = Money(whole - refunded, amount.currency)
                    raise AtriumError(
                        ErrorCode.REFUND_EXCEEDS_ACTIVITY,
                        f"Only {left.format()} of {Money(whole, amount.currency).format()} is left to refund on "
                        f"{original.idempotency_key}; got {amount.format()}.",
                        "amount",
                    )
                total = refunded + amount.minor
                shared = share_after(earlier, amount, whole, share)
                due = max(floor(original.points * shared) - points_before, 0)
                growth_due = max(floor(original.growth * shared) - growth_before, 0)
                growth = min(growth_due, member.growth_value)
                clawback = await plan_clawback(
                    conn, member, original.id, due, expired_taken=expired_taken, allow_negative=allow_negative
                )
                balance_after = member.points_balance - clawback.wallet_points
                format_name = core.registry.formats[request.format].name
                reason = _reason(format_name, amount, original, clawback, growth, summary)
                details: dict[str, Any] = {
                    "originalPostingId": original.id,
                    "originalKey": original.idempotency_key,
                    "refundedMinor": total,
                    "pointsDue": due,
                    "growthDue": growth_due,
                    "fromPending": clawback.pending_points,
                    "fromActivityLots": sum(take for _, take in clawback.from_lots),
                    "fromExpiry": clawback.from_expiry,
                    "fromOtherPoints": clawback.from_wallet,
                    "unrecovered": clawback.unrecovered,
                    "debt": clawback.debt,
                    "shareAfter": [shared.numerator, shared.denominator],
                }
                if part_details is not None:
                    details["part"] = part_details
                if growth < growth_due:
                    details["growthUnrecovered"] = growth_due - growth
                values = {
                    "member_id": member.id,
                    "kind": "reverse",
                    "format": request.format,
                    "idempotency_scope": scope,
                    "idempotency_key": key,
                    "request_hash": fingerprint,
                    "points": -clawback.member_points,
                    "growth": -growth,
                    "balance_after": balance_after,
                    "tier_before": member.tier_code,
                    "tier_after": member.tier_code,
                    "reason": reason[:500],
                    "lines": [
                        {
                            "rule": f"refund.{request.format}",
                            "points": -clawback.member_points,
                            "growth": -growth,
                            "reason": f"{summary or amount.format()} of {Money(whole, amount.currency).format()} "
                            f"refunded: {due} of the {original.points} pts earned",
                        }
                    ],
                    "amount_minor": amount.minor,
                    "currency": amount.currency,
                    "store": original.store,
                    "details": details,
                    "occurred_at": now,
                    "created_at": now,
                }
                posting_id = await insert_posting(conn, {**values, "reverses_posting_id": original.id})
                await insert_entries(
                    conn,
                    posting_id,
                    [
                        (PENDING, member.id, -clawback.pending_points),
                        (WALLET, member.id, -clawback.wallet_points),
                        (EXPIRY, None, -clawback.from_expiry),
                        (issuance_account(request.format), None, clawback.recovered),
                    ],
                )
                await consume_lots(conn, posting_id, clawback.from_pending + clawback.from_lots)
                if clawback.from_wallet:
                    await consume_lots(conn, posting_id, await draw_lots(conn, member.id, clawback.from_wallet))
                guard = (member_table.c.id == member.id) & (member_table.c.pending_balance >= clawback.pending_points)
                if clawback.wallet_points and not clawback.debt:
                    guard &= member_table.c.points_balance >= clawback.wallet_points
                moved = await conn.scalar(
                    update(member_table)
                    .where(guard)
                    .values(
                        points_balance=member_table.c.points_balance - clawback.wallet_points,
                        pending_balance=member_table.c.pending_balance - clawback.pending_points,
                        growth_value=member_table.c.growth_value - growth,
                    )
                    .returning(member_table.c.id)
                )
                if moved is None:
                    raise RuntimeError(f"ledger inconsistency: member {member.id}'s balances hold less than its lots")
        except IntegrityError as conflict:
            return await replay_after_conflict(core.db, conflict, scope, key, fingerprint, original.member_id)
    return result_from_values(posting_id, values)
