"""Failure stays failure: a keyed write refused for a business reason keeps its key failed.

After the key was accepted and the member locked, a refusal such as ``INSUFFICIENT_POINTS`` is
remembered in ``idempotency_failure`` in a short transaction of its own, after the write rolled
back. A retry with the same key and payload then gets the same error (TigerBeetle's "a failed
transfer id stays failed", Stripe's idempotent errors) even after the member earned enough: the
client must decide, with a new key, to try again. Input errors found before the transaction (bad
amounts, unknown rewards, bad keys, unknown members) are not remembered: bad input writes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from gateway.actor import current_actor
from gateway.errors import AtriumError, ErrorCode
from gateway.persistence.database import Database
from gateway.persistence.models import (
    idempotency_failure_table,
    member_table,
    posting_table,
)

BUSINESS_FAILURES: frozenset[ErrorCode] = frozenset(
    {
        ErrorCode.INSUFFICIENT_POINTS,
        ErrorCode.TIER_TOO_LOW,
        ErrorCode.REDEMPTION_REJECTED,
        ErrorCode.MEMBER_INACTIVE,
        ErrorCode.MEMBER_FROZEN,
    }
)
"""Refusals that depend on the member's state, not on the request: these keep a key failed.

``PLUGIN_FAILED`` is not among them: a plugin's crash is an incident, and a retry may succeed.
"""


@dataclass
class Attempt:
    """One keyed write in progress; set ``member_id`` once the key is fresh and the member locked."""

    member_id: int | None = None


@asynccontextmanager
async def failure_stays_failure(
    db: Database, *, scope: str, key: str, fingerprint: str, now: datetime
) -> AsyncIterator[Attempt]:
    """Remember a business refusal raised inside the block, once ``Attempt.member_id`` is set.

    Wrap the write transaction with it, so the failure is recorded after the rollback; the error
    is re-raised unchanged.
    """
    attempt = Attempt()
    try:
        yield attempt
    except AtriumError as error:
        if attempt.member_id is not None and error.code in BUSINESS_FAILURES:
            await record_failure(
                db, scope=scope, key=key, fingerprint=fingerprint, member_id=attempt.member_id, error=error, now=now
            )
        raise


async def record_failure(
    db: Database,
    *,
    scope: str,
    key: str,
    fingerprint: str,
    member_id: int,
    error: AtriumError,
    now: datetime,
) -> bool:
    """Remember that ``key`` failed with ``error``; ``False`` when another request got there first.

    Runs under the member's lock, like postings, and checks that no posting holds the key: a
    concurrent retry with the same key may have succeeded meanwhile, and a key is held by a
    posting or by a failure, never both. Two identical failing retries race on the unique key;
    the loser's row is not needed.
    """
    try:
        async with db.write() as conn:
            lock = select(member_table.c.id).where(member_table.c.id == member_id)
            if conn.dialect.name == "postgresql":
                lock = lock.with_for_update()
            await conn.execute(lock)
            held = await conn.scalar(
                select(posting_table.c.id).where(
                    (posting_table.c.idempotency_scope == scope) & (posting_table.c.idempotency_key == key)
                )
            )
            if held is not None:
                return False
            await conn.execute(
                insert(idempotency_failure_table).values(
                    idempotency_scope=scope,
                    idempotency_key=key,
                    request_hash=fingerprint,
                    member_id=member_id,
                    code=error.code.value,
                    field=error.field,
                    message=error.message[:1000],
                    created_at=now,
                    actor=current_actor(),
                )
            )
    except IntegrityError:
        return False
    return True
