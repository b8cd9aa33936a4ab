"""Points plus cash (积分不足现金补差价): points pay part of a bill, cash pays the rest.

The policy is the group's, with a per-format exception: a point pays ``points_value_minor``
minor units of the group's currency (default 1 fen: 100 pts = CN¥1.00), and points may pay at
most ``points_offset_cap_percent`` percent of a bill (default 50). ``points_offset_overrides``
(``{"dining": {"points_value_minor": 2, "cap_percent": 30}}``) changes either for one format; a
field it leaves out keeps the group's value. A format's plugin may lower its cap further in its
own settings (``PluginSettings.points_offset_cap``), never raise it. Settings, not the plugin, decide: the rate is what
the group pays its formats for a point in settlement, which no single format should set alone.

Integers only, and every rounding favours cash over points:

- the cap in money is ``floor(bill × cap_percent / 100)`` minor units;
- the most points it allows is ``floor(cap / points_value_minor)``: a partial point never pays,
  so a remainder smaller than one point's value is paid in cash;
- the offset is exactly ``points × points_value_minor`` and the cash ``bill − offset``.

:func:`quote_points_offset` reads (it never writes) how many points may pay a bill now:
``min(available balance, what the cap allows)``. :func:`apply_points_offset` spends them as an
``offset`` posting, a redemption in all but name: the wallet is debited by a guarded update under
the member's lock (never overdrawn), lots are drawn first-expiring-first and recorded, the format's
redemption account is credited, and the bill's split is kept in the posting's details. Once per
idempotency key; a refusal for the member's state keeps its key failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.identity import find_member_id
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
from gateway.members import get_members
from gateway.money import Money
from gateway.notices import notifying_write
from gateway.persistence.models import WALLET, redemption_account
from gateway.plugin_settings import current_settings
from gateway.settings import Settings


@dataclass(frozen=True)
class OffsetPolicy:
    """What a point pays in a format (``points_value_minor``) and the most of a bill points may pay."""

    points_value_minor: int
    cap_percent: int

    def max_points(self, bill: Money) -> int:
        """The most points that may pay ``bill``, whatever the balance (both roundings down)."""
        return bill.minor * self.cap_percent // 100 // self.points_value_minor


@dataclass(frozen=True)
class OffsetQuote:
    """How far a member's points go on one bill in one format, as of the quote."""

    member_id: int
    format: str
    bill: Money
    policy: OffsetPolicy
    balance: int
    max_points: int
    points: int

    @property
    def offset(self) -> Money:
        """What :attr:`points` pay."""
        return Money(self.points * self.policy.points_value_minor, self.bill.currency)

    @property
    def cash(self) -> Money:
        """What is left to pay in cash once :attr:`points` are used."""
        return Money(self.bill.minor - self.offset.minor, self.bill.currency)


@dataclass(frozen=True)
class OffsetRequest:
    """Pay ``points`` of a member's points towards ``bill`` in ``format``; the till's bill id is the key."""

    member: MemberRef
    format: str
    bill: Money
    points: int
    idempotency_key: str


def offset_policy(settings: Settings, format_code: str, format_cap: int | None = None) -> OffsetPolicy:
    """The group's points-plus-cash policy, with ``format_code``'s override applied.

    ``format_cap`` is the format plugin's own cap (its settings' ``points_offset_cap()``): the
    lower of it and the group's applies, so a format can take fewer points on its bills, not more.
    """
    override = settings.points_offset_overrides.get(format_code)
    value = settings.points_value_minor
    cap = settings.points_offset_cap_percent
    if override is not None:
        value = override.points_value_minor if override.points_value_minor is not None else value
        cap = override.cap_percent if override.cap_percent is not None else cap
    if format_cap is not None:
        cap = min(cap, format_cap)
    return OffsetPolicy(points_value_minor=value, cap_percent=cap)


async def format_offset_policy(core: Core, format_code: str) -> OffsetPolicy:
    """:func:`offset_policy` with the format's current plugin settings (through the configuration cache)."""
    plugin_settings = await current_settings(core, format_code)
    format_cap = plugin_settings.points_offset_cap() if plugin_settings is not None else None
    return offset_policy(core.settings, format_code, format_cap)


def _format_name(core: Core, format_code: str) -> str:
    found = core.registry.formats.get(format_code)
    if found is None:
        raise AtriumError(ErrorCode.UNKNOWN_FORMAT, f"There is no format {format_code!r}.", "format")
    return found.name


def _check_bill(core: Core, bill: Money) -> Money:
    settings = core.settings
    if bill.currency != settings.currency:
        raise AtriumError(
            ErrorCode.UNSUPPORTED_CURRENCY, f"The group runs its points in {settings.currency}; got {bill.currency}.", "bill.currency"
        )
    if type(bill.minor) is not int or bill.minor <= 0:
        raise AtriumError(ErrorCode.INVALID_AMOUNT, "The bill must be greater than zero.", "bill.amount")
    if bill.minor > settings.max_activity_amount_minor:
        raise AtriumError(ErrorCode.INVALID_AMOUNT, "The bill exceeds the per-activity limit.", "bill.amount")
    return bill


