"""Merging two member records of one person: everything moves to the survivor, in one transaction.

A person who enrolled twice (a phone at a till, an email in the app) has two records. An admin
merges them, with a mandatory reason; afterwards the merged-away record is an empty shell that
points at the survivor (``member.merged_into_id``) and is never written to again.

What moves, in one write transaction:

- **Points**, by one balanced posting of kind ``merge`` on the survivor: the merged member's
  ``member.wallet``, ``member.pending`` and ``member.held`` are debited and the survivor's credited
  by the same amounts. Nothing is issued or destroyed, so no format or group account moves. The
  posting's ``points`` is everything that moved (pending and held included, like an earn's) and
  its ``growth`` the growth value that moved; it is posted even when both are zero, so the
  survivor's history shows the merge.
- **Lots** (every one, spent or not, pending flags and dates kept): ``lot.member_id`` is
  reassigned, so the survivor spends them first-expiring-first with its own, and a later refund
  or cancellation that restores a lot restores it on the member that holds the points.
- **Holds** (``hold.member_id``), so a till can still capture or void a reservation.
- **Coupons, benefit uses and quota counters, campaign per-member usage**
  (:mod:`gateway.merge_carry`): coupons and uses move; counters keyed by member are summed, so
  a quota or a campaign's per-member limit counts what both records used (and when together
  they used more than one person may, the survivor has none left in that period).
- **Identities**: the merged member's phone, email and customer ids now find the survivor.
- **Growth value**, added to the survivor's. The survivor's tier becomes the highest of its own
  tier, the merged member's tier and the tier both records' activity over the window reaches
  together (:func:`gateway.tier_qualification.combined_standing`): a merge upgrades or keeps,
  never downgrades. Downgrades happen only at tier evaluation, not as a side effect of
  housekeeping. A change of tier is in the survivor's tier history (source ``merge``) and ends
  any grace it was in.
- **History** is not moved: postings and entries are append-only. A member's history reads the
  postings of every member merged into it (:mod:`gateway.ledger.history`), and so do its tier
  history (:func:`gateway.tier_history.tier_histories`), its standing and the cross-format
  check-in's formats used this month.

When one record owes points (a negative wallet under the ``allow_negative`` refund policy), the
merge posting repays the debt from the other record's lots, first-expiring-first, so that the
available lots hold exactly the combined balance (or nothing while it stays negative).

Resolution and the rules chosen:

- Both references already lead to one member (a retry, the same person named by an old id or
  by an identity that moved, or the other half of a concurrent A<-B / B<-A) -> nothing to do:
  the survivor is returned and nothing is written. A merged member's state never changes back,
  so this check needs no lock. Two literally equal references are ``INVALID_INPUT`` (a typo).
- The survivor named is itself merged away -> ``MEMBER_MERGED``, naming the member it lives on
  as. Merging into a shell is refused rather than silently redirected: the admin chose which
  record survives, and that choice no longer exists.
- The record to merge away was already merged into another member -> ``MEMBER_MERGED``.
- Either member erased -> ``MEMBER_ERASED``; frozen -> ``MEMBER_FROZEN`` (unfreeze first: a
  merge must not carry points into or out of an account under investigation unnoticed).

Both members are locked in a fixed order, the lower id first, so two merges of the same pair
cannot deadlock; the posting's idempotency key names the merged member, which can be merged
away at most once. Merge chains are kept one hop long: members previously merged into the
merged one are pointed at the new survivor, so an old id always resolves in one step.
The merge and its before/after balances are audited (action ``merge``) in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import check_reason, write_audit
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.lots import consume_lots, draw_lots
from gateway.ledger.postings import (
    MemberRef,
    insert_entries,
    insert_posting,
    request_hash,
)
from gateway.merge_carry import carry_member_state
from gateway.notices import notifying_write
from gateway.persistence.models import (
    GROUP_FORMAT,
    HELD,
    PENDING,
    WALLET,
    hold_table,
    identity_table,
    lot_table,
    member_table,
)
from gateway.plugin_api import TierChange, TierInfo
from gateway.tier_history import (
    TierChangeSource,
    change_reason,
    history_row,
    write_tier_changes,
)
from gateway.tier_qualification import combined_standing
from gateway.tiers import Ladder, Standing, current_ladder

MERGE_SCOPE = "merge"
MERGED = "merged"


@dataclass(frozen=True)
class MergeResult:
    """The survivor, and what the merge did; ``posting_id`` is ``None`` when there was nothing to do."""

    survivor_id: int
    merged_id: int
    posting_id: int | None = None

    @property
    def merged_now(self) -> bool:
        """Whether this call merged the records (``False``: they already were one)."""
        return self.posting_id is not None


@dataclass(frozen=True)
class _Locked:
    """A member row read under its lock, with every column a merge moves."""

    id: int
    status: str
    tier_code: str
    growth_value: int
    points_balance: int
    pending_balance: int
    held_balance: int
    merged_into_id: int | None

    @property
    def lives_on_as(self) -> int:
        return self.merged_into_id if self.merged_into_id is not None else self.id

    def state(self) -> dict[str, Any]:
        """What the audit log keeps of the member before or after the merge (no personal data)."""
        return {
            "status": self.status,
            "tier": self.tier_code,
            "points": self.points_balance,
            "pending": self.pending_balance,
            "held": self.held_balance,
            "growth": self.growth_value,
        }


_COLUMNS = (
    member_table.c.id,
    member_table.c.status,
    member_table.c.tier_code,
    member_table.c.growth_value,
    member_table.c.points_balance,
    member_table.c.pending_balance,
    member_table.c.held_balance,
    member_table.c.merged_into_id,
)


def _locked(row: Any) -> _Locked:
    return _Locked(**{column.name: row._mapping[column.name] for column in _COLUMNS})


async def merge_members(
    core: Core, survivor: MemberRef, merged: MemberRef, *, actor: str, reason: str, now: datetime
) -> MergeResult:
    """Merge the record ``merged`` into ``survivor`` (see the module docstring for every rule).

    :raises AtriumError: ``INVALID_INPUT`` (no reason, or the same reference twice),
        ``MEMBER_NOT_FOUND``, ``MEMBER_MERGED``, ``MEMBER_ERASED``, ``MEMBER_FROZEN``.
    """
    why = check_reason(reason)
    if survivor == merged:
        raise AtriumError(ErrorCode.INVALID_INPUT, "Name two different member records to merge.", "merged")
    now = now.astimezone(UTC)
    ladder = await current_ladder(core)
    async with notifying_write(core) as conn:
        keep_id, keep_final = await _resolve(conn, survivor, "survivor")
        gone_id, gone_final = await _resolve(conn, merged, "merged")
        if keep_final == gone_final:
            return MergeResult(survivor_id=keep_final, merged_id=gone_id)
        rows = {member_id: await _lock(conn, member_id) for member_id in sorted({keep_id, gone_id})}
        keep, gone = rows[keep_id], rows[gone_id]
        if keep.lives_on_as == gone.lives_on_as:
            return MergeResult(survivor_id=keep.lives_on_as, merged_id=gone.id)
        _check_mergeable(keep, "survivor")
        _check_mergeable(gone, "merged")
        tier_before = ladder.get(keep.tier_code)
        standing = await combined_standing(conn, [keep.id, gone.id], since=ladder.policy.window_start(now, core.settings.zone))
        tier_after = _tier_after(ladder, keep, gone, standing)
        posting_id, moved = await _move(conn, keep, gone, tier_after=tier_after.code, now=now)
        if tier_after.code != tier_before.code:
            await _record_tier_change(conn, ladder, keep.id, tier_before, tier_after, standing, posting_id, actor=actor, now=now)
        after = _Locked(
            id=keep.id,
            status=keep.status,
            tier_code=tier_after.code,
            growth_value=keep.growth_value + gone.growth_value,
            points_balance=keep.points_balance + gone.points_balance,
            pending_balance=keep.pending_balance + gone.pending_balance,
            held_balance=keep.held_balance + gone.held_balance,
            merged_into_id=None,
        )
        emptied = _Locked(gone.id, MERGED, gone.tier_code, 0, 0, 0, 0, keep.id)
        await write_audit(
            conn,
            actor=actor,
            action="merge",
            member_id=keep.id,
            details={
                "survivor_member_id": keep.id,
                "merged_member_id": gone.id,
                "posting_id": posting_id,
                "moved": moved,
                "before": {"survivor": keep.state(), "merged": gone.state()},
                "after": {"survivor": after.state(), "merged": emptied.state()},
            },
            reason=why,
            now=now,
        )
    if tier_after.code != tier_before.code:
        core.host.notify_tier_change(
            TierChange(keep.id, tier_before, tier_after, f"Merged member record {gone.id} in")
        )
    return MergeResult(survivor_id=keep.id, merged_id=gone.id, posting_id=posting_id)


async def _resolve(conn: AsyncConnection, ref: MemberRef, field: str) -> tuple[int, int]:
    """``(id, lives_on_as)`` of the member ``ref`` names, without locking; ``MEMBER_NOT_FOUND`` otherwise.

    An id names that very record, even a merged-away one; an identity names its current owner.
    """
    query = select(member_table.c.id, func.coalesce(member_table.c.merged_into_id, member_table.c.id))
    if ref.member_id is not None:
        query = query.where(member_table.c.id == ref.member_id)
    else:
        assert ref.identity is not None
        query = query.join(identity_table, identity_table.c.member_id == member_table.c.id).where(
            (identity_table.c.kind == ref.identity.kind.value)
            & (identity_table.c.namespace == ref.identity.namespace)
            & (identity_table.c.value == ref.identity.value)
        )
    row = (await conn.execute(query)).first()
    if row is None:
        where = f"id {ref.member_id}" if ref.member_id is not None else ref.identity.describe()  # type: ignore[union-attr]
        raise AtriumError(ErrorCode.MEMBER_NOT_FOUND, f"No member has {where}.", field)
    return int(row[0]), int(row[1])


async def _lock(conn: AsyncConnection, member_id: int) -> _Locked:
    """Read and lock one member row (callers lock in ascending id order)."""
    query = select(*_COLUMNS).where(member_table.c.id == member_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return _locked((await conn.execute(query)).one())


def _check_mergeable(member: _Locked, field: str) -> None:
    if member.merged_into_id is not None:
        if field == "survivor":
            message = f"Member {member.id} was merged into member {member.merged_into_id}; merge into that member instead."
        else:
            message = f"Member {member.id} was already merged into member {member.merged_into_id}."
        raise AtriumError(ErrorCode.MEMBER_MERGED, message, field)
    if member.status == "erased":
        raise AtriumError(ErrorCode.MEMBER_ERASED, f"Member {member.id} was erased; it cannot be merged.", field)
    if member.status == "frozen":
        raise AtriumError(
            ErrorCode.MEMBER_FROZEN, f"Member {member.id} is frozen; unfreeze it before merging.", field
        )
    if member.status != "active":
        raise AtriumError(ErrorCode.MEMBER_INACTIVE, f"Member {member.id} is {member.status}.", field)


def _tier_after(ladder: Ladder, keep: _Locked, gone: _Locked, standing: Standing) -> TierInfo:
    """The highest of both tiers and the tier both records' standing reaches together: never a downgrade."""
    reached = ladder.reached(standing)
    return max((ladder.get(keep.tier_code), ladder.get(gone.tier_code), reached), key=lambda tier: tier.rank)


