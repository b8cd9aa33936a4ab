"""What every posting shares: member references, locking, idempotency and the stored result.

A posting is written in one transaction that first locks the member (``SELECT ... FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so postings of one member never interleave. Under
that lock it looks the key up, among postings and remembered failures alike (a key is held by one
or the other, never both), and claims it by a unique constraint in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import AtriumError, ErrorCode
from gateway.identity import IdentityKey
from gateway.members import MemberRow, member_from_row, member_select
from gateway.notices import note_posting
from gateway.persistence.database import Database
from gateway.persistence.models import (
    entry_table,
    idempotency_failure_table,
    identity_table,
    member_table,
    posting_table,
)

_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")


@dataclass(frozen=True)
class MemberRef:
    """Who a posting is for: a member id, or an identity that resolves to one."""

    member_id: int | None = None
    identity: IdentityKey | None = None


@dataclass(frozen=True)
class PostingResult:
    """A committed posting as the client sees it; ``replayed`` is true for an idempotent replay."""

    id: int
    member_id: int
    kind: str
    format: str
    points: int
    growth: int
    balance_after: int
    tier_before: str
    tier_after: str
    reason: str
    lines: list[dict[str, Any]]
    details: dict[str, Any]
    occurred_at: datetime
    created_at: datetime
    idempotency_key: str
    activity_kind: str | None = None
    reward_code: str | None = None
    quantity: int | None = None
    amount_minor: int | None = None
    currency: str | None = None
    store: str | None = None
    replayed: bool = field(default=False, compare=False)


POSTING_COLUMNS = tuple(
    posting_table.c[name]
    for name in (
        "id member_id kind format points growth balance_after tier_before tier_after reason lines details "
        "occurred_at created_at idempotency_key activity_kind reward_code quantity amount_minor currency store"
    ).split()
)


def posting_from_row(row: Any, *, replayed: bool = False) -> PostingResult:
    """Build a :class:`PostingResult` from a row with :data:`POSTING_COLUMNS`."""
    mapping = row._mapping
    return PostingResult(**{column.name: mapping[column.name] for column in POSTING_COLUMNS}, replayed=replayed)


_STORED_FIELDS = frozenset(PostingResult.__dataclass_fields__) - {"id", "replayed"}


def result_from_values(posting_id: int, values: dict[str, Any]) -> PostingResult:
    """The result of a posting just inserted with ``values``, without reading it back."""
    return PostingResult(id=posting_id, **{name: value for name, value in values.items() if name in _STORED_FIELDS})


def check_idempotency_key(key: str) -> str:
    """Refuse empty, over-long or non-printable keys: ``INVALID_IDEMPOTENCY_KEY``."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise AtriumError(
            ErrorCode.INVALID_IDEMPOTENCY_KEY,
            "The idempotency key must be 1 to 128 printable ASCII characters without spaces (e.g. the receipt id).",
            "idempotencyKey",
        )
    return key


def request_hash(payload: dict[str, Any]) -> str:
    """A stable fingerprint of a request, to tell a replay from a reused key."""
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


_FAILURE_COLUMNS = (
    idempotency_failure_table.c.request_hash.label("failure_hash"),
    idempotency_failure_table.c.member_id.label("failure_member_id"),
    idempotency_failure_table.c.code.label("failure_code"),
    idempotency_failure_table.c.field.label("failure_field"),
    idempotency_failure_table.c.message.label("failure_message"),
)


def _key_lookup(scope: str, key: str) -> Select[Any]:
    """One row for a key: the posting that holds it and the failure that holds it, either NULL.

    Both tables hang off a one-row anchor by outer joins on their unique keys, so a fresh key,
    the common case, costs one statement rather than one per table.
    """
    anchor = select(literal(1).label("one")).subquery("anchor")
    holds_posting = (posting_table.c.idempotency_scope == scope) & (posting_table.c.idempotency_key == key)
    holds_failure = (idempotency_failure_table.c.idempotency_scope == scope) & (
        idempotency_failure_table.c.idempotency_key == key
    )
    return select(*POSTING_COLUMNS, posting_table.c.request_hash, *_FAILURE_COLUMNS).select_from(
        anchor.outerjoin(posting_table, holds_posting).outerjoin(idempotency_failure_table, holds_failure)
    )


