"""Using a benefit: idempotent by the caller's key, never past its quota, also when tills race.

Every use runs in one write transaction that first locks the member (``SELECT ... FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so uses of one member never interleave. Under that
lock it looks the key up (a replay returns the stored result, whatever changed since), checks the
member and the benefit, raises the period's counter by a guarded update
(``used + quantity <= quota``) and inserts the use, which claims the key by a unique constraint in
the same transaction. A refusal writes nothing, so a retry is judged afresh (a quota given back
by a cancelled use can then be taken).

Keys are scoped by caller: a format's tills, the admins, and each member have their own key space.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.benefits.catalogue import (
    BenefitDefinition,
    resolve_benefit,
    shared_benefits,
)
from gateway.benefits.eligibility import format_lock, lock_of
from gateway.benefits.periods import PeriodBounds, period_bounds
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.postings import (
    MemberRef,
    check_idempotency_key,
    lock_member,
    request_hash,
    require_active,
    survivor_of,
)
from gateway.notices import after_commit, notifying_write
from gateway.persistence.benefit_tables import benefit_counter_table, benefit_use_table
from gateway.persistence.models import identity_table, member_table
from gateway.plugin_api import BenefitUseEvent
from gateway.tiers import current_ladder

MAX_QUANTITY = 100
"""Most units of a benefit without quota in one use."""


@dataclass(frozen=True)
class UseRequest:
    """A request to use ``quantity`` of benefit ``benefit`` (``group.<code>`` or ``<format>.<code>``).

    :param scope: the caller's key space (``service:retail``, ``admin``, ``member:12``).
    :param where: the format where it is used; ``None`` when not said (a till's is its own format).
    """

    member: MemberRef
    benefit: str
    quantity: int
    idempotency_key: str
    scope: str
    actor: str
    where: str | None = None


@dataclass(frozen=True)
class BenefitUseResult:
    """A stored use of a benefit; ``replayed`` is true when it answers a retried key."""

    id: int
    member_id: int
    benefit: str
    format: str | None
    quantity: int
    period_start: datetime | None
    period_end: datetime | None
    used_in_period: int | None
    quota: int | None
    idempotency_key: str
    used_at: datetime
    cancelled_at: datetime | None
    replayed: bool = False

    @property
    def remaining_in_period(self) -> int | None:
        """What was left of the quota in the period right after this use; ``None`` without quota."""
        if self.quota is None or self.used_in_period is None:
            return None
        return max(self.quota - self.used_in_period, 0)


_USE_COLUMNS = tuple(
    benefit_use_table.c[name]
    for name in (
        "id member_id benefit format quantity period_start period_end used_in_period quota idempotency_key "
        "used_at cancelled_at"
    ).split()
)


def _result(row: Any, *, replayed: bool) -> BenefitUseResult:
    mapping = row._mapping
    return BenefitUseResult(**{column.name: mapping[column.name] for column in _USE_COLUMNS}, replayed=replayed)


def scoped(scope: str) -> str:
    """The stored idempotency scope of a caller's key space."""
    return f"benefit:{scope}"


async def _find_use(conn: AsyncConnection, scope: str, key: str) -> Any:
    """The use holding ``key`` in ``scope`` with its request hash and owner (the member it lives on as), or ``None``."""
    owner = func.coalesce(member_table.c.merged_into_id, member_table.c.id).label("owner_id")
    query = (
        select(*_USE_COLUMNS, benefit_use_table.c.request_hash, owner)
        .select_from(benefit_use_table.join(member_table, member_table.c.id == benefit_use_table.c.member_id))
        .where((benefit_use_table.c.idempotency_scope == scope) & (benefit_use_table.c.idempotency_key == key))
    )
    return (await conn.execute(query)).first()


def _key_reused(key: str) -> AtriumError:
    return AtriumError(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        f"Idempotency key {key!r} was already used for a different request; use a new key.",
        "idempotencyKey",
    )


def _replay(found: Any, fingerprint: str, member_id: int | None) -> BenefitUseResult:
    """The stored use as a replay, or ``IDEMPOTENCY_KEY_REUSED`` when the payload or the member differ."""
    if found.request_hash != fingerprint or found.owner_id != member_id:
        raise _key_reused(found.idempotency_key)
    return _result(found, replayed=True)


async def _owner_of(conn: AsyncConnection, ref: MemberRef) -> int | None:
    """The member ``ref`` names, followed through a merge; ``None`` when it names nobody."""
    if ref.member_id is not None:
        return await conn.scalar(select(survivor_of(ref.member_id)))
    assert ref.identity is not None
    return await conn.scalar(
        select(func.coalesce(member_table.c.merged_into_id, member_table.c.id))
        .select_from(identity_table.join(member_table, member_table.c.id == identity_table.c.member_id))
        .where(
            (identity_table.c.kind == ref.identity.kind.value)
            & (identity_table.c.namespace == ref.identity.namespace)
            & (identity_table.c.value == ref.identity.value)
        )
    )


def _where(core: Core, benefit: BenefitDefinition, where: str | None) -> str | None:
    """The format the benefit is used in: as asked, or its only format; refused where it cannot be used."""
    if where is None:
        if len(benefit.formats) == 1:
            return benefit.formats[0]
        if not benefit.formats:
            return None
        raise AtriumError(
            ErrorCode.INVALID_INPUT, f"Say where {benefit.name} is used: one of {', '.join(benefit.formats)}.", "format"
        )
    if where not in core.registry.formats:
        raise AtriumError(ErrorCode.UNKNOWN_FORMAT, f"There is no format {where!r}.", "format")
    lock = format_lock(benefit, where)
    if lock is not None:
        raise AtriumError(ErrorCode.BENEFIT_LOCKED, lock.message, "format")
    return where


def _check_quantity(benefit: BenefitDefinition, quantity: int) -> None:
    limit = benefit.quota.count if benefit.quota else MAX_QUANTITY
    if not isinstance(quantity, int) or not 1 <= quantity <= limit:
        per = f" (its quota is {limit} a {benefit.quota.period})" if benefit.quota else ""
        raise AtriumError(ErrorCode.INVALID_QUANTITY, f"Quantity must be between 1 and {limit}{per}.", "quantity")


async def take_quota(
    conn: AsyncConnection, *, member_id: int, benefit: str, bounds: PeriodBounds, quantity: int, quota: int
) -> int | None:
    """Raise the member's counter of ``benefit`` for the period by ``quantity`` if the quota allows; the new count, else ``None``.

    The guarded ``UPDATE ... WHERE used + quantity <= quota`` never passes the quota, whoever races;
    the period's first use inserts the row (under the member's lock, so no twin insert).
    """
    counter = benefit_counter_table
    this_period = (
        (counter.c.member_id == member_id) & (counter.c.benefit == benefit) & (counter.c.period_start == bounds.start)
    )
    used = await conn.scalar(
        update(counter)
        .where(this_period & (counter.c.used + quantity <= quota))
        .values(used=counter.c.used + quantity)
        .returning(counter.c.used)
    )
    if used is not None:
        return int(used)
    exists = await conn.scalar(select(counter.c.used).where(this_period))
    if exists is not None or quantity > quota:
        return None
    await conn.execute(
        insert(counter).values(member_id=member_id, benefit=benefit, period_start=bounds.start, used=quantity)
    )
    return quantity


async def used_in(conn: AsyncConnection, *, member_id: int, benefit: str, bounds: PeriodBounds) -> int:
    """How much of ``benefit`` the member used in the period (0 when never)."""
    counter = benefit_counter_table
    used = await conn.scalar(
        select(counter.c.used).where(
            (counter.c.member_id == member_id) & (counter.c.benefit == benefit) & (counter.c.period_start == bounds.start)
        )
    )
    return int(used or 0)


def _quota_exceeded(benefit: BenefitDefinition, bounds: PeriodBounds, used: int, quota: int, core: Core) -> AtriumError:
    left = max(quota - used, 0)
    resets = bounds.end.astimezone(core.settings.zone).strftime("%Y-%m-%d %H:%M")
    return AtriumError(
        ErrorCode.QUOTA_EXCEEDED,
        f"{benefit.name}: {used} of {quota} used {bounds.words}, {left} left; the quota resets on {resets}.",
        "quantity",
    )


async def use_benefit(core: Core, request: UseRequest, *, now: datetime) -> BenefitUseResult:
    """Use a benefit for a member, exactly once per key, never past its quota.

    Refusals: ``BENEFIT_NOT_FOUND`` (unknown or retired), ``INVALID_QUANTITY``, ``BENEFIT_LOCKED``
    (tier too low, outside validity, not the birthday month, a format where it cannot be used),
    ``QUOTA_EXCEEDED`` (saying what is left in the period and when it resets), ``MEMBER_FROZEN``
    and the other member states, ``IDEMPOTENCY_KEY_REUSED``. A replay is answered whatever the
    member's or the benefit's state now.
    """
    key = check_idempotency_key(request.idempotency_key)
    scope = scoped(request.scope)
    fingerprint = request_hash({"benefit": request.benefit, "quantity": request.quantity, "format": request.where})
    now = now.astimezone(UTC)
    shared = await shared_benefits(core)
    ladder = await current_ladder(core)
    try:
        async with notifying_write(core) as conn:
            member = await lock_member(conn, request.member)
            found = await _find_use(conn, scope, key)
            if found is not None:
                return _replay(found, fingerprint, member.id)
            benefit = resolve_benefit(core, shared, request.benefit)
            _check_quantity(benefit, request.quantity)
            where = _where(core, benefit, request.where)
            require_active(member)
            lock = lock_of(
                benefit, tier_code=member.tier_code, birth_date=member.birth_date, ladder=ladder, now=now, zone=core.settings.zone
            )
            if lock is not None:
                raise AtriumError(ErrorCode.BENEFIT_LOCKED, lock.message, "benefit")
            bounds = used = None
            if benefit.quota is not None:
                bounds = period_bounds(benefit.quota.period, now, core.settings.zone)
                used = await take_quota(
                    conn, member_id=member.id, benefit=benefit.id, bounds=bounds, quantity=request.quantity, quota=benefit.quota.count
                )
                if used is None:
                    already = await used_in(conn, member_id=member.id, benefit=benefit.id, bounds=bounds)
                    raise _quota_exceeded(benefit, bounds, already, benefit.quota.count, core)
            values = {
                "member_id": member.id,
                "benefit": benefit.id,
                "format": where,
                "quantity": request.quantity,
                "period_start": bounds.start if bounds else None,
                "period_end": bounds.end if bounds else None,
                "used_in_period": used,
                "quota": benefit.quota.count if benefit.quota else None,
                "idempotency_scope": scope,
                "idempotency_key": key,
                "request_hash": fingerprint,
                "actor": request.actor[:128],
                "used_at": now,
                "cancelled_at": None,
            }
            use_id = await conn.scalar(insert(benefit_use_table).values(**values).returning(benefit_use_table.c.id))
            after_commit(
                conn,
                BenefitUseEvent(
                    use_id=int(use_id),
                    member_id=member.id,
                    benefit=benefit.id,
                    format=where,
                    quantity=request.quantity,
                    kind="use",
                    at=now,
                    reference=key,
                    remaining_in_period=None if used is None else max(benefit.quota.count - used, 0),
                ),
            )
    except IntegrityError:
        async with core.db.read() as conn:
            found = await _find_use(conn, scope, key)
            if found is None:
                raise
            return _replay(found, fingerprint, await _owner_of(conn, request.member))
    return BenefitUseResult(id=int(use_id), **{name: values[name] for name in BenefitUseResult.__dataclass_fields__ if name in values})


async def cancel_benefit_use(core: Core, *, scope: str, idempotency_key: str, now: datetime) -> BenefitUseResult:
    """Cancel the use made with ``idempotency_key`` in the caller's key space, giving its quota back.

    Cancelling again returns the cancelled use (``replayed``): it is safe to retry. A use of a past
    period gives that period's quota back, which no longer matters to anyone. ``BENEFIT_NOT_FOUND``
    when the key holds no use.
    """
    key = check_idempotency_key(idempotency_key)
    stored_scope = scoped(scope)
    now = now.astimezone(UTC)
    async with core.db.read() as conn:
        found = await _find_use(conn, stored_scope, key)
    if found is None:
        raise AtriumError(ErrorCode.BENEFIT_NOT_FOUND, f"No benefit use has the key {key!r}.", "idempotencyKey")
    async with notifying_write(core) as conn:
        member = await lock_member(conn, MemberRef(member_id=found.member_id))
        found = await _find_use(conn, stored_scope, key)
        if found.cancelled_at is not None:
            return _result(found, replayed=True)
        await conn.execute(
            update(benefit_use_table)
            .where((benefit_use_table.c.id == found.id) & benefit_use_table.c.cancelled_at.is_(None))
            .values(cancelled_at=now)
        )
        if found.period_start is not None:
            counter = benefit_counter_table
            await conn.execute(
                update(counter)
                .where(
                    (counter.c.member_id == found.member_id)
                    & (counter.c.benefit == found.benefit)
                    & (counter.c.period_start == found.period_start)
                )
                .values(used=counter.c.used - found.quantity)
            )
        after_commit(
            conn,
            BenefitUseEvent(
                use_id=int(found.id),
                member_id=member.id,
                benefit=found.benefit,
                format=found.format,
                quantity=int(found.quantity),
                kind="cancel",
                at=now,
                reference=key,
            ),
        )
    mapping = dict(found._mapping)
    mapping["cancelled_at"] = now
    return BenefitUseResult(**{name: mapping[name] for name in BenefitUseResult.__dataclass_fields__ if name != "replayed"})