async def _record_tier_change(
    conn: AsyncConnection,
    ladder: Ladder,
    member_id: int,
    before: TierInfo,
    after: TierInfo,
    standing: Standing,
    posting_id: int,
    *,
    actor: str,
    now: datetime,
) -> None:
    """The survivor's new tier in its history (source ``merge``); grace ends with the upgrade."""
    await conn.execute(
        update(member_table).where(member_table.c.id == member_id).values(tier_grace_until=None, tier_decided_at=now)
    )
    reason = change_reason(before, after, standing, ladder.policy.window_months) + " (member records merged)"
    row = history_row(
        member_id, before, after, source=TierChangeSource.MERGE, reason=reason, standing=standing, at=now, posting_id=posting_id, actor=actor
    )
    await write_tier_changes(conn, [row])


async def _move(
    conn: AsyncConnection, keep: _Locked, gone: _Locked, *, tier_after: str, now: datetime
) -> tuple[int, dict[str, int]]:
    """Post the merge and move lots, holds, identities, balances, growth and the per-member state of
    :mod:`gateway.merge_carry`; returns the posting and counts."""
    points, pending, held, growth = gone.points_balance, gone.pending_balance, gone.held_balance, gone.growth_value
    combined = keep.points_balance + points
    debt_repaid = max(keep.points_balance, 0) + max(points, 0) - max(combined, 0)
    values = {
        "member_id": keep.id,
        "kind": "merge",
        "format": GROUP_FORMAT,
        "idempotency_scope": MERGE_SCOPE,
        "idempotency_key": f"member:{gone.id}",
        "request_hash": request_hash({"survivor": keep.id, "merged": gone.id}),
        "points": points + pending + held,
        "growth": growth,
        "balance_after": combined,
        "tier_before": keep.tier_code,
        "tier_after": tier_after,
        "reason": _summary(gone.id, points=points, pending=pending, held=held, growth=growth),
        "lines": _lines(gone.id, points=points, pending=pending, held=held, growth=growth),
        "details": {"mergedMember": gone.id, "points": points, "pending": pending, "held": held, "growth": growth},
        "occurred_at": now,
        "created_at": now,
    }
    posting_id = await insert_posting(conn, values)
    await insert_entries(
        conn,
        posting_id,
        [
            (WALLET, gone.id, -points),
            (WALLET, keep.id, points),
            (PENDING, gone.id, -pending),
            (PENDING, keep.id, pending),
            (HELD, gone.id, -held),
            (HELD, keep.id, held),
        ],
    )
    moved = {"points": points, "pending": pending, "held": held, "growth": growth}
    for name, table in (("lots", lot_table), ("holds", hold_table), ("identities", identity_table)):
        result = await conn.execute(update(table).where(table.c.member_id == gone.id).values(member_id=keep.id))
        moved[name] = int(result.rowcount)
    moved.update(await carry_member_state(conn, survivor_id=keep.id, merged_id=gone.id))
    if debt_repaid:
        await consume_lots(conn, posting_id, await draw_lots(conn, keep.id, debt_repaid))
    moved["debt_repaid"] = debt_repaid
    gone_row = member_table.alias("gone")
    await conn.execute(
        update(member_table)
        .where((member_table.c.id == keep.id) & member_table.c.birth_date.is_(None))
        .values(birth_date=select(gone_row.c.birth_date).where(gone_row.c.id == gone.id).scalar_subquery())
    )
    await conn.execute(
        update(member_table)
        .where(member_table.c.id == gone.id)
        .values(
            birth_date=None,  # personal data lives on the survivor only, so erasing it erases all
            status=MERGED,
            merged_into_id=keep.id,
            points_balance=0,
            pending_balance=0,
            held_balance=0,
            growth_value=0,
        )
    )
    await conn.execute(
        update(member_table).where(member_table.c.merged_into_id == gone.id).values(merged_into_id=keep.id)
    )
    await conn.execute(
        update(member_table)
        .where(member_table.c.id == keep.id)
        .values(
            points_balance=member_table.c.points_balance + points,
            pending_balance=member_table.c.pending_balance + pending,
            held_balance=member_table.c.held_balance + held,
            growth_value=member_table.c.growth_value + growth,
            tier_code=tier_after,
        )
    )
    return posting_id, moved


def _summary(merged_id: int, *, points: int, pending: int, held: int, growth: int) -> str:
    parts = [f"{points:+} pts"]
    parts += [f"{pending} pending"] if pending else []
    parts += [f"{held} held"] if held else []
    parts += [f"{growth} growth value"] if growth else []
    return f"Member record {merged_id} merged into this one: " + ", ".join(parts)


def _lines(merged_id: int, *, points: int, pending: int, held: int, growth: int) -> list[dict[str, Any]]:
    lines = [{"rule": "merge.wallet", "points": points, "growth": growth, "reason": f"Points and growth value of member record {merged_id}"}]
    if pending:
        lines.append({"rule": "merge.pending", "points": pending, "growth": 0, "reason": f"Pending points of member record {merged_id}"})
    if held:
        lines.append({"rule": "merge.held", "points": held, "growth": 0, "reason": f"Points on hold for member record {merged_id}"})
    return lines
