"""Erasing a member on request: its personal data goes, its ledger stays, anonymous and verifiable.

A member's personal data is its identities (phones, emails, format customer ids); the member row
itself holds none (an id, a status, balances, a tier). Erasure, by an admin with a mandatory
reason, in one write transaction:

- deletes every identity of the member, so the old phone or email finds no one and can enrol a
  brand-new member;
- marks the member ``erased`` (``member.erased_at``): it can neither earn nor redeem
  (``MEMBER_ERASED``) and takes no new identity;
- keeps every posting, entry and lot. Balances stay where they are, and ``atrium ledger verify``
  still passes: the ledger of an erased member is the ledger of an anonymous number. Its points
  keep expiring by the group's policy, and admin adjustments are refused like for any inactive
  member.
- writes an audit row (action ``erase_member``) with counts of what was erased, by kind, never
  the values.

Erasing an erased member is a no-op (a safe retry) when named by id; by phone or email, a retry
finds no member, which is the point. A merged-away member's id resolves to its survivor, as
everywhere: the survivor is the person, so the survivor is erased.

What erasure does not reach, because those rows are append-only: free text an admin typed into
audit reasons, and format activity details stored on postings (e.g. a property unit code).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update

from gateway.audit import check_reason, write_audit
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.postings import MemberRef, lock_member
from gateway.persistence.models import identity_table, member_table

ERASED = "erased"
ERASABLE_STATUSES = frozenset({"active", "frozen"})


@dataclass(frozen=True)
class ErasureResult:
    """The erased member, and how many identities this call erased (0 on a retry)."""

    member_id: int
    identities_erased: int
    erased_now: bool


async def erase_member(core: Core, ref: MemberRef, *, actor: str, reason: str, now: datetime) -> ErasureResult:
    """Erase the member's identities and mark it erased; its ledger stays (see the module docstring).

    :raises AtriumError: ``INVALID_INPUT`` without a reason, ``MEMBER_NOT_FOUND``, ``MEMBER_INACTIVE``.
    """
    why = check_reason(reason)
    now = now.astimezone(UTC)
    async with core.db.write() as conn:
        member = await lock_member(conn, ref)
        if member.status == ERASED:
            return ErasureResult(member.id, 0, erased_now=False)
        if member.status not in ERASABLE_STATUSES:
            raise AtriumError(ErrorCode.MEMBER_INACTIVE, f"Member {member.id} is {member.status}.")
        by_kind = dict(
            (
                await conn.execute(
                    select(identity_table.c.kind, func.count())
                    .where(identity_table.c.member_id == member.id)
                    .group_by(identity_table.c.kind)
                    .order_by(identity_table.c.kind)
                )
            ).all()
        )
        await conn.execute(delete(identity_table).where(identity_table.c.member_id == member.id))
        await conn.execute(
            update(member_table).where(member_table.c.id == member.id).values(status=ERASED, erased_at=now, birth_date=None)
        )
        erased = sum(int(count) for count in by_kind.values())
        await write_audit(
            conn,
            actor=actor,
            action="erase_member",
            member_id=member.id,
            details={
                "identities_erased": erased,
                "identities_by_kind": {str(kind): int(count) for kind, count in by_kind.items()},
                "status_before": member.status,
                "points_balance": member.points_balance,
                "pending_balance": member.pending_balance,
            },
            reason=why,
            now=now,
        )
    return ErasureResult(member.id, erased, erased_now=True)
