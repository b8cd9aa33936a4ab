"""The audit log: who changed a member by hand, what changed and why.

Admin actions (freezing, unfreezing, adjusting points) carry a mandatory reason and write one
``audit_log`` row in the same transaction as the change, so the log and the change stand or fall
together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import AtriumError, ErrorCode
from gateway.persistence.models import audit_log_table

MAX_REASON = 500


def check_reason(reason: str, field: str = "reason") -> str:
    """The reason stripped; empty or longer than :data:`MAX_REASON` characters is ``INVALID_INPUT``."""
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise AtriumError(ErrorCode.INVALID_INPUT, "Say why: a reason is required.", field)
    if len(text) > MAX_REASON:
        raise AtriumError(ErrorCode.INVALID_INPUT, f"The reason has at most {MAX_REASON} characters.", field)
    return text


async def write_audit(
    conn: AsyncConnection,
    *,
    actor: str,
    action: str,
    member_id: int | None,
    details: dict[str, Any],
    reason: str | None,
    now: datetime,
) -> None:
    """Append one audit row in the caller's transaction."""
    await conn.execute(
        insert(audit_log_table).values(
            actor=actor[:128], action=action, member_id=member_id, details=details, reason=reason, created_at=now
        )
    )
