"""Recording a format's activity: earn rules, tier multiplier, one balanced posting and its lots."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from gateway.campaigns.awards import plan_activity, record_awards
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.debt import repay_debt
from gateway.ledger.earn_writes import credit_member, insert_lots
from gateway.ledger.failures import failure_stays_failure
from gateway.ledger.holds import catch_up
from gateway.ledger.lots import lot_expires_at
from gateway.ledger.postings import (
    MemberRef,
    PostingResult,
    check_idempotency_key,
    find_replay,
    insert_entries,
    insert_posting,
    lock_member_and_key,
    replay_after_conflict,
    request_hash,
    require_active,
    result_from_values,
)
from gateway.ledger.tender_values import check_tenders, non_money_paid
from gateway.ledger.tenders import Tenders
from gateway.members import MemberRow
from gateway.notices import notifying_write
from gateway.persistence.models import PENDING, WALLET, issuance_account
from gateway.plugin_api import (
    Activity,
    ActivityDraft,
    ActivityKind,
    MemberContext,
    TierChange,
)
from gateway.plugin_settings import current_settings
from gateway.tier_upgrade import tier_after_earn, write_earn_tier_change
from gateway.tiers import Ladder, current_ladder

CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class ActivityRequest:
    """A business unit's request to record one activity for a member."""

    member: MemberRef
    format: str
    kind: str
    idempotency_key: str
    input: Any
    tenders: Tenders = Tenders()
    """Points offsets and coupons that paid part of the bill: that part earns nothing."""


def member_context(core: Core, member: MemberRow, ladder: Ladder) -> MemberContext:
    """What plugins may know of ``member`` (``ladder``: the request's, from :func:`current_ladder`)."""
    return MemberContext(
        member_id=member.id,
        tier=ladder.get(member.tier_code),
        growth_value=member.growth_value,
        points_balance=member.points_balance,
        enrolled_at=member.enrolled_at,
    )


def activity_kind(core: Core, format_code: str, kind: str) -> ActivityKind:
    """The registered activity kind, or ``UNKNOWN_FORMAT``."""
    if format_code not in core.registry.formats:
        raise AtriumError(ErrorCode.UNKNOWN_FORMAT, f"There is no format {format_code!r}.", "format")
    found = core.registry.activity_kinds.get((format_code, kind))
    if found is None:
        raise AtriumError(ErrorCode.UNKNOWN_FORMAT, f"Format {format_code!r} records no {kind!r} activity.", "kind")
    return found


def _draft(core: Core, kind: ActivityKind, raw_input: Any, now: datetime) -> ActivityDraft:
    plugin = core.registry.owner[("activity kind", kind.format, kind.name)]
    try:
        draft = kind.to_activity(raw_input)
    except AtriumError as exc:
        raise exc.with_field_prefix("input") from None
    except Exception as exc:
        raise AtriumError(ErrorCode.PLUGIN_FAILED, f"Plugin {plugin!r} failed to read the activity: {exc!r}.") from exc
    if not isinstance(draft, ActivityDraft):
        raise AtriumError(ErrorCode.PLUGIN_FAILED, f"Plugin {plugin!r} returned {draft!r}, not an ActivityDraft.")
    try:
        json.dumps(dict(draft.details))
    except (TypeError, ValueError) as exc:
        raise AtriumError(ErrorCode.PLUGIN_FAILED, f"Plugin {plugin!r} gave activity details that are not JSON: {exc}.") from exc
    settings = core.settings
    if draft.amount.currency != settings.currency:
        raise AtriumError(
            ErrorCode.UNSUPPORTED_CURRENCY,
            f"The group runs its points in {settings.currency}; got {draft.amount.currency}.",
            "input",
        )
    if draft.amount.minor <= 0:
        raise AtriumError(ErrorCode.INVALID_AMOUNT, "The amount must be greater than zero.", "input")
    if draft.amount.minor > settings.max_activity_amount_minor:
        raise AtriumError(ErrorCode.INVALID_AMOUNT, "The amount exceeds the per-activity limit.", "input")
    if draft.occurred_at is not None:
        if draft.occurred_at.tzinfo is None:
            raise AtriumError(ErrorCode.INVALID_INPUT, "The activity time needs a timezone.", "input")
        if draft.occurred_at > now + CLOCK_SKEW:
            raise AtriumError(ErrorCode.INVALID_INPUT, "The activity time is in the future.", "input")
    return draft


