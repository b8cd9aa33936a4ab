"""Hook specifications: what a business-format plugin can contribute to Atrium.

Registration hooks are called once, when the app is built, with a ``register`` callback. The
gateway validates every item, records which plugin gave it, and refuses to start on a clash (two
plugins giving one format, rule, reward or GraphQL name). Hook order never matters: items are keyed
by their codes, and plugins are loaded sorted by entry-point name.

Notification hooks are called after a commit, one implementation at a time; one that raises is
logged and the posting stands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

from gateway.plugin_api import PROJECT

if TYPE_CHECKING:
    from gateway.plugin_api import (
        ActivityKind,
        Benefit,
        BenefitUseEvent,
        BusinessFormat,
        CouponEvent,
        EarnRule,
        FormatSettings,
        PostingEvent,
        RedemptionType,
        TierChange,
    )

hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def atrium_register_formats(register: Callable[[BusinessFormat], None]) -> None:
    """Register the business formats this plugin runs.

    The gateway creates the format's issuance and redemption accounts on first posting and lists
    the format in ``formats``. A code registered twice fails start-up naming both plugins.

    :param register: call with a :class:`~gateway.plugin_api.BusinessFormat` per format.
    """


@hookspec
def atrium_register_activity_kinds(register: Callable[[ActivityKind], None]) -> None:
    """Register the activities a format records and their typed GraphQL inputs.

    The gateway adds one mutation per kind, ``record<Format><Name>``, to the composed schema, and
    turns the input into an activity with the kind's ``to_activity`` before any earn rule runs.

    :param register: call with an :class:`~gateway.plugin_api.ActivityKind` per kind.
    """


@hookspec
def atrium_register_earn_rules(register: Callable[[EarnRule], None]) -> None:
    """Register earn rules: how an activity of a format turns into points and growth value.

    For each recorded activity the gateway runs every rule of the activity's format (sorted by
    code), sums their lines, applies the member's tier multiplier, and posts the result.

    :param register: call with an :class:`~gateway.plugin_api.EarnRule` per rule.
    """


@hookspec
def atrium_register_benefits(register: Callable[[Benefit], None]) -> None:
    """Register the benefits a format offers, each unlocked from a minimum tier.

    The gateway shows them on every member's benefits wall, unlocked or locked with the tier that
    unlocks them. An unknown ``min_tier`` fails start-up.

    :param register: call with a :class:`~gateway.plugin_api.Benefit` per benefit.
    """


@hookspec
def atrium_register_redemption_types(register: Callable[[RedemptionType], None]) -> None:
    """Register rewards members can buy with points earned in any format.

    The gateway lists them in the rewards catalogue, and on ``redeem`` validates the request,
    debits the wallet without overdraft, consumes lots first-expiring-first and stores the
    fulfilment in the same transaction.

    :param register: call with a :class:`~gateway.plugin_api.RedemptionType` per reward.
    """


@hookspec
def atrium_register_graphql_types(register: Callable[[type], None]) -> None:
    """Register extra strawberry types the plugin wants in the composed schema.

    Use it for types not reachable from an activity input, such as implementations of a gateway
    interface. A GraphQL name already taken fails start-up naming both contributors.

    :param register: call with a strawberry type, input, enum or interface class.
    """


@hookspec
def atrium_register_settings(register: Callable[[FormatSettings], None]) -> None:
    """Register a format's settings: a typed model of its tunables that admins change at run time.

    The gateway lets admins read the model's JSON schema and values and change them through
    GraphQL (``pluginSettings``, ``updatePluginSettings``), validating every change with the model
    and auditing it, and gives earn rules and redemption steps the current values as
    ``activity.settings`` and ``request.settings``. One model per format; a second fails start-up.

    :param register: call with a :class:`~gateway.plugin_api.FormatSettings` per format.
    """


@hookspec
def atrium_posting_committed(event: PostingEvent) -> None:
    """Be told of every committed posting, of every kind and format (to notify a till, a CRM, a message bus).

    Called once per posting after its transaction committed (never for a replayed request or a
    rolled-back transaction); the posting stands whatever the hook does. An exception is logged
    with the plugin's name and swallowed.

    :param event: the committed :class:`~gateway.plugin_api.PostingEvent`; ``event.kind`` says
        what it did (:data:`~gateway.plugin_api.PostingKind`).
    """


@hookspec
def atrium_coupon_changed(event: CouponEvent) -> None:
    """Be told that a coupon was issued, used, cancelled or marked expired (to track coupon usage).

    Called once per coupon and change after the commit, like ``atrium_posting_committed``;
    exceptions are logged and swallowed.

    :param event: the :class:`~gateway.plugin_api.CouponEvent`.
    """


@hookspec
def atrium_benefit_use_changed(event: BenefitUseEvent) -> None:
    """Be told that a benefit was used, or a use cancelled (to track benefit usage, update a POS).

    Called once per use and once per cancellation after the commit; exceptions are logged and
    swallowed.

    :param event: the :class:`~gateway.plugin_api.BenefitUseEvent`.
    """


@hookspec
def atrium_tier_changed(change: TierChange) -> None:
    """Be told that a member changed tier (to send a congratulation, update a POS profile).

    Called after the commit that changed the tier; exceptions are logged and swallowed.

    :param change: the :class:`~gateway.plugin_api.TierChange`.
    """
