"""Admin adjustments: a group admin credits or debits a member's points, with a reason, exactly once.

A credit moves points from ``group.adjustment`` to the wallet and fills a lot of format
:data:`~gateway.persistence.models.GROUP_FORMAT` (the group itself issued them, for settlement). A
debit moves points back, drawn from lots first-expiring-first like a redemption, and never
overdraws. Both are postings with an idempotency key, replay like any other, and write an audit
row in the same transaction. Adjustments apply to frozen members too: freezing an account under
investigation and then correcting its points is the usual order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from gateway.audit import check_reason, write_audit
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.debt import repay_debt
from gateway.ledger.failures import failure_stays_failure
from gateway.ledger.holds import catch_up
from gateway.ledger.lots import consume_lots, draw_lots, lot_expires_at
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
from gateway.notices import notifying_write
from gateway.persistence.models import (
    ADJUSTMENT,
    GROUP_FORMAT,
    WALLET,
    lot_table,
    member_table,
)

ADJUST_SCOPE = "adjust"
ADJUSTABLE_STATUSES = frozenset({"active", "frozen"})


@dataclass(frozen=True)
class AdjustRequest:
    """Credit (``points`` > 0) or debit (``points`` < 0) a member, by ``actor``, for ``reason``."""

    member: MemberRef
    points: int
    reason: str
    idempotency_key: str
    actor: str


def check_adjustment(core: Core, points: int) -> int:
    """``points`` if it is a non-zero whole number within the group's limit; ``INVALID_INPUT`` otherwise."""
    limit = core.settings.max_adjustment_points
    if type(points) is not int or points == 0 or abs(points) > limit:
        raise AtriumError(
            ErrorCode.INVALID_INPUT,
            f"Adjust by a non-zero number of points between -{limit} and {limit}: positive credits, negative debits.",
            "points",
        )
    return points


async def adjust_points(core: Core, request: AdjustRequest, *, now: datetime) -> PostingResult:
    """Credit or debit a member's points with a mandatory reason, exactly once per idempotency key.

    A debit beyond the available balance is ``INSUFFICIENT_POINTS`` and keeps its key failed;
    pending points cannot be debited here. The change is audited with the actor and the reason.
    """
    key = check_idempotency_key(request.idempotency_key)
    points = check_adjustment(core, request.points)
    reason = check_reason(request.reason)
    fingerprint = request_hash({"points": points, "reason": reason})
    now = now.astimezone(UTC)
    async with failure_stays_failure(core.db, scope=ADJUST_SCOPE, key=key, fingerprint=fingerprint, now=now) as attempt:
        try:
            async with notifying_write(core) as conn:
                member = await lock_member(conn, request.member)
                member = await catch_up(core, conn, member, now=now)
                replay = await find_replay(conn, ADJUST_SCOPE, key, fingerprint, member.id)
                if replay is not None:
                    return replay
                attempt.member_id = member.id
                if member.status not in ADJUSTABLE_STATUSES:
                    raise AtriumError(ErrorCode.MEMBER_INACTIVE, f"Member {member.id} is {member.status}.")
                # A debit never overdraws; a credit always lands, also on a member in debt (gateway.ledger.debt).
                guard = member_table.c.id == member.id
                if points < 0:
                    guard &= member_table.c.points_balance + points >= 0
                balance_after = await conn.scalar(
                    update(member_table)
                    .where(guard)
                    .values(points_balance=member_table.c.points_balance + points)
                    .returning(member_table.c.points_balance)
                )
                if balance_after is None:
                    raise AtriumError(
                        ErrorCode.INSUFFICIENT_POINTS,
                        f"Cannot debit {-points} pts; the member has {member.points_balance} available.",
                    )
                draws = await draw_lots(conn, member.id, -points) if points < 0 else []
                sign = "+" if points > 0 else "-"
                values = {
                    "member_id": member.id,
                    "kind": "adjust",
                    "format": GROUP_FORMAT,
                    "idempotency_scope": ADJUST_SCOPE,
                    "idempotency_key": key,
                    "request_hash": fingerprint,
                    "points": points,
                    "growth": 0,
                    "balance_after": int(balance_after),
                    "tier_before": member.tier_code,
                    "tier_after": member.tier_code,
                    "reason": f"Points adjustment: {sign}{abs(points)} pts — {reason}"[:500],
                    "lines": [{"rule": "group.adjustment", "points": points, "growth": 0, "reason": reason}],
                    "details": {},
                    "occurred_at": now,
                    "created_at": now,
                }
                posting_id = await insert_posting(conn, values)
                await insert_entries(conn, posting_id, [(WALLET, member.id, points), (ADJUSTMENT, None, -points)])
                if points > 0:
                    await conn.execute(
                        insert(lot_table).values(
                            member_id=member.id,
                            posting_id=posting_id,
                            format=GROUP_FORMAT,
                            points=points,
                            remaining=points,
                            earned_at=now,
                            available_at=now,
                            expires_at=lot_expires_at(core.settings, now),
                            pending=False,
                        )
                    )
                    await repay_debt(conn, member.id, posting_id, balance_before=member.points_balance, credited=points)
                else:
                    await consume_lots(conn, posting_id, draws)
                await write_audit(
                    conn,
                    actor=request.actor,
                    action="adjust_points",
                    member_id=member.id,
                    details={
                        "points": points,
                        "posting_id": posting_id,
                        "idempotency_key": key,
                        "balance_before": member.points_balance,
                        "balance_after": int(balance_after),
                    },
                    reason=reason,
                    now=now,
                )
        except IntegrityError as conflict:
            return await replay_after_conflict(core.db, conflict, ADJUST_SCOPE, key, fingerprint, request.member)
    return result_from_values(posting_id, values)
