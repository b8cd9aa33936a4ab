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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, literal, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.actor import posting_actor
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


def _key_lookup() -> Select[Any]:
    """One row for a key (bound as ``scope`` and ``key``): the posting that holds it and the failure that holds it, either NULL.

    Both tables hang off a one-row anchor by outer joins on their unique keys, so a fresh key,
    the common case, costs one statement rather than one per table. Built once (:data:`_KEY_LOOKUP`).
    """
    scope = bindparam("scope", type_=posting_table.c.idempotency_scope.type)
    key = bindparam("key", type_=posting_table.c.idempotency_key.type)
    anchor = select(literal(1).label("one")).subquery("anchor")
    holds_posting = (posting_table.c.idempotency_scope == scope) & (posting_table.c.idempotency_key == key)
    holds_failure = (idempotency_failure_table.c.idempotency_scope == scope) & (
        idempotency_failure_table.c.idempotency_key == key
    )
    return select(*POSTING_COLUMNS, posting_table.c.request_hash, *_FAILURE_COLUMNS).select_from(
        anchor.outerjoin(posting_table, holds_posting).outerjoin(idempotency_failure_table, holds_failure)
    )


_KEY_LOOKUP = _key_lookup()


def _key_reused(key: str) -> AtriumError:
    return AtriumError(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        f"Idempotency key {key!r} was already used for a different request; use a new key.",
        "idempotencyKey",
    )


@dataclass(frozen=True)
class KeyRead:
    """A key's holders as :func:`lock_member_and_key` read them, in the statement that locked the member.

    ``found`` has the columns of :func:`_key_lookup`'s row (posting columns, ``request_hash``,
    ``failure_*``), NULL where nothing holds the key.
    """

    found: Mapping[str, Any]


