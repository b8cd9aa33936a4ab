"""A negative balance: points a member owes after a refund, and their repayment from new points.

Under ``refund_policy = "allow_negative"`` a refund of an activity whose points were already spent
takes them back anyway, and the wallet goes below zero (:mod:`gateway.ledger.reverse`). Lots never
go below zero: the negative part is a debt that no lot holds. The invariant, which
:func:`gateway.ledger.verify.verify_ledger` checks, is

    points in available lots = max(stored wallet balance, 0)

so while a member is negative, no available lot holds anything. Every posting that credits the
wallet of a member in debt (an earn, a release of pending points, an admin credit, a cancelled
redemption) therefore repays the debt at once from the points it has just put into lots: it
calls :func:`repay_debt`, which draws them first-expiring-first and records the draw in
``lot_consumption`` against that same posting. The wallet entries need nothing more: the debt was
already debited by the refund, so the credit simply brings the balance back towards zero.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.ledger.lots import consume_lots, draw_lots


def debt_repaid(balance_before: int, credited: int) -> int:
    """How much of a debt a wallet credit of ``credited`` points repays: none unless the balance was negative."""
    if balance_before >= 0 or credited <= 0:
        return 0
    return min(-balance_before, credited)


async def repay_debt(conn: AsyncConnection, member_id: int, posting_id: int, *, balance_before: int, credited: int) -> int:
    """Repay a member's debt from the points ``posting_id`` just credited to its wallet; returns the points used.

    Call it, with the member locked, after the posting's lots were filled (or restored) and before
    anything else draws on them. It costs no statement when the balance before the credit was not
    negative, the usual case, so callers may call it unconditionally.
    """
    repay = debt_repaid(balance_before, credited)
    if repay:
        await consume_lots(conn, posting_id, await draw_lots(conn, member_id, repay))
    return repay
