"""What refunds and cancellations share: finding the posting they compensate, and which refusals stay failed.

A refund (:mod:`gateway.ledger.reverse`) compensates an earn, a cancellation
(:mod:`gateway.ledger.cancel`) a redemption. Both name the original by its idempotency key within
the format (the receipt or redemption id the business unit already knows) or by posting id, and
both link their posting to it through ``posting.reverses_posting_id``. A format can only
compensate its own postings: another format's posting is "not found", like a missing one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.failures import BUSINESS_FAILURES, Attempt, record_failure
from gateway.ledger.postings import POSTING_COLUMNS, PostingResult, posting_from_row
from gateway.persistence.database import Database
from gateway.persistence.models import posting_table

COMPENSATION_FAILURES: frozenset[ErrorCode] = BUSINESS_FAILURES | {
    ErrorCode.REFUND_EXCEEDS_ACTIVITY,
    ErrorCode.ALREADY_CANCELLED,
}
"""Refusals of a refund or a cancellation that keep its key failed (see :mod:`gateway.ledger.failures`).

Both new ones depend on what happened to the original before, not on the request, and can only
get "more true": refunds only add up and a cancellation is never undone.
"""


async def find_original(
    conn: AsyncConnection,
    *,
    format_code: str,
    kind: str,
    key: str | None,
    posting_id: int | None,
    field: str,
    posting_field: str,
) -> PostingResult:
    """The ``kind`` posting of ``format_code`` named by its idempotency ``key`` or its ``posting_id``.

    Exactly one of the two must be given (``INVALID_INPUT`` on ``field`` otherwise); a posting that
    does not exist, is of another kind or belongs to another format is ``POSTING_NOT_FOUND`` on the
    field that named it: ``field`` (the key's) or ``posting_field`` (the posting id's).
    """
    if (key is None) == (posting_id is None):
        raise AtriumError(ErrorCode.INVALID_INPUT, f"Name the original {kind} by its idempotency key or its posting id, not both.", field)
    query = select(*POSTING_COLUMNS).where((posting_table.c.kind == kind) & (posting_table.c.format == format_code))
    if key is not None:
        query = query.where(
            (posting_table.c.idempotency_scope == f"{kind}:{format_code}") & (posting_table.c.idempotency_key == key)
        )
        described = f"key {key!r}"
    else:
        query = query.where(posting_table.c.id == posting_id)
        described = f"id {posting_id}"
    row = (await conn.execute(query)).first()
    if row is None:
        named_by = field if key is not None else posting_field
        raise AtriumError(ErrorCode.POSTING_NOT_FOUND, f"There is no {format_code} {kind} with {described}.", named_by)
    return posting_from_row(row)


@asynccontextmanager
async def remember_refusals(
    db: Database, *, scope: str, key: str, fingerprint: str, now: datetime
) -> AsyncIterator[Attempt]:
    """Like :func:`gateway.ledger.failures.failure_stays_failure`, for :data:`COMPENSATION_FAILURES`.

    Set ``Attempt.member_id`` once the key is fresh and the member locked; a listed refusal raised
    after that is remembered after the rollback and re-raised unchanged.
    """
    attempt = Attempt()
    try:
        yield attempt
    except AtriumError as error:
        if attempt.member_id is not None and error.code in COMPENSATION_FAILURES:
            await record_failure(
                db, scope=scope, key=key, fingerprint=fingerprint, member_id=attempt.member_id, error=error, now=now
            )
        raise