async def quote_points_offset(core: Core, member: MemberRef, format_code: str, bill: Money, *, now: datetime) -> OffsetQuote:
    """How many of the member's points may pay ``bill`` in ``format_code`` now, and the cash left.

    Reads only: the balance is the one reads show (matured pending points and lapsed holds count).
    A frozen or inactive member gets the error a payment would get.
    """
    _format_name(core, format_code)
    _check_bill(core, bill)
    async with core.db.read() as conn:
        member_id = member.member_id if member.identity is None else await find_member_id(conn, member.identity)
        (row,) = await get_members(conn, [member_id], now=now.astimezone(UTC)) if member_id is not None else [None]
    if row is None:
        raise AtriumError(ErrorCode.MEMBER_NOT_FOUND, "No such member.", "member")
    require_active(row)
    policy = await format_offset_policy(core, format_code)
    balance = max(row.available_points, 0)
    cap = policy.max_points(bill)
    return OffsetQuote(
        member_id=row.id, format=format_code, bill=bill, policy=policy, balance=balance, max_points=cap, points=min(balance, cap)
    )


async def apply_points_offset(core: Core, request: OffsetRequest, *, now: datetime) -> PostingResult:
    """Pay part of a bill with points: an ``offset`` posting, exactly once per idempotency key.

    ``points`` beyond what the policy allows on this bill is ``INVALID_INPUT``; beyond the
    member's balance, ``INSUFFICIENT_POINTS`` (the key then stays failed).
    """
    format_name = _format_name(core, request.format)
    key = check_idempotency_key(request.idempotency_key)
    bill = _check_bill(core, request.bill)
    policy = await format_offset_policy(core, request.format)
    limit = policy.max_points(bill)
    points = request.points
    if type(points) is not int or points < 1:
        raise AtriumError(ErrorCode.INVALID_INPUT, "Pay with a whole number of points, at least 1.", "points")
    if points > limit:
        raise AtriumError(
            ErrorCode.INVALID_INPUT,
            f"At most {limit} pts may pay this bill: {policy.cap_percent}% of {bill.format(core.settings.locale)} "
            f"at {policy.points_value_minor} minor unit(s) a point.",
            "points",
        )
    offset = Money(points * policy.points_value_minor, bill.currency)
    cash = Money(bill.minor - offset.minor, bill.currency)
    scope = f"offset:{request.format}"
    fingerprint = request_hash({"bill": bill.minor, "currency": bill.currency, "points": points})
    now = now.astimezone(UTC)
    locale = core.settings.locale
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
                spent = await spend_points(conn, member.id, points)
                if spent is None:
                    raise AtriumError(
                        ErrorCode.INSUFFICIENT_POINTS,
                        f"Paying {offset.format(locale)} takes {points} pts; the member has {member.points_balance}.",
                    )
                balance_after, draws = spent
                values = {
                    "member_id": member.id,
                    "kind": "offset",
                    "format": request.format,
                    "idempotency_scope": scope,
                    "idempotency_key": key,
                    "request_hash": fingerprint,
                    "points": -points,
                    "growth": 0,
                    "balance_after": int(balance_after),
                    "tier_before": member.tier_code,
                    "tier_after": member.tier_code,
                    "reason": (
                        f"{format_name} bill of {bill.format(locale)}: -{points} pts paid {offset.format(locale)}, "
                        f"{cash.format(locale)} in cash"
                    )[:500],
                    "lines": [
                        {
                            "rule": f"{request.format}.offset",
                            "points": -points,
                            "growth": 0,
                            "reason": f"{points} pts at {policy.points_value_minor} minor unit(s) each pay {offset.format(locale)}",
                        }
                    ],
                    "amount_minor": bill.minor,
                    "currency": bill.currency,
                    "details": {
                        "billMinor": bill.minor,
                        "offsetMinor": offset.minor,
                        "cashMinor": cash.minor,
                        "currency": bill.currency,
                        "pointsValueMinor": policy.points_value_minor,
                        "capPercent": policy.cap_percent,
                    },
                    "occurred_at": now,
                    "created_at": now,
                }
                posting_id = await insert_posting(conn, values)
                await insert_entries(
                    conn, posting_id, [(WALLET, member.id, -points), (redemption_account(request.format), None, points)]
                )
                await consume_lots(conn, posting_id, draws)
        except IntegrityError as conflict:
            return await replay_after_conflict(core.db, conflict, scope, key, fingerprint, request.member)
    return result_from_values(posting_id, values)
