"""Member identity: one member id behind every phone, email and format customer id.

Identities are normalised before they are stored or looked up (E.164 phones, lower-cased email
domains), so ``138 0013 8000`` and ``+86 13800138000`` find the same member.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import AtriumError, ErrorCode
from gateway.persistence.database import Database
from gateway.persistence.models import identity_table, member_table
from gateway.tiers import Ladder

_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class IdentityKind(str, Enum):
    """The ways a member can be recognised."""

    PHONE = "phone"
    EMAIL = "email"
    CUSTOMER_ID = "customer_id"


@dataclass(frozen=True)
class IdentityKey:
    """A normalised identity: ``kind``, ``namespace`` (the format for customer ids) and ``value``."""

    kind: IdentityKind
    value: str
    namespace: str = ""

    def describe(self) -> str:
        """Readable form for messages: ``phone +8613800138000``, ``dining customer id D-1``."""
        if self.kind is IdentityKind.CUSTOMER_ID:
            return f"{self.namespace} customer id {self.value}"
        return f"{self.kind.value} {self.value}"


def normalize_identity(
    kind: IdentityKind,
    value: str,
    *,
    namespace: str | None,
    formats: Collection[str],
    phone_region: str,
    field: str = "identity",
) -> IdentityKey:
    """Validate and normalise an identity, or raise ``INVALID_IDENTITY`` / ``UNKNOWN_FORMAT``."""
    raw = (value or "").strip()
    if kind is IdentityKind.PHONE:
        try:
            number = phonenumbers.parse(raw, phone_region)
        except phonenumbers.NumberParseException as exc:
            raise AtriumError(ErrorCode.INVALID_IDENTITY, f"{raw!r} is not a phone number: {exc}.", f"{field}.value") from None
        if not phonenumbers.is_valid_number(number):
            raise AtriumError(ErrorCode.INVALID_IDENTITY, f"{raw!r} is not a valid phone number.", f"{field}.value")
        return IdentityKey(kind, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    if kind is IdentityKind.EMAIL:
        try:
            email = validate_email(raw, check_deliverability=False)
        except EmailNotValidError as exc:
            raise AtriumError(ErrorCode.INVALID_IDENTITY, f"{raw!r} is not an email address: {exc}", f"{field}.value") from None
        return IdentityKey(kind, email.normalized.lower())
    if not namespace:
        raise AtriumError(ErrorCode.INVALID_IDENTITY, "A customer id needs the format that issued it.", f"{field}.format")
    if namespace not in formats:
        raise AtriumError(ErrorCode.UNKNOWN_FORMAT, f"There is no format {namespace!r}.", f"{field}.format")
    if not _CUSTOMER_ID.match(raw):
        raise AtriumError(
            ErrorCode.INVALID_IDENTITY,
            "A customer id is 1 to 64 letters, digits and . _ : - , starting with a letter or digit.",
            f"{field}.value",
        )
    return IdentityKey(kind, raw, namespace)


def _match(identity: IdentityKey):  # type: ignore[no-untyped-def]
    return (
        (identity_table.c.kind == identity.kind.value)
        & (identity_table.c.namespace == identity.namespace)
        & (identity_table.c.value == identity.value)
    )


async def find_member_id(conn: AsyncConnection, identity: IdentityKey) -> int | None:
    """The member id behind ``identity``, or ``None``."""
    return await conn.scalar(select(identity_table.c.member_id).where(_match(identity)))


async def enrol(
    db: Database,
    *,
    identity: IdentityKey,
    ladder: Ladder,
    enrolled_format: str | None,
    now: datetime,
    birth_date: date | None = None,
) -> int:
    """Create a member in the entry tier recognised by ``identity``; returns the new member id.

    ``birth_date`` is optional personal data (birthday campaigns and benefits); it cannot be in
    the future.

    :raises AtriumError: ``IDENTITY_TAKEN`` when the identity already belongs to a member.
    """
    if birth_date is not None and birth_date > now.date():
        raise AtriumError(ErrorCode.INVALID_INPUT, "The birth date is in the future.", "birthDate")
    try:
        async with db.write() as conn:
            if await find_member_id(conn, identity) is not None:
                raise _taken(identity)
            member_id = await conn.scalar(
                insert(member_table)
                .values(
                    status="active",
                    tier_code=ladder.entry.code,
                    growth_value=0,
                    points_balance=0,
                    enrolled_format=enrolled_format,
                    enrolled_at=now,
                    birth_date=birth_date,
                )
                .returning(member_table.c.id)
            )
            await conn.execute(insert(identity_table).values(member_id=member_id, created_at=now, **_columns(identity)))
            return int(member_id)
    except IntegrityError:
        raise _taken(identity) from None


async def link_identity(db: Database, *, member_id: int, identity: IdentityKey, now: datetime) -> int:
    """Attach another identity to a member; linking one it already has is a no-op. Returns the member id.

    A merged-away member's id links to its survivor. The member is locked, so an erasure cannot
    slip in between and leave personal data on an erased member.

    :raises AtriumError: ``MEMBER_NOT_FOUND``, ``MEMBER_ERASED``, or ``IDENTITY_TAKEN`` when another
        member has it.
    """
    try:
        async with db.write() as conn:
            member_id = await _lock_for_identity(conn, member_id)
            owner = await find_member_id(conn, identity)
            if owner == member_id:
                return member_id
            if owner is not None:
                raise _taken(identity)
            await conn.execute(insert(identity_table).values(member_id=member_id, created_at=now, **_columns(identity)))
            return member_id
    except IntegrityError:
        raise _taken(identity) from None


async def _lock_for_identity(conn: AsyncConnection, member_id: int) -> int:
    """Lock ``member_id`` (or the member it was merged into); refuse an unknown or erased member."""
    for _ in range(8):
        query = select(member_table.c.id, member_table.c.status, member_table.c.merged_into_id).where(
            member_table.c.id == member_id
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        if row is None:
            raise AtriumError(ErrorCode.MEMBER_NOT_FOUND, f"There is no member {member_id}.", "member")
        if row.merged_into_id is None:
            break
        member_id = int(row.merged_into_id)
    else:
        raise RuntimeError(f"member {member_id}'s merge chain does not end")
    if row.status == "erased":
        raise AtriumError(ErrorCode.MEMBER_ERASED, f"Member {member_id} was erased: it takes no new identities.")
    return member_id


def _columns(identity: IdentityKey) -> dict[str, str]:
    return {"kind": identity.kind.value, "namespace": identity.namespace, "value": identity.value}


def _taken(identity: IdentityKey) -> AtriumError:
    return AtriumError(
        ErrorCode.IDENTITY_TAKEN, f"The {identity.describe()} already belongs to a member.", "identity"
    )
