"""Admins configure the ladder: the whole set of tiers at once, and the ladder's policy; validated, audited, cached.

A ladder is replaced as a whole (:func:`set_ladder`): tiers named keep their members, new codes
are added, codes left out are removed. The rules checked before anything is written (each
refusal is ``INVALID_CONFIG`` with the field at fault):

- 1 to :data:`MAX_TIERS` tiers; codes like ``gold`` (lower case, digits, ``_``), unique; names
  1 to 64 characters; ranks unique, 0 or more;
- the lowest tier starts at growth 0, with no breadth rule and no retention threshold above 0
  (every member can stay in it); thresholds strictly increase with rank;
- a multiplier is a decimal from 1 to :data:`MAX_MULTIPLIER` with at most 3 decimals;
- ``min_formats`` is null or 1 to :data:`MAX_FORMATS`; a retention threshold is null or 0 to the
  tier's threshold;
- a tier can't be removed while live members are in it, nor while a plugin's benefit or reward
  names it. (Records merged away or erased still in it move to the lowest tier.)

Every changed tier, and a changed policy, is logged with :func:`record_config_change` in the
same transaction (entities ``tier`` and ``tier_policy``), and the cached ladder is invalidated
once the transaction commits. Members move on the new ladder at their next earn (upgrades) or at
the next evaluation (downgrades), never by the change itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.config_audit import record_config_change
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.persistence.models import member_table, tier_table
from gateway.persistence.tier_tables import tier_policy_table
from gateway.plugin_api import TierInfo
from gateway.tiers import (
    EVALUATION_INTERVALS,
    LADDER_CACHE_KEY,
    DowngradeMode,
    Ladder,
    TierPolicy,
    TierRule,
    current_ladder,
    plain_decimal,
)

MAX_TIERS = 20
MAX_MULTIPLIER = Decimal(100)
MAX_FORMATS = 50
MAX_THRESHOLD = 1_000_000_000
MAX_WINDOW_MONTHS = 36
MAX_GRACE_MONTHS = 24
CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
SHELL_STATUSES = ("merged", "erased")
"""Member records that no longer take part (their tier is meaningless): they never block removing a tier."""


@dataclass(frozen=True)
class TierDraft:
    """A tier as an admin wrote it, before validation (``multiplier`` as text, e.g. ``"1.5"``)."""

    code: str
    name: str
    rank: int
    threshold: int
    multiplier: str
    min_formats: int | None = None
    retention_threshold: int | None = None


def _invalid(message: str, field: str) -> AtriumError:
    return AtriumError(ErrorCode.INVALID_CONFIG, message, field)


def _multiplier(text: str, field: str) -> Decimal:
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise _invalid(f"{text!r} is not a decimal number such as \"1.5\".", field) from None
    if not value.is_finite() or not Decimal(1) <= value <= MAX_MULTIPLIER:
        raise _invalid(f"A multiplier is from 1 to {MAX_MULTIPLIER}.", field)
    value = plain_decimal(value)
    if int(value.as_tuple().exponent) < -3:
        raise _invalid("A multiplier has at most 3 decimals.", field)
    return value


def _check_tier(draft: TierDraft, field: str) -> TierRule:
    if not isinstance(draft.code, str) or not CODE.match(draft.code):
        raise _invalid("A tier code is 1 to 32 lower-case letters, digits or '_', starting with a letter, e.g. \"gold\".", f"{field}.code")
    name = draft.name.strip() if isinstance(draft.name, str) else ""
    if not 1 <= len(name) <= 64:
        raise _invalid("A tier name is 1 to 64 characters.", f"{field}.name")
    if not 0 <= draft.rank <= 1000:
        raise _invalid("A rank is from 0 to 1000.", f"{field}.rank")
    if not 0 <= draft.threshold <= MAX_THRESHOLD:
        raise _invalid(f"A threshold is from 0 to {MAX_THRESHOLD}.", f"{field}.threshold")
    multiplier = _multiplier(draft.multiplier, f"{field}.multiplier")
    if draft.min_formats is not None and not 1 <= draft.min_formats <= MAX_FORMATS:
        raise _invalid(f"minFormats is from 1 to {MAX_FORMATS}, or null for no breadth rule.", f"{field}.minFormats")
    retention = draft.retention_threshold
    if retention is not None and not 0 <= retention <= draft.threshold:
        raise _invalid("A retention threshold is from 0 to the tier's threshold, or null (the threshold).", f"{field}.retentionThreshold")
    info = TierInfo(code=draft.code, name=name, rank=draft.rank, threshold=draft.threshold, multiplier=multiplier)
    return TierRule(info=info, min_formats=draft.min_formats, retention_threshold=retention)


def validate_ladder(drafts: Sequence[TierDraft], *, field: str = "input.tiers") -> tuple[TierRule, ...]:
    """The ladder ``drafts`` describe, lowest first; ``INVALID_CONFIG`` naming the first field at fault."""
    if not 1 <= len(drafts) <= MAX_TIERS:
        raise _invalid(f"A ladder has 1 to {MAX_TIERS} tiers.", field)
    rules: list[tuple[int, TierRule]] = []
    codes: set[str] = set()
    ranks: set[int] = set()
    for n, draft in enumerate(drafts):
        rule = _check_tier(draft, f"{field}.{n}")
        if rule.code in codes:
            raise _invalid(f"Tier code {rule.code!r} appears twice.", f"{field}.{n}.code")
        if rule.rank in ranks:
            raise _invalid(f"Rank {rule.rank} appears twice: each tier has its own rank.", f"{field}.{n}.rank")
        codes.add(rule.code)
        ranks.add(rule.rank)
        rules.append((n, rule))
    rules.sort(key=lambda item: item[1].rank)
    lowest_n, lowest = rules[0]
    if lowest.threshold != 0:
        raise _invalid("The lowest tier starts at growth value 0: every member is in it.", f"{field}.{lowest_n}.threshold")
    if lowest.min_formats is not None:
        raise _invalid("The lowest tier has no breadth rule: every member is in it.", f"{field}.{lowest_n}.minFormats")
    if lowest.keep_threshold != 0:
        raise _invalid("The lowest tier keeps every member: its retention threshold is 0.", f"{field}.{lowest_n}.retentionThreshold")
    for (_, below), (n, rule) in zip(rules, rules[1:]):
        if rule.threshold <= below.threshold:
            raise _invalid(
                f"Thresholds increase with rank: {rule.info.name} (rank {rule.rank}) needs more than "
                f"{below.info.name}'s {below.threshold}.",
                f"{field}.{n}.threshold",
            )
    return tuple(rule for _, rule in rules)


def validate_policy(policy: TierPolicy, *, field: str = "input") -> TierPolicy:
    """``policy`` if every value is allowed; ``INVALID_CONFIG`` naming the field otherwise."""
    if not 1 <= policy.window_months <= MAX_WINDOW_MONTHS:
        raise _invalid(f"The window is 1 to {MAX_WINDOW_MONTHS} months.", f"{field}.windowMonths")
    if policy.evaluation_every_months not in EVALUATION_INTERVALS:
        allowed = ", ".join(str(n) for n in EVALUATION_INTERVALS)
        raise _invalid(f"Evaluations run every {allowed} months.", f"{field}.evaluationEveryMonths")
    if not 1 <= policy.evaluation_day <= 28:
        raise _invalid("The evaluation day is 1 to 28 (a day every month has).", f"{field}.evaluationDay")
    if not 0 <= policy.grace_months <= MAX_GRACE_MONTHS:
        raise _invalid(f"Grace is 0 to {MAX_GRACE_MONTHS} months.", f"{field}.graceMonths")
    return policy


def tier_state(rule: TierRule) -> dict[str, Any]:
    """What the audit log keeps of a tier."""
    return {
        "name": rule.info.name,
        "rank": rule.rank,
        "threshold": rule.threshold,
        "multiplier": str(rule.info.multiplier),
        "minFormats": rule.min_formats,
        "retentionThreshold": rule.retention_threshold,
    }


def policy_state(policy: TierPolicy) -> dict[str, Any]:
    """What the audit log keeps of the policy."""
    return {
        "windowMonths": policy.window_months,
        "evaluationEveryMonths": policy.evaluation_every_months,
        "evaluationDay": policy.evaluation_day,
        "graceMonths": policy.grace_months,
        "downgrade": policy.downgrade.value,
    }


def _row(rule: TierRule) -> dict[str, Any]:
    return {
        "code": rule.code,
        "name": rule.info.name,
        "rank": rule.rank,
        "threshold": rule.threshold,
        "multiplier": rule.info.multiplier,
        "min_formats": rule.min_formats,
        "retention_threshold": rule.retention_threshold,
    }


def _check_plugins_keep(core: Core, removed: set[str], names: dict[str, str]) -> None:
    needs = [(f"benefit {b.format}.{b.code}", b.min_tier) for b in core.registry.benefits.values()]
    needs += [(f"reward {r.format}.{r.code}", r.min_tier) for r in core.registry.redemption_types.values() if r.min_tier]
    for what, code in sorted(needs):
        if code in removed:
            raise _invalid(f"Plugin {what} needs tier {names[code]} ({code}): keep the tier.", "input.tiers")


async def _check_no_live_members(conn: AsyncConnection, removed: set[str], names: dict[str, str]) -> None:
    counts = (
        await conn.execute(
            select(member_table.c.tier_code, func.count())
            .where(member_table.c.tier_code.in_(removed), member_table.c.status.not_in(SHELL_STATUSES))
            .group_by(member_table.c.tier_code)
        )
    ).all()
    if counts:
        code, count = sorted(counts)[0]
        raise _invalid(
            f"{count} member{'s are' if count != 1 else ' is'} in {names[code]} ({code}): keep the tier, or move "
            f"them first (assignMemberTier).",
            "input.tiers",
        )


async def set_ladder(core: Core, drafts: Sequence[TierDraft], *, actor: str, reason: str | None, now: datetime) -> Ladder:
    """Replace the ladder's tiers by ``drafts`` (see the module docstring); returns the ladder now in force."""
    rules = validate_ladder(drafts)
    wanted = {rule.code: rule for rule in rules}
    try:
        async with core.db.write() as conn:
            query = select(tier_table).order_by(tier_table.c.rank)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            existing = {row["code"]: row for row in (await conn.execute(query)).mappings().all()}
            before = {code: _rule_of(row) for code, row in existing.items()}
            removed = set(existing) - set(wanted)
            names = {code: row["name"] for code, row in existing.items()}
            if removed:
                await _check_no_live_members(conn, removed, names)
                _check_plugins_keep(core, removed, names)
            # Ranks are unique: park every existing rank below zero, then write the final ones.
            await conn.execute(update(tier_table).values(rank=-1 - tier_table.c.rank))
            added = [_row(rule) for rule in rules if rule.code not in existing]
            if added:
                await conn.execute(insert(tier_table), added)
            if removed:
                await conn.execute(
                    update(member_table).where(member_table.c.tier_code.in_(removed)).values(tier_code=rules[0].code)
                )
                await conn.execute(delete(tier_table).where(tier_table.c.code.in_(removed)))
            for code in existing:
                if code in wanted:
                    await conn.execute(update(tier_table).where(tier_table.c.code == code).values(**_row(wanted[code])))
            for code in sorted(set(existing) | set(wanted)):
                old = tier_state(before[code]) if code in before else None
                new = tier_state(wanted[code]) if code in wanted else None
                await record_config_change(conn, actor=actor, entity="tier", key=code, before=old, after=new, now=now, reason=reason)
    except IntegrityError as exc:
        raise _invalid(f"The ladder change conflicts with data that still names a tier: {exc.orig}.", "input.tiers") from None
    await core.cache.invalidate(LADDER_CACHE_KEY)
    return await current_ladder(core)


