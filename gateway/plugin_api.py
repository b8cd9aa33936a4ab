"""The public plugin API: the one module a business format's plugin imports.

A plugin is a Python module (or object) with functions marked ``@hookimpl`` whose names match the
hook specifications in :mod:`gateway.hookspecs`, published in the ``atrium`` entry-point group::

    # pyproject.toml of your plugin
    [project.entry-points.atrium]
    cinema = "atrium_cinema"

    # atrium_cinema/__init__.py
    from gateway.plugin_api import BusinessFormat, hookimpl

    @hookimpl
    def atrium_register_formats(register):
        register(BusinessFormat(code="cinema", name="Cinema"))

Registration hooks receive a ``register`` callback: the gateway validates each item, remembers
which plugin gave it and refuses to start on a clash. Everything here is a frozen dataclass so a
plugin cannot change what the gateway holds. Points are integers; money is :class:`Money`.

A format's tunables (rates, excluded categories, waiting periods) are a :class:`PluginSettings`
model registered with ``atrium_register_settings``; admins change them at run time, and earn
rules and redemption steps read the current values from ``activity.settings`` /
``request.settings`` (filled by the gateway from its configuration cache, so no query per call),
best through ``YourSettings.of(activity)``, which falls back to the defaults.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

import pluggy
import strawberry

from gateway.errors import AtriumError, ErrorCode
from gateway.money import Money, apply_multiplier, parse_money, points_for
from gateway.plugin_settings_types import FormatSettings, PluginSettings

VOUCHER_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
"""RFC 4648 base32: upper-case letters and 2-7, nothing to mistake for O or I at a till."""

PROJECT = "atrium"
ENTRY_POINT_GROUP = "atrium"

hookimpl = pluggy.HookimplMarker(PROJECT)
"""Decorator marking a plugin's implementation of an Atrium hook."""


@strawberry.input(description="An amount of money in major units, e.g. {amount: \"120.00\", currency: \"CNY\"}.")
class MoneyInput:
    """GraphQL input for money; plugins use it in their activity inputs."""

    amount: Decimal = strawberry.field(description="Decimal amount in major units, as a string: \"120.00\".")
    currency: str = strawberry.field(description="ISO 4217 code, e.g. CNY.")

    def to_money(self, *, field: str, allow_zero: bool = False) -> Money:
        """Validate and convert to :class:`Money`; errors name ``<field>.amount`` or ``<field>.currency``."""
        parse_money(0, self.currency, field=f"{field}.currency", allow_zero=True)
        return parse_money(self.amount, self.currency, field=f"{field}.amount", allow_zero=allow_zero)


# --- helpers for plugin authors ------------------------------------------------------------------


def voucher_code(prefix: str, length: int = 10) -> str:
    """A fresh, unguessable voucher code such as ``DIN-K7Q2M4XZ3A`` (5 bits a character)."""
    return prefix + "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(length))


def whole_units(currency: str, units: int = 1, locale: str = "en_US") -> str:
    """``units`` major units without decimals, for rate text: ``CN¥1`` rather than ``CN¥1.00``."""
    whole = Money(units * 10 ** Money(0, currency).exponent, currency).format(locale)
    head, dot, decimals = whole.rpartition(".")
    return head if dot and decimals.strip("0") == "" and head else whole


def required_text(value: str, *, field: str, max_length: int = 64) -> str:
    """``value`` stripped; empty or longer than ``max_length`` raises :class:`ActivityRejected`."""
    text = value.strip()
    if not text:
        raise ActivityRejected("This field cannot be empty.", field=field)
    if len(text) > max_length:
        raise ActivityRejected(f"This field has at most {max_length} characters.", field=field)
    return text


# --- formats and activities -------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessFormat:
    """A business format of the group (retail, dining, property ...).

    :param code: lowercase identifier, letters and digits, used in ids and mutation names.
    :param name: display name shown to members and admins.
    """

    code: str
    name: str
    description: str = ""


class ActivityRejected(AtriumError):
    """Raised by a plugin when an activity input is invalid; nothing is written.

    ``field`` is the path inside the plugin's input (``items.2.unitPrice``); the gateway prefixes
    it with the argument name.
    """

    def __init__(self, message: str, field: str | None = None, code: ErrorCode = ErrorCode.INVALID_INPUT) -> None:
        super().__init__(code, message, field)


