"""Redeeming a reward of any format with points earned anywhere, never overdrawing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.coupons import add_coupon_codes, issue_coupons
from gateway.ledger.earn import member_context
from gateway.ledger.failures import failure_stays_failure
from gateway.ledger.holds import catch_up
from gateway.ledger.lots import consume_lots, spend_points
from gateway.ledger.postings import (
    MemberRef,
    PostingResult,
    check_idempotency_key,
    find_replay,
    insert_entries,
    insert_posting,
    lock_member,
    replay_after_conflict,
    request_hash,
    require_active,
    result_from_values,
)
from gateway.notices import notifying_write
from gateway.persistence.models import WALLET, redemption_account
from gateway.plugin_api import (
    Fulfilment,
    RedemptionRequest,
    RedemptionType,
)
from gateway.plugin_settings import current_settings
from gateway.tiers import current_ladder


@dataclass(frozen=True)
class RedeemRequest:
    """A request to redeem ``quantity`` units of reward ``format.reward`` for a member."""

    member: MemberRef
    format: str
    reward: str
    quantity: int
    idempotency_key: str


def find_reward(core: Core, format_code: str, code: str) -> RedemptionType:
    """The reward, or ``UNKNOWN_FORMAT`` / ``UNKNOWN_REWARD``."""
    if format_code not in core.registry.formats:
        raise AtriumError(ErrorCode.UNKNOWN_FORMAT, f"There is no format {format_code!r}.", "format")
    reward = core.registry.reward(format_code, code)
    if reward is None:
        raise AtriumError(ErrorCode.UNKNOWN_REWARD, f"Format {format_code!r} offers no reward {code!r}.", "reward")
    return reward


def _plugin_call(core: Core, reward: RedemptionType, step: str, request: RedemptionRequest) -> Fulfilment | None:
    plugin = core.registry.owner[("redemption type", reward.format, reward.code)]
    function = reward.validate if step == "validate" else reward.fulfil
    if function is None:
        return None
    try:
        return function(request)
    except AtriumError:
        raise
    except Exception as exc:
        raise AtriumError(
            ErrorCode.PLUGIN_FAILED, f"Plugin {plugin!r} failed to {step} reward {reward.code!r}: {exc!r}."
        ) from exc


async def redeem(core: Core, request: RedeemRequest, *, now: datetime) -> PostingResult:
    """Spend points on a reward, exactly once per idempotency key, without ever overdrawing.

    The wallet is debited by a guarded update inside a transaction that holds the member's lock;
    lots are consumed first-expiring-first and each draw is recorded, so every redeemed point
    traces to the format that issued it. Pending points cannot be spent. A refusal for the
    member's state (too few points, tier too low, rejected by the format, frozen) keeps the key
    failed: a retry gets the same error even after the member has earned enough.
    """
    reward = find_reward(core, request.format, request.reward)
    settings = await current_settings(core, reward.format)
    key = check_idempotency_key(request.idempotency_key)
    limit = min(reward.max_quantity, core.settings.max_redemption_quantity)
    if not isinstance(request.quantity, int) or not 1 <= request.quantity <= limit:
        raise AtriumError(ErrorCode.INVALID_QUANTITY, f"Quantity must be between 1 and {limit}.", "quantity")
    cost = reward.points * request.quantity
    scope = f"redeem:{reward.format}"
    fingerprint = request_hash({"reward": reward.code, "quantity": request.quantity})
    now = now.astimezone(UTC)
    ladder = await current_ladder(core)
    async with failure_stays_failure(core.db, scope=scope, key=key, fingerprint=fingerprint, now=now) as attempt:
        try:
            async with notifying_write(core) as conn:
                member = await lock_member(conn, request.member)
                member = await catch_up(core, conn, member, now=now)
                replay = await find_replay(conn, scope, key, fingerprint, member.id)
                if replay is not None:
                    return replay
                attempt.member_id = member.id
                require_active(member)
                context = member_context(core, member, ladder)
                if reward.min_tier and not ladder.at_least(member.tier_code, reward.min_tier):
                    needed = ladder.get(reward.min_tier).name
                    raise AtriumError(ErrorCode.TIER_TOO_LOW, f"{reward.name} needs {needed} tier or above.", "reward")
                plugin_request = RedemptionRequest(
                    member=context,
                    format=reward.format,
                    reward=reward.code,
                    quantity=request.quantity,
                    points=cost,
                    reference=key,
                    requested_at=now,
                    settings=settings,
                )
                _plugin_call(core, reward, "validate", plugin_request)
                spent = await spend_points(conn, member.id, cost)
                if spent is None:
                    raise AtriumError(
                        ErrorCode.INSUFFICIENT_POINTS,
                        f"{reward.name} ×{request.quantity} costs {cost} pts; the member has {member.points_balance}.",
                    )
                balance_after, draws = spent
                fulfilment = _plugin_call(core, reward, "fulfil", plugin_request)
                if not isinstance(fulfilment, Fulfilment):
                    raise AtriumError(ErrorCode.PLUGIN_FAILED, f"Reward {reward.code!r} returned {fulfilment!r}.")
                details = dict(fulfilment.details)
                json.dumps(details)
                coupon_codes = add_coupon_codes(reward, details, request.quantity, now)
                format_name = core.registry.formats[reward.format].name
                values = {
                    "member_id": member.id,
                    "kind": "redeem",
                    "format": reward.format,
                    "idempotency_scope": scope,
                    "idempotency_key": key,
                    "request_hash": fingerprint,
                    "points": -cost,
                    "growth": 0,
                    "balance_after": int(balance_after),
                    "tier_before": member.tier_code,
                    "tier_after": member.tier_code,
                    "reason": f"{format_name} reward: {fulfilment.reason} (-{cost} pts)"[:500],
                    "lines": [{"rule": f"{reward.format}.{reward.code}", "points": -cost, "growth": 0, "reason": f"{reward.name} ×{request.quantity} at {reward.points} pts each"}],
                    "reward_code": reward.code,
                    "quantity": request.quantity,
                    "details": details,
                    "occurred_at": now,
                    "created_at": now,
                }
                posting_id = await insert_posting(conn, values)
                await insert_entries(
                    conn, posting_id, [(WALLET, member.id, -cost), (redemption_account(reward.format), None, cost)]
                )
                await consume_lots(conn, posting_id, draws)
                if coupon_codes:
                    await issue_coupons(
                        conn, reward=reward, member_id=member.id, posting_id=posting_id, codes=coupon_codes, issued_at=now
                    )
        except IntegrityError as conflict:
            return await replay_after_conflict(core.db, conflict, scope, key, fingerprint, request.member)
    return result_from_values(posting_id, values)