def _key_reused(key: str) -> AtriumError:
    return AtriumError(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        f"Idempotency key {key!r} was already used for a different request; use a new key.",
        "idempotencyKey",
    )


async def find_replay(
    conn: AsyncConnection, scope: str, key: str, fingerprint: str, member: MemberRef | int
) -> PostingResult | None:
    """The posting already made with this key, or ``None`` for a fresh key.

    A key that ended in a business failure raises that failure again (same code, field and
    message), whatever happened since: a failed key stays failed. The same key with a different
    payload, or for another member, raises ``IDEMPOTENCY_KEY_REUSED``. Pass the member id once the
    member is locked; a :class:`MemberRef` is resolved instead, since a retry may name the member
    differently (phone first, member id later).
    """
    row = (await conn.execute(_key_lookup(scope, key))).one()
    if row.id is not None:
        if row.request_hash != fingerprint or not await _names_member(conn, member, row.member_id):
            raise _key_reused(key)
        return posting_from_row(row, replayed=True)
    if row.failure_code is not None:
        same_member = row.failure_member_id is None or await _names_member(conn, member, row.failure_member_id)
        if row.failure_hash != fingerprint or not same_member:
            raise _key_reused(key)
        raise AtriumError(ErrorCode(row.failure_code), row.failure_message, row.failure_field)
    return None


async def replay_after_conflict(
    db: Database, conflict: IntegrityError, scope: str, key: str, fingerprint: str, member: MemberRef | int
) -> PostingResult:
    """The posting a concurrent request with the same key committed first; else ``conflict`` again.

    Every keyed write catches the unique-key violation of a racing twin this way, outside its own
    (rolled back) transaction.
    """
    async with db.read() as conn:
        replay = await find_replay(conn, scope, key, fingerprint, member)
    if replay is None:
        raise conflict
    return replay


async def _names_member(conn: AsyncConnection, ref: MemberRef | int, member_id: int) -> bool:
    """Whether ``ref`` names ``member_id``, counting a merge: a retry after a merge may name the
    merged-away id for a posting of the survivor, or the reverse. Costs a query only when the ids differ."""
    if isinstance(ref, int):
        return await _same_member(conn, ref, member_id)
    if ref.member_id is not None:
        return await _same_member(conn, ref.member_id, member_id)
    assert ref.identity is not None
    owner = await conn.scalar(
        select(identity_table.c.member_id).where(
            (identity_table.c.kind == ref.identity.kind.value)
            & (identity_table.c.namespace == ref.identity.namespace)
            & (identity_table.c.value == ref.identity.value)
        )
    )
    return owner is not None and await _same_member(conn, int(owner), member_id)


def survivor_of(member_id: int) -> Any:
    """SQL for the member ``member_id`` lives on as: itself, or the member it was merged into.

    A merge points every member merged into the merged one at the new survivor too, so one hop
    reaches the end of the chain; :func:`lock_member` still follows a merge that commits while it waits.
    """
    asked = member_table.alias("asked")
    return (
        select(func.coalesce(asked.c.merged_into_id, asked.c.id)).where(asked.c.id == member_id).scalar_subquery()
    )


async def _same_member(conn: AsyncConnection, one: int, other: int) -> bool:
    """Whether two member ids are one member now: equal, or one merged into the other, or both into a third."""
    if one == other:
        return True
    lives_on_as = func.coalesce(member_table.c.merged_into_id, member_table.c.id)
    found = (await conn.execute(select(lives_on_as).where(member_table.c.id.in_((one, other))))).scalars().all()
    return len(found) == 2 and found[0] == found[1]


MAX_MERGE_HOPS = 8
"""A merge flattens chains, so a lock follows at most one merge that committed while it waited."""