async def find_replay(
    conn: AsyncConnection, scope: str, key: str, fingerprint: str, member: MemberRef | int, *, read: KeyRead | None = None
) -> PostingResult | None:
    """The posting already made with this key, or ``None`` for a fresh key.

    A key that ended in a business failure raises that failure again (same code, field and
    message), whatever happened since: a failed key stays failed. The same key with a different
    payload, or for another member, raises ``IDEMPOTENCY_KEY_REUSED``. Pass the member id once the
    member is locked; a :class:`MemberRef` is resolved instead, since a retry may name the member
    differently (phone first, member id later). ``read``: the key as :func:`lock_member_and_key`
    read it under the lock, which saves the lookup.
    """
    found = read.found if read is not None else (await conn.execute(_KEY_LOOKUP, {"scope": scope, "key": key})).one()._mapping
    if found["id"] is not None:
        if found["request_hash"] != fingerprint or not await _names_member(conn, member, found["member_id"]):
            raise _key_reused(key)
        return PostingResult(**{column.name: found[column.name] for column in POSTING_COLUMNS}, replayed=True)
    if found["failure_code"] is not None:
        same_member = found["failure_member_id"] is None or await _names_member(conn, member, found["failure_member_id"])
        if found["failure_hash"] != fingerprint or not same_member:
            raise _key_reused(key)
        raise AtriumError(ErrorCode(found["failure_code"]), found["failure_message"], found["failure_field"])
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
    ``member_id`` may be a :func:`~sqlalchemy.bindparam`.
    """
    return (
        select(func.coalesce(_ASKED.c.merged_into_id, _ASKED.c.id)).where(_ASKED.c.id == member_id).scalar_subquery()
    )


_ASKED = member_table.alias("asked")
"""The member row a :func:`survivor_of` reads, aliased once (an alias's column collection is costly to build)."""


async def _same_member(conn: AsyncConnection, one: int, other: int) -> bool:
    """Whether two member ids are one member now: equal, or one merged into the other, or both into a third."""
    if one == other:
        return True
    lives_on_as = func.coalesce(member_table.c.merged_into_id, member_table.c.id)
    found = (await conn.execute(select(lives_on_as).where(member_table.c.id.in_((one, other))))).scalars().all()
    return len(found) == 2 and found[0] == found[1]


MAX_MERGE_HOPS = 8
"""A merge flattens chains, so a lock follows at most one merge that committed while it waited."""


def _lock_statements(*, for_update: bool) -> tuple[Select[Any], Select[Any], Select[Any]]:
    """The statements of :func:`lock_member`, built once per dialect family, values bound per call:
    by member id (``member_id``), by identity (``kind``, ``namespace``, ``value``), and following a merge (``member_id``)."""
    member_id = bindparam("member_id", type_=member_table.c.id.type)
    base = member_select().add_columns(member_table.c.merged_into_id)
    by_id = base.where(member_table.c.id == survivor_of(member_id))
    by_identity = base.join(identity_table, identity_table.c.member_id == member_table.c.id).where(
        (identity_table.c.kind == bindparam("kind", type_=identity_table.c.kind.type))
        & (identity_table.c.namespace == bindparam("namespace", type_=identity_table.c.namespace.type))
        & (identity_table.c.value == bindparam("value", type_=identity_table.c.value.type))
    )
    follow = base.where(member_table.c.id == member_id)
    if for_update:
        return by_id.with_for_update(of=member_table), by_identity.with_for_update(of=member_table), follow.with_for_update()
    return by_id, by_identity, follow


_LOCKS = {False: _lock_statements(for_update=False), True: _lock_statements(for_update=True)}
""":func:`lock_member`'s statements without and with ``FOR UPDATE`` (PostgreSQL)."""


async def lock_member(conn: AsyncConnection, ref: MemberRef) -> MemberRow:
    """Read and lock the member for the rest of the transaction; ``MEMBER_NOT_FOUND`` otherwise.

    Any status is returned: replays are answered whatever the member's status, and admin work
    (unfreezing, adjusting, expiring) applies to frozen members; see :func:`require_active`.

    A merged-away member is never returned nor written to: its id resolves to the survivor in the
    same statement, and a merge that commits while this waits for the lock is followed to the
    survivor, which is then locked too (see ``gateway.merge``).
    """
    by_id, by_identity, follow = _LOCKS[conn.dialect.name == "postgresql"]
    if ref.member_id is not None:
        row = (await conn.execute(by_id, {"member_id": ref.member_id})).first()
    else:
        assert ref.identity is not None
        identity = {"kind": ref.identity.kind.value, "namespace": ref.identity.namespace, "value": ref.identity.value}
        row = (await conn.execute(by_identity, identity)).first()
    if row is None:
        where = f"id {ref.member_id}" if ref.member_id is not None else ref.identity.describe()  # type: ignore[union-attr]
        raise AtriumError(ErrorCode.MEMBER_NOT_FOUND, f"No member has {where}.", "member")
    for _ in range(MAX_MERGE_HOPS):
        if row.merged_into_id is None:
            return member_from_row(row)
        row = (await conn.execute(follow, {"member_id": row.merged_into_id})).one()
    raise RuntimeError(f"member {row.id}'s merge chain is longer than {MAX_MERGE_HOPS}")


def _lock_with_key(by_id: Select[Any], by_identity: Select[Any]) -> tuple[Select[Any], Select[Any]]:
    """``by_id`` and ``by_identity`` also reading the key's holders (:func:`_key_lookup`, one row), labelled ``held_*``."""
    held = _KEY_LOOKUP.subquery("held")
    columns = [column.label(f"held_{column.name}") for column in held.c]
    return (
        by_id.add_columns(*columns).join(held, true()),
        by_identity.add_columns(*columns).join(held, true()),
    )


_LOCKS_WITH_KEY = _lock_with_key(*_LOCKS[False][:2])
""":func:`lock_member_and_key`'s statements on SQLite (member id, identity)."""


async def lock_member_and_key(conn: AsyncConnection, ref: MemberRef, scope: str, key: str) -> tuple[MemberRow, KeyRead | None]:
    """:func:`lock_member`, and on SQLite the holders of the idempotency key read in the same statement.

    Pass the :class:`KeyRead` to :func:`find_replay`, which then needs no statement of its own. On
    SQLite the write transaction began with ``BEGIN IMMEDIATE``, so no other writer can commit
    between the lock and the read: the statement sees every committed holder of the key. On
    PostgreSQL it could not: a statement reads a snapshot taken when it starts, before it waits
    for the lock, so a twin request that held the lock and committed meanwhile would be missed
    (its posting would still be caught by the unique key, but a failure it remembered would not).
    There the key is read by :func:`find_replay` after the lock (``None`` is returned).
    """
    if conn.dialect.name == "postgresql":
        return await lock_member(conn, ref), None
    by_id, by_identity = _LOCKS_WITH_KEY
    params: dict[str, Any] = {"scope": scope, "key": key}
    if ref.member_id is not None:
        row = (await conn.execute(by_id, {**params, "member_id": ref.member_id})).first()
    else:
        assert ref.identity is not None
        identity = {"kind": ref.identity.kind.value, "namespace": ref.identity.namespace, "value": ref.identity.value}
        row = (await conn.execute(by_identity, {**params, **identity})).first()
    if row is None or row.merged_into_id is not None:
        return await lock_member(conn, ref), None  # no such member (the error), or a merge chain: the plain way
    mapping = row._mapping
    read = KeyRead({name[len("held_"):]: value for name, value in mapping.items() if name.startswith("held_")})
    return member_from_row(row), read


def require_active(member: MemberRow) -> MemberRow:
    """``member`` if it may earn and redeem; ``MEMBER_FROZEN``, ``MEMBER_ERASED`` or ``MEMBER_INACTIVE`` otherwise."""
    if member.status == "frozen":
        raise AtriumError(
            ErrorCode.MEMBER_FROZEN,
            f"Member {member.id} is frozen: it can neither earn nor redeem until an admin unfreezes it.",
        )
    if member.status == "erased":
        raise AtriumError(
            ErrorCode.MEMBER_ERASED,
            f"Member {member.id} was erased on request: it can neither earn nor redeem.",
        )
    if member.status != "active":
        raise AtriumError(ErrorCode.MEMBER_INACTIVE, f"Member {member.id} is {member.status}.")
    return member


_INSERT_POSTING = insert(posting_table).returning(posting_table.c.id)
_INSERT_ENTRIES = insert(entry_table)
"""Built once: the columns come with each call's parameters."""


async def insert_posting(conn: AsyncConnection, values: dict[str, Any]) -> int:
    """Insert the posting row (claiming its idempotency key) and return its id.

    The plugins are told of it once the transaction commits: call it inside
    :func:`gateway.notices.notifying_write`. The row records who wrote it (``actor``, see
    :mod:`gateway.actor`): the caller of the running request or CLI job, ``system`` for the gateway's own postings.
    """
    row = {**values, "actor": posting_actor(values)}
    posting_id = int(await conn.scalar(_INSERT_POSTING, row))
    note_posting(conn, posting_id, values)
    return posting_id


async def insert_entries(conn: AsyncConnection, posting_id: int, legs: list[tuple[str, int | None, int]]) -> None:
    """Insert a posting's entries ``(account, member_id, amount)``; they must sum to zero."""
    if sum(amount for _, _, amount in legs) != 0:
        raise AssertionError(f"unbalanced posting {posting_id}: {legs}")
    legs = [leg for leg in legs if leg[2] != 0]
    if legs:
        await conn.execute(
            _INSERT_ENTRIES,
            [{"posting_id": posting_id, "account": a, "member_id": m, "amount": amount} for a, m, amount in legs],
        )


async def read_posting(conn: AsyncConnection, posting_id: int) -> PostingResult:
    """The stored result of posting ``posting_id``."""
    row = (await conn.execute(select(*POSTING_COLUMNS).where(posting_table.c.id == posting_id))).one()
    return posting_from_row(row)
