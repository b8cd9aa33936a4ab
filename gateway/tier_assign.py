"""An admin puts a member in a tier by hand (a VIP, a correction), with a mandatory reason.

The member moves at once, any grace ends, the change is in the member's tier history (source
``admin``, with the admin's subject) and in the audit log (action ``tier.assign``), in one
transaction; plugins hear of it after the commit. The ladder's rules apply again from then on:
the next evaluation keeps the member in the tier only if it keeps its retention threshold.
Assigning the tier a member already has writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from gateway.audit import check_reason, write_audit
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.postings import MemberRef, lock_member
from gateway.persistence.models import member_table
from gateway.plugin_api import TierChange
from gateway.tier_history import TierChangeSource, history_row, write_tier_changes
from gateway.tier_qualification import standings
from gateway.tiers import Standing, current_ladder

ASSIGNABLE_STATUSES = ("active", "frozen")


async def assign_tier(core: Core, ref: MemberRef, tier_code: str, *, actor: str, reason: str, now: datetime) -> int:
    """Put the member ``ref`` names in tier ``tier_code``; returns the member id.

    :raises AtriumError: ``INVALID_INPUT`` (no reason, or no such tier: field ``tier``),
        ``MEMBER_NOT_FOUND``, ``MEMBER_ERASED`` / ``MEMBER_INACTIVE``.
    """
    why = check_reason(reason)
    now = now.astimezone(UTC)
    ladder = await current_ladder(core)
    if tier_code not in ladder:
        known = ", ".join(tier.code for tier in ladder.tiers)
        raise AtriumError(ErrorCode.INVALID_INPUT, f"There is no tier {tier_code!r}; the ladder has {known}.", "tier")
    target = ladder.get(tier_code)
    async with core.db.write() as conn:
        member = await lock_member(conn, ref)
        if member.status not in ASSIGNABLE_STATUSES:
            code = ErrorCode.MEMBER_ERASED if member.status == "erased" else ErrorCode.MEMBER_INACTIVE
            raise AtriumError(code, f"Member {member.id} is {member.status}.")
        previous = ladder.get(member.tier_code)
        if previous.code == target.code:
            return member.id
        since = ladder.policy.window_start(now, core.settings.zone)
        standing = (await standings(conn, member_ids=[member.id], since=[since])).get(member.id, (Standing(),))[0]
        await conn.execute(
            update(member_table)
            .where(member_table.c.id == member.id)
            .values(tier_code=target.code, tier_grace_until=None, tier_decided_at=now)
        )
        row = history_row(
            member.id, previous, target, source=TierChangeSource.ADMIN, reason=why, standing=standing, at=now, actor=actor
        )
        await write_tier_changes(conn, [row])
        await write_audit(
            conn,
            actor=actor,
            action="tier.assign",
            member_id=member.id,
            details={"from": previous.code, "to": target.code, "growth": standing.growth, "formats": standing.formats},
            reason=why,
            now=now,
        )
    core.host.notify_tier_change(TierChange(member.id, previous, target, why))
    return member.id