@dataclass(frozen=True)
class ActivityDraft:
    """What a plugin makes of its typed activity input, before the gateway checks it.

    :param amount: the activity's total amount; the gateway refuses zero, negative, over-precise
        or absurd amounts and foreign currencies before any earn rule runs.
    :param occurred_at: when the activity happened (timezone-aware); ``None`` means now.
    :param store: the store, restaurant or property site, if any.
    :param details: JSON-serialisable facts the earn rules need (line items, covers ...); stored
        with the posting and shown in history.
    """

    amount: Money
    occurred_at: datetime | None = None
    store: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Activity:
    """A validated activity of one format, as earn rules see it.

    ``settings`` is the format's current :class:`PluginSettings` instance when the format
    registered a settings model (``None`` otherwise, or when a test builds the activity by hand);
    read it with ``YourSettings.of(activity)``, which falls back to the model's defaults.
    """

    format: str
    kind: str
    reference: str
    amount: Money
    occurred_at: datetime
    store: str | None
    details: Mapping[str, Any]
    settings: PluginSettings | None = None
    money_paid: Money | None = None
    """The part of ``amount`` paid in money, when the till said points or coupons paid the rest
    (``paidWith``); ``None`` means all of it. Earn rules compute on the whole activity as usual:
    the gateway scales every line down to this share (points are earned on money only)."""


@strawberry.interface(description="Format-specific facts of a recorded activity: a receipt's lines, a bill's covers ...")
class ActivityDetails:
    """What a format shows about one of its activities; plugins implement it with their own type.

    The implementing type has a classmethod ``from_activity(activity: Activity)`` that builds it
    from the stored :class:`Activity` (its ``details`` are what ``to_activity`` returned), so
    showing details never costs a query.
    """

    summary: str = strawberry.field(description="One line a member can read, e.g. \"4 items at store SH-001\".")


@dataclass(frozen=True)
class ActivityKind:
    """One kind of activity a format records, and its typed GraphQL input.

    The gateway adds a mutation ``record<Format><Name>(member, idempotencyKey, input)`` taking
    ``input_type`` (a ``@strawberry.input`` class) and calls ``to_activity(input)`` to turn it into
    an :class:`ActivityDraft`; ``to_activity`` raises :class:`ActivityRejected` on bad input.

    :param format: the format code this activity belongs to.
    :param name: short name, e.g. ``purchase``; with the format it names the mutation.
    :param input_type: the strawberry input class; its GraphQL name must be unique in the schema.
    :param details_type: optional strawberry type implementing :class:`ActivityDetails`, shown as
        ``Posting.activity`` in history; built with its ``from_activity(activity)`` classmethod.
    :param refund_input_type: optional ``@strawberry.input`` class for refunding *parts* of an
        activity (a receipt's lines, a dish taken off a bill); with ``to_refund``, the gateway adds a
        mutation ``refund<Format><Name>(original, idempotencyKey, input)`` next to the generic
        ``refundActivity`` (which refunds an amount).
    :param to_refund: ``to_refund(activity, input, earlier)`` turns that input into a
        :class:`RefundDraft`, given the recorded :class:`Activity` and its ``earlier`` refunds
        (:class:`EarlierRefund`, oldest first). The gateway calls it with the member locked, so
        two tills refunding the same line at once cannot both succeed. Raise
        :class:`ActivityRejected` for bad input, with ``code=ErrorCode.REFUND_EXCEEDS_ACTIVITY``
        when more is asked than is left to refund.
    """

    format: str
    name: str
    input_type: type
    to_activity: Callable[[Any], ActivityDraft]
    description: str = ""
    details_type: type | None = None
    refund_input_type: type | None = None
    to_refund: Callable[[Activity, Any, tuple[EarlierRefund, ...]], RefundDraft] | None = None

    def __post_init__(self) -> None:
        if (self.refund_input_type is None) != (self.to_refund is None):
            raise ValueError("ActivityKind needs both refund_input_type and to_refund, or neither")