async def record_activity(core: Core, request: ActivityRequest, *, now: datetime) -> PostingResult:
    """Earn points and growth value for an activity, exactly once per idempotency key.

    Points are the earn rules' base points times the member's tier multiplier (rounded down); the
    wallet (or, for points with a waiting period, ``member.pending``) is credited from the format's
    issuance account and a lot per availability date remembers the issuing format. A replay
    returns the original result. Bad input writes nothing; a frozen or inactive member's refusal
    keeps the key failed (:mod:`gateway.ledger.failures`).
    """
    kind = activity_kind(core, request.format, request.kind)
    key = check_idempotency_key(request.idempotency_key)
    draft = _draft(core, kind, request.input, now)
    settings = await current_settings(core, kind.format)
    scope = f"earn:{kind.format}"
    hashed: dict[str, Any] = {
        "kind": kind.name,
        "amount": draft.amount.minor,
        "currency": draft.amount.currency,
        "occurred_at": draft.occurred_at.isoformat() if draft.occurred_at else None,
        "store": draft.store,
        "details": draft.details,
    }
    if request.tenders:
        check_tenders(request.tenders)
        hashed["tenders"] = request.tenders.fingerprint()
    fingerprint = request_hash(hashed)
    ladder = await current_ladder(core)
    async with failure_stays_failure(core.db, scope=scope, key=key, fingerprint=fingerprint, now=now) as attempt:
        try:
            async with notifying_write(core) as conn:
                member, key_read = await lock_member_and_key(conn, request.member, scope, key)
                member = await catch_up(core, conn, member, now=now)
                replay = await find_replay(conn, scope, key, fingerprint, member.id, read=key_read)
                if replay is not None:
                    return replay
                attempt.member_id = member.id
                require_active(member)
                context = member_context(core, member, ladder)
                money_paid, paid_with = None, None
                if request.tenders:
                    money_paid, paid_with = await non_money_paid(
                        conn, request.tenders, member_id=member.id, format_code=kind.format, bill=draft.amount, now=now
                    )
                activity = Activity(
                    format=kind.format,
                    kind=kind.name,
                    reference=key,
                    amount=draft.amount,
                    occurred_at=(draft.occurred_at or now).astimezone(UTC),
                    store=draft.store,
                    details=dict(draft.details),
                    settings=settings,
                    money_paid=money_paid,
                )
                planned = await plan_activity(core, conn, member, activity, context, now=now, lock=True)
                plan = planned.earn
                tier = context.tier
                points, growth = plan.points, plan.growth
                balance_after = member.points_balance + plan.available
                upgrade = await tier_after_earn(
                    conn, ladder, core.settings.zone, member.id, tier, activity=activity, growth=growth,
                    growth_value=member.growth_value, now=now,
                )
                tier_after = upgrade.after
                format_name = core.registry.formats[kind.format].name
                summary = f"{format_name} {kind.name.replace('_', ' ')}: +{points} pts"
                if plan.pending:
                    summary += f" ({plan.pending} pending)"
                if plan.lines:
                    summary += " — " + "; ".join(line["reason"] for line in plan.lines)
                values = {
                    "member_id": member.id,
                    "kind": "earn",
                    "format": kind.format,
                    "idempotency_scope": scope,
                    "idempotency_key": key,
                    "request_hash": fingerprint,
                    "points": points,
                    "growth": growth,
                    "balance_after": balance_after,
                    "tier_before": tier.code,
                    "tier_after": tier_after.code,
                    "reason": summary[:500],
                    "lines": plan.lines,
                    "activity_kind": kind.name,
                    "amount_minor": draft.amount.minor,
                    "currency": draft.amount.currency,
                    "store": draft.store,
                    "details": dict(draft.details) if paid_with is None else {**draft.details, "paidWith": paid_with},
                    "occurred_at": activity.occurred_at,
                    "created_at": now,
                }
                posting_id = await insert_posting(conn, values)
                await insert_entries(
                    conn,
                    posting_id,
                    [
                        (WALLET, member.id, plan.available),
                        (PENDING, member.id, plan.pending),
                        (issuance_account(kind.format), None, -points),
                    ],
                )
                await insert_lots(
                    conn,
                    plan.lots,
                    member_id=member.id,
                    posting_id=posting_id,
                    format_code=kind.format,
                    earned_at=activity.occurred_at,
                    expires_at=lot_expires_at(core.settings, activity.occurred_at),
                )
                await record_awards(conn, planned, member_id=member.id)
                await repay_debt(conn, member.id, posting_id, balance_before=member.points_balance, credited=plan.available)
                await write_earn_tier_change(conn, upgrade, member_id=member.id, posting_id=posting_id, now=now)
                await credit_member(
                    conn, member.id, available=plan.available, pending=plan.pending, growth=growth, tier=upgrade, now=now
                )
        except IntegrityError as conflict:
            return await replay_after_conflict(core.db, conflict, scope, key, fingerprint, request.member)
    result = result_from_values(posting_id, values)
    if tier_after.code != tier.code:
        core.host.notify_tier_change(TierChange(member.id, tier, tier_after, upgrade.reason))
    return result