def _rule_of(row: Any) -> TierRule:
    info = TierInfo(
        code=row["code"],
        name=row["name"],
        rank=row["rank"],
        threshold=int(row["threshold"]),
        multiplier=plain_decimal(Decimal(str(row["multiplier"]))),
    )
    retention = row["retention_threshold"]
    return TierRule(info=info, min_formats=row["min_formats"], retention_threshold=None if retention is None else int(retention))


async def set_policy(core: Core, policy: TierPolicy, *, actor: str, reason: str | None, now: datetime) -> Ladder:
    """Replace the ladder's policy (validated, audited as ``tier_policy``); returns the ladder now in force."""
    validate_policy(policy)
    values = {
        "window_months": policy.window_months,
        "evaluation_every_months": policy.evaluation_every_months,
        "evaluation_day": policy.evaluation_day,
        "grace_months": policy.grace_months,
        "downgrade_mode": policy.downgrade.value,
    }
    async with core.db.write() as conn:
        query = select(tier_policy_table).where(tier_policy_table.c.id == 1)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await conn.execute(query)).mappings().first()
        if row is None:
            old = TierPolicy()
            await conn.execute(insert(tier_policy_table).values(id=1, **values))
        else:
            old = TierPolicy(
                window_months=row["window_months"],
                evaluation_every_months=row["evaluation_every_months"],
                evaluation_day=row["evaluation_day"],
                grace_months=row["grace_months"],
                downgrade=DowngradeMode(row["downgrade_mode"]),
            )
            await conn.execute(update(tier_policy_table).where(tier_policy_table.c.id == 1).values(**values))
        await record_config_change(
            conn, actor=actor, entity="tier_policy", key="policy", before=policy_state(old), after=policy_state(policy), now=now, reason=reason
        )
    await core.cache.invalidate(LADDER_CACHE_KEY)
    return await current_ladder(core)
