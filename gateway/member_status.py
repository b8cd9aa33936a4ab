"""Freezing and unfreezing a member: an admin's hold on a member who must neither earn nor redeem.

A frozen member keeps its points, lots and identities; earning and redeeming are refused with
``MEMBER_FROZEN`` until an admin unfreezes it. Admin adjustments and the expiry job still apply
(a frozen account is often one under investigation). Each change is audited with its reason.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from gateway.audit import check_reason, write_audit
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.postings import MemberRef, lock_member
from gateway.persistence.database import Database
from gateway.persistence.models import member_table

ACTIVE = "active"
FROZEN = "frozen"


async def freeze_member(db: Database, ref: MemberRef, *, actor: str, reason: str, now: datetime) -> int:
    """Freeze a member so it neither earns nor redeems; returns its id.

    Freezing a frozen member changes nothing and writes nothing (a safe retry).
    """
    return await _set_status(db, ref, FROZEN, actor=actor, reason=reason, now=now)


async def unfreeze_member(db: Database, ref: MemberRef, *, actor: str, reason: str, now: datetime) -> int:
    """Let a frozen member earn and redeem again; returns its id.

    Unfreezing an active member changes nothing and writes nothing (a safe retry).
    """
    return await _set_status(db, ref, ACTIVE, actor=actor, reason=reason, now=now)


async def _set_status(db: Database, ref: MemberRef, target: str, *, actor: str, reason: str, now: datetime) -> int:
    why = check_reason(reason)
    async with db.write() as conn:
        member = await lock_member(conn, ref)
        if member.status == target:
            return member.id
        if member.status not in (ACTIVE, FROZEN):
            raise AtriumError(ErrorCode.MEMBER_INACTIVE, f"Member {member.id} is {member.status}.")
        await conn.execute(update(member_table).where(member_table.c.id == member.id).values(status=target))
        await write_audit(
            conn,
            actor=actor,
            action="freeze_member" if target == FROZEN else "unfreeze_member",
            member_id=member.id,
            details={"before": member.status, "after": target},
            reason=why,
            now=now,
        )
        return member.id