@dataclass(frozen=True)
class EarlierRefund:
    """A refund already made on an activity, as ``to_refund`` sees it.

    :param amount: the money it refunded.
    :param details: the :attr:`RefundDraft.details` it was made with; empty for a refund of an
        amount through ``refundActivity``, which names no parts.
    """

    amount: Money
    details: Mapping[str, Any]


@dataclass(frozen=True)
class RefundDraft:
    """What a format makes of a refund of parts of one of its activities.

    :param amount: the money refunded; with the earlier refunds at most the activity's amount.
    :param share: the share of the activity's points and growth value this refund takes back,
        an exact :class:`~fractions.Fraction` from 0 to 1 (a returned gift card: 0; the only
        earning line of a receipt: 1). ``None`` takes the amount's share of the activity's
        amount, as ``refundActivity`` does. The gateway adds the shares of an activity's refunds
        up (never past 1; a refund of the whole amount makes it 1) and claws back
        ``floor(points × shares so far)`` minus what earlier refunds took, so refunds in pieces
        add up exactly.
    :param summary: what was refunded in words ("1 × APP-TSHIRT returned"), for the member's history.
    :param details: JSON facts of the refund (lines and quantities), stored with the refund's
        posting and handed to later ``to_refund`` calls as :attr:`EarlierRefund.details`.
    """

    amount: Money
    share: Fraction | None = None
    summary: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


# --- members, tiers and earning ------------------------------------------------------------------


@dataclass(frozen=True)
class TierInfo:
    """A rung of the group's tier ladder."""

    code: str
    name: str
    rank: int
    threshold: int
    multiplier: Decimal


@dataclass(frozen=True)
class MemberContext:
    """What earn rules and redemption types may know of the member."""

    member_id: int
    tier: TierInfo
    growth_value: int
    points_balance: int
    enrolled_at: datetime


@dataclass(frozen=True)
class EarnLine:
    """Points and growth value from one rule, with the reason a member reads.

    ``points`` are base points: the gateway applies the tier multiplier on top and says so in a
    line of its own. ``reason`` should name the rate and the base, e.g.
    ``"1 pt per ¥1 on ¥120.00 of eligible items"``.
    ``pending_days``: days after the activity before these points can be spent, e.g. a return window.
    """

    points: int
    growth: int
    reason: str
    pending_days: int = 0


@dataclass(frozen=True)
class EarnRule:
    """A rule that turns an activity of ``format`` into points and growth value.

    ``compute(activity, member)`` returns an :class:`EarnLine`, an iterable of them, or ``None``
    when the rule does not apply. It must be pure: it may be called again on a replay or a
    preview, and raising fails the request with ``PLUGIN_FAILED`` and writes nothing.
    """

    format: str
    code: str
    description: str
    compute: Callable[[Activity, MemberContext], EarnLine | Iterable[EarnLine] | None]


# --- benefits and redemptions --------------------------------------------------------------------


@dataclass(frozen=True)
class Quota:
    """How often a member may use a benefit: ``count`` times per ``period``."""

    count: int
    period: Literal["day", "week", "month", "quarter", "year"]


@dataclass(frozen=True)
class Benefit:
    """A benefit of a format, unlocked from ``min_tier`` (a tier code) upward.

    Members use it with ``useBenefit(benefit: "<format>.<code>")`` at a till of the format; a
    ``quota`` limits uses per period, ``birthday_month`` to the member's birth month.
    """

    format: str
    code: str
    name: str
    description: str
    min_tier: str
    quota: Quota | None = None
    birthday_month: bool = False
    """Usable only in the member's birth month (a birthday dessert); locked without a birth date."""