async def lock_member(conn: AsyncConnection, ref: MemberRef) -> MemberRow:
    """Read and lock the member for the rest of the transaction; ``MEMBER_NOT_FOUND`` otherwise.

    Any status is returned: replays are answered whatever the member's status, and admin work
    (unfreezing, adjusting, expiring) applies to frozen members; see :func:`require_active`.

    A merged-away member is never returned nor written to: its id resolves to the survivor in the
    same statement, and a merge that commits while this waits for the lock is followed to the
    survivor, which is then locked too (see ``gateway.merge``).
    """
    query = member_select().add_columns(member_table.c.merged_into_id)
    if ref.member_id is not None:
        query = query.where(member_table.c.id == survivor_of(ref.member_id))
    else:
        assert ref.identity is not None
        query = query.join(identity_table, identity_table.c.member_id == member_table.c.id).where(
            (identity_table.c.kind == ref.identity.kind.value)
            & (identity_table.c.namespace == ref.identity.namespace)
            & (identity_table.c.value == ref.identity.value)
        )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=member_table)
    row = (await conn.execute(query)).first()
    if row is None:
        where = f"id {ref.member_id}" if ref.member_id is not None else ref.identity.describe()  # type: ignore[union-attr]
        raise AtriumError(ErrorCode.MEMBER_NOT_FOUND, f"No member has {where}.", "member")
    for _ in range(MAX_MERGE_HOPS):
        if row.merged_into_id is None:
            return member_from_row(row)
        follow = member_select().add_columns(member_table.c.merged_into_id).where(member_table.c.id == row.merged_into_id)
        if conn.dialect.name == "postgresql":
            follow = follow.with_for_update()
        row = (await conn.execute(follow)).one()
    raise RuntimeError(f"member {row.id}'s merge chain is longer than {MAX_MERGE_HOPS}")


def require_active(member: MemberRow) -> MemberRow:
    """``member`` if it may earn and redeem; ``MEMBER_FROZEN``, ``MEMBER_ERASED`` or ``MEMBER_INACTIVE`` otherwise."""
    if member.status == "frozen":
        raise AtriumError(
            ErrorCode.MEMBER_FROZEN,
            f"Member {member.id} is frozen: it can neither earn nor redeem until an admin unfreezes it.",
            "member",
        )
    if member.status == "erased":
        raise AtriumError(
            ErrorCode.MEMBER_ERASED,
            f"Member {member.id} was erased on request: it can neither earn nor redeem.",
            "member",
        )
    if member.status != "active":
        raise AtriumError(ErrorCode.MEMBER_INACTIVE, f"Member {member.id} is {member.status}.", "member")
    return member


async def insert_posting(conn: AsyncConnection, values: dict[str, Any]) -> int:
    """Insert the posting row (claiming its idempotency key) and return its id.

    The plugins are told of it once the transaction commits: call it inside
    :func:`gateway.notices.notifying_write`.
    """
    posting_id = int(await conn.scalar(insert(posting_table).values(**values).returning(posting_table.c.id)))
    note_posting(conn, posting_id, values)
    return posting_id


async def insert_entries(conn: AsyncConnection, posting_id: int, legs: list[tuple[str, int | None, int]]) -> None:
    """Insert a posting's entries ``(account, member_id, amount)``; they must sum to zero."""
    if sum(amount for _, _, amount in legs) != 0:
        raise AssertionError(f"unbalanced posting {posting_id}: {legs}")
    legs = [leg for leg in legs if leg[2] != 0]
    if legs:
        await conn.execute(
            insert(entry_table),
            [{"posting_id": posting_id, "account": a, "member_id": m, "amount": amount} for a, m, amount in legs],
        )


async def read_posting(conn: AsyncConnection, posting_id: int) -> PostingResult:
    """The stored result of posting ``posting_id``."""
    row = (await conn.execute(select(*POSTING_COLUMNS).where(posting_table.c.id == posting_id))).one()
    return posting_from_row(row)
