"""Admins' work on shared benefits: create, update, retire. Validated, audited, and the cache told.

Every accepted change writes the ``shared_benefit`` row and one configuration audit row
(entity ``benefit``, the code as key, the states before and after) in one transaction, then
invalidates the cached shared benefits once it has committed. Bad input is ``INVALID_CONFIG``
naming the field (``minTier``, ``quota.count``, ``formats.1`` ...) and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.benefits.catalogue import (
    SharedBenefitConfig,
    forget_shared_benefits,
    shared_from_row,
)
from gateway.benefits.periods import PERIODS
from gateway.config_audit import record_config_change
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.persistence.benefit_tables import shared_benefit_table
from gateway.plugin_api import Quota
from gateway.tiers import Ladder, current_ladder

_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_QUOTA = 1000
ENTITY = "benefit"


@dataclass(frozen=True)
class SharedBenefitDraft:
    """What an admin asks a shared benefit to be; :func:`validate_draft` checks every field."""

    code: str
    name: str
    description: str
    min_tier: str
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    quota: Quota | None = None
    birthday_month: bool = False
    formats: tuple[str, ...] = ()
    active: bool = True


EDITABLE = frozenset(field.name for field in fields(SharedBenefitDraft)) - {"code"}
"""Fields an update may change: everything but the code."""


def _invalid(message: str, field: str) -> AtriumError:
    return AtriumError(ErrorCode.INVALID_CONFIG, message, field)


def _text(value: str, *, field: str, max_length: int, required: bool) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise _invalid("This field cannot be empty.", field)
    if len(text) > max_length:
        raise _invalid(f"This field has at most {max_length} characters.", field)
    return text


def _instant(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise _invalid("Give the time with its UTC offset, e.g. 2026-12-01T00:00:00+08:00.", field)
    return value.astimezone(UTC)


def validate_draft(draft: SharedBenefitDraft, *, ladder: Ladder, formats: Mapping[str, object]) -> SharedBenefitDraft:
    """``draft`` cleaned (texts stripped, times in UTC); ``INVALID_CONFIG`` naming the first bad field."""
    if not isinstance(draft.code, str) or not _CODE.match(draft.code):
        raise _invalid("A code is 1 to 32 lowercase letters, digits or _, starting with a letter (e.g. parking_2h).", "code")
    name = _text(draft.name, field="name", max_length=64, required=True)
    description = _text(draft.description, field="description", max_length=500, required=False)
    if draft.min_tier not in ladder:
        known = ", ".join(tier.code for tier in ladder.tiers)
        raise _invalid(f"There is no tier {draft.min_tier!r}; the ladder has {known}.", "minTier")
    valid_from = _instant(draft.valid_from, "validFrom")
    valid_until = _instant(draft.valid_until, "validUntil")
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise _invalid("validUntil must come after validFrom.", "validUntil")
    if draft.quota is not None:
        if not isinstance(draft.quota.count, int) or not 1 <= draft.quota.count <= MAX_QUOTA:
            raise _invalid(f"A quota allows 1 to {MAX_QUOTA} uses a period.", "quota.count")
        if draft.quota.period not in PERIODS:
            raise _invalid(f"A quota period is one of {', '.join(PERIODS)}.", "quota.period")
    seen: set[str] = set()
    for index, code in enumerate(draft.formats):
        if code not in formats:
            raise _invalid(f"There is no format {code!r}; the group has {', '.join(sorted(formats))}.", f"formats.{index}")
        if code in seen:
            raise _invalid(f"Format {code!r} is listed twice.", f"formats.{index}")
        seen.add(code)
    return replace(
        draft, name=name, description=description, valid_from=valid_from, valid_until=valid_until, formats=tuple(draft.formats)
    )


def _values(draft: SharedBenefitDraft) -> dict[str, Any]:
    return {
        "name": draft.name,
        "description": draft.description,
        "min_tier": draft.min_tier,
        "valid_from": draft.valid_from,
        "valid_until": draft.valid_until,
        "quota_count": draft.quota.count if draft.quota else None,
        "quota_period": draft.quota.period if draft.quota else None,
        "birthday_month": draft.birthday_month,
        "formats": list(draft.formats),
        "active": draft.active,
    }


def _draft_of(config: SharedBenefitConfig) -> SharedBenefitDraft:
    return SharedBenefitDraft(**{field.name: getattr(config, field.name) for field in fields(SharedBenefitDraft)})


async def _locked_row(conn: AsyncConnection, code: str) -> SharedBenefitConfig:
    query = select(shared_benefit_table).where(shared_benefit_table.c.code == code)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        raise AtriumError(ErrorCode.CONFIG_NOT_FOUND, f"There is no shared benefit {code!r}.", "code")
    return shared_from_row(row)


def _check_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    return _text(reason, field="reason", max_length=500, required=False) or None


async def create_shared_benefit(
    core: Core, draft: SharedBenefitDraft, *, actor: str, reason: str | None = None, now: datetime
) -> SharedBenefitConfig:
    """Create a shared benefit; ``INVALID_CONFIG`` on bad input or a code already taken (retired ones keep theirs)."""
    draft = validate_draft(draft, ladder=await current_ladder(core), formats=core.registry.formats)
    reason = _check_reason(reason)
    now = now.astimezone(UTC)
    taken = _invalid(f"A shared benefit {draft.code!r} exists already (retired ones keep their code).", "code")
    try:
        async with core.db.write() as conn:
            exists = await conn.scalar(select(shared_benefit_table.c.code).where(shared_benefit_table.c.code == draft.code))
            if exists is not None:
                raise taken
            await conn.execute(
                insert(shared_benefit_table).values(code=draft.code, created_at=now, updated_at=now, **_values(draft))
            )
            created = await _locked_row(conn, draft.code)
            await record_config_change(
                conn, actor=actor, entity=ENTITY, key=draft.code, before=None, after=created.as_json(), now=now, reason=reason
            )
    except IntegrityError:
        raise taken from None
    await forget_shared_benefits(core)
    return created


async def update_shared_benefit(
    core: Core, code: str, changes: Mapping[str, Any], *, actor: str, reason: str | None = None, now: datetime
) -> SharedBenefitConfig:
    """Change some fields of shared benefit ``code`` (those in ``changes``; others keep their value).

    ``CONFIG_NOT_FOUND`` for an unknown code; ``INVALID_CONFIG`` when the result would be invalid.
    Saving what is already there changes nothing and logs nothing.
    """
    unknown = set(changes) - EDITABLE
    if unknown:
        raise _invalid(f"These fields cannot be changed: {', '.join(sorted(unknown))}.", sorted(unknown)[0])
    reason = _check_reason(reason)
    ladder = await current_ladder(core)
    now = now.astimezone(UTC)
    async with core.db.write() as conn:
        before = await _locked_row(conn, code)
        draft = validate_draft(replace(_draft_of(before), **changes), ladder=ladder, formats=core.registry.formats)
        after = replace(before, **{field.name: getattr(draft, field.name) for field in fields(SharedBenefitDraft)})
        if after.as_json() == before.as_json():
            return before
        await conn.execute(
            update(shared_benefit_table).where(shared_benefit_table.c.code == code).values(updated_at=now, **_values(draft))
        )
        after = replace(after, updated_at=now)
        await record_config_change(
            conn, actor=actor, entity=ENTITY, key=code, before=before.as_json(), after=after.as_json(), now=now, reason=reason
        )
    await forget_shared_benefits(core)
    return after


async def retire_shared_benefit(
    core: Core, code: str, *, actor: str, reason: str | None = None, now: datetime
) -> SharedBenefitConfig:
    """Retire shared benefit ``code``: it leaves the wall and cannot be used; its past uses keep naming it.

    Retiring a retired benefit changes nothing. An update with ``active: true`` brings it back.
    """
    return await update_shared_benefit(core, code, {"active": False}, actor=actor, reason=reason, now=now)