class RedemptionRejected(AtriumError):
    """Raised by a redemption type's ``validate`` when the request cannot be honoured.

    ``field`` is ``None`` when the member's situation refuses it, or a field of the ``redeem``
    input relative to it (``quantity``); the gateway prefixes it (``input.quantity``).
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(ErrorCode.REDEMPTION_REJECTED, message, field)


@dataclass(frozen=True)
class RedemptionRequest:
    """A member's request to redeem ``quantity`` units of a reward for ``points`` points.

    ``settings`` is the format's current :class:`PluginSettings` instance, as on :class:`Activity`.
    """

    member: MemberContext
    format: str
    reward: str
    quantity: int
    points: int
    reference: str
    requested_at: datetime
    settings: PluginSettings | None = None


@dataclass(frozen=True)
class Fulfilment:
    """What the member gets: a readable ``reason`` and JSON-serialisable ``details``.

    ``details`` (a voucher code, parking hours ...) are stored with the posting in the same
    transaction and returned unchanged on a replay.
    """

    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)


_COUPON_PREFIX = re.compile(r"^[A-Z0-9-]{0,8}$")


@dataclass(frozen=True)
class CouponSpec:
    """A reward that is used later, at a till: redeeming it issues one coupon per unit.

    The gateway draws each coupon's code (``prefix`` plus 12 unguessable characters), stores it
    with the redemption in the same transaction and shows the codes in the posting's ``details``
    (``couponCodes``, ``couponsExpireAt``). A till of the issuing format looks a code up and uses
    it once (``coupon`` / ``useCoupon``); an unused coupon can be cancelled with its redemption,
    which gives the points back; a coupon not used within ``valid_days`` expires without points back.

    :param valid_days: days a coupon stays usable after it is issued, 1 to 3660.
    :param face_value: what one coupon is worth at the till (a CN¥10 voucher: ``Money(1000, "CNY")``).
    :param item: what one coupon is good for, in words ("Dessert of the day", "1 hour of visitor parking").
    :param prefix: up to 8 upper-case letters, digits or ``-`` starting each code, e.g. ``"RET-"``.

    Give ``face_value``, ``item`` or both: the till must know what a coupon is worth.
    """

    valid_days: int = 30
    face_value: Money | None = None
    item: str | None = None
    prefix: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.valid_days, int) or not 1 <= self.valid_days <= 3660:
            raise ValueError(f"CouponSpec.valid_days must be 1 to 3660, not {self.valid_days!r}")
        if self.face_value is None and not self.item:
            raise ValueError("CouponSpec needs a face_value, an item or both: what is one coupon worth?")
        if self.face_value is not None and (not isinstance(self.face_value, Money) or self.face_value.minor <= 0):
            raise ValueError(f"CouponSpec.face_value must be a positive Money, not {self.face_value!r}")
        if self.item is not None and not 1 <= len(self.item.strip()) <= 128:
            raise ValueError("CouponSpec.item must be 1 to 128 characters")
        if not isinstance(self.prefix, str) or not _COUPON_PREFIX.match(self.prefix):
            raise ValueError(f"CouponSpec.prefix must be at most 8 of A-Z, 0-9 and '-', not {self.prefix!r}")


@dataclass(frozen=True)
class RedemptionType:
    """A reward of a format that members buy with points from any format.

    :param points: cost of one unit in points.
    :param max_quantity: most units in one redemption.
    :param min_tier: tier code needed to redeem, ``None`` for everybody.
    :param validate: optional check run before any write; raise :class:`RedemptionRejected`.
    :param fulfil: produces the :class:`Fulfilment`; must have no side effect outside what it
        returns, because the gateway may roll the transaction back after calling it.
    :param coupon: optional :class:`CouponSpec`: redeeming issues ``quantity`` coupons that a till
        of the format uses later; ``None`` for rewards fulfilled at once (a bill offset ...).
    """

    format: str
    code: str
    name: str
    description: str
    points: int
    fulfil: Callable[[RedemptionRequest], Fulfilment]
    max_quantity: int = 1
    min_tier: str | None = None
    validate: Callable[[RedemptionRequest], None] | None = None
    coupon: CouponSpec | None = None


# --- notifications ------------------------------------------------------------------------------


PostingKind = Literal[
    "earn", "redeem", "reverse", "cancel", "hold", "capture", "void", "offset", "adjust", "release", "expire", "merge"
]
"""What a committed posting did; the ``kind`` of a :class:`PostingEvent` and, upper-cased, of ``Posting.kind``.

``earn`` an activity earned points; ``redeem`` a reward was bought; ``reverse`` an activity was
refunded (wholly, by amount or by parts); ``cancel`` a redemption was cancelled (with its coupons);
``hold`` points were reserved at a till; ``capture`` held points were spent, the rest given back;
``void`` a hold was given back, by the till or because it lapsed (then ``reference`` is ``None``);
``offset`` points paid part of a bill; ``adjust`` an admin credited or debited points; ``release``
pending points became spendable; ``expire`` points passed their expiry date (one posting per member
per run); ``merge`` a member record was merged into this member. New kinds may be added: ignore
kinds you do not know.
"""


@dataclass(frozen=True)
class PostingEvent:
    """A committed posting, as notification hooks see it.

    :param kind: what it did (:data:`PostingKind`).
    :param format: the format it belongs to; ``"group"`` for postings of the whole group (an admin
        adjustment, a merge, a release or expiry spanning several formats).
    :param points: the posting's points as the member's history shows them: negative for a
        redemption, a hold, an offset, a refund, an expiry; an earn and a refund count pending
        points too, a merge the merged record's pending and held points.
    :param balance_after: the member's spendable balance after the posting.
    :param occurred_at: when it happened (an expiry's or a lapse's date, an activity's time).
    :param reference: the idempotency key the caller gave (a receipt or bill id, an admin's key);
        ``None`` for postings the gateway makes by itself (release, expire, a lapsed hold's void, merge).
    """

    posting_id: int
    member_id: int
    kind: PostingKind
    format: str
    points: int
    growth: int
    balance_after: int
    reason: str
    occurred_at: datetime | None = None
    reference: str | None = None


CouponChange = Literal["issued", "used", "cancelled", "expired"]
"""What happened to a coupon: a redemption ``issued`` it, a till ``used`` it, its redemption was
``cancelled`` (the points went back), or the expiry job marked it ``expired`` (no points back)."""


@dataclass(frozen=True)
class CouponEvent:
    """A committed change of one coupon, as ``atrium_coupon_changed`` sees it.

    :param code: the coupon's code, as printed for the member.
    :param member_id: the member the coupon belongs to now (the survivor after a merge).
    :param format: the issuing format, the only one whose tills can use it.
    :param reward: the code of the reward (redemption type) that issued it.
    :param at: when it was issued, used or cancelled, or (``expired``) when its validity ended.
    :param till: for ``used``: the till or store the caller named, if any.
    :param cancel_posting_id: for ``cancelled``: the cancellation's posting.
    """

    coupon_id: int
    code: str
    member_id: int
    format: str
    reward: str
    kind: CouponChange
    redemption_posting_id: int
    at: datetime
    till: str | None = None
    cancel_posting_id: int | None = None


@dataclass(frozen=True)
class BenefitUseEvent:
    """A committed use of a benefit, or its cancellation, as ``atrium_benefit_use_changed`` sees it.

    :param benefit: the benefit's id, ``<format>.<code>`` or ``group.<code>`` for a shared one.
    :param format: the format where it was used; ``None`` when the caller did not say.
    :param kind: ``"use"``, or ``"cancel"`` when a use was cancelled and its quota given back.
    :param reference: the caller's idempotency key of the use.
    :param remaining_in_period: what was left of the quota in the period right after the use
        (``None`` for a benefit without quota, and for a cancellation).
    """

    use_id: int
    member_id: int
    benefit: str
    format: str | None
    quantity: int
    kind: Literal["use", "cancel"]
    at: datetime
    reference: str
    remaining_in_period: int | None = None


@dataclass(frozen=True)
class TierChange:
    """A member moved from one tier to another."""

    member_id: int
    previous: TierInfo
    current: TierInfo
    reason: str


__all__ = [
    "ENTRY_POINT_GROUP",
    "Activity",
    "ActivityDetails",
    "ActivityDraft",
    "ActivityKind",
    "ActivityRejected",
    "AtriumError",
    "Benefit",
    "BenefitUseEvent",
    "BusinessFormat",
    "CouponChange",
    "CouponEvent",
    "CouponSpec",
    "EarlierRefund",
    "EarnLine",
    "EarnRule",
    "ErrorCode",
    "FormatSettings",
    "Fulfilment",
    "MemberContext",
    "Money",
    "MoneyInput",
    "PluginSettings",
    "PostingEvent",
    "PostingKind",
    "Quota",
    "RedemptionRejected",
    "RedemptionRequest",
    "RedemptionType",
    "RefundDraft",
    "TierChange",
    "TierInfo",
    "apply_multiplier",
    "hookimpl",
    "parse_money",
    "points_for",
    "required_text",
    "voucher_code",
    "whole_units",
]
