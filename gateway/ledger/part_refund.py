"""Refunds of parts of an activity: the format's plugin says what the parts cost and what share of the points they earned.

The generic refund (:func:`gateway.ledger.reverse.refund_activity`) takes an amount and claws
back that amount's share of the activity's points. That is right when every unit of money earned
alike; it is wrong for a receipt whose gift card earned nothing or whose fresh food earned double:
returning the gift card would cost the member points it never earned. An activity kind that
declares ``refund_input_type`` and ``to_refund`` gets a mutation ``refund<Format><Kind>``: the
till names the parts (lines and quantities), the plugin computes the money and the share, and
the refund posts through the same ledger code, under the member's lock (so two tills returning
the same line at once cannot both win), once per idempotency key.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from typing import Any

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.postings import PostingResult
from gateway.ledger.reverse import PartRefund, RefundRequest, refund_activity
from gateway.money import Money
from gateway.plugin_api import (
    Activity,
    ActivityKind,
    EarlierRefund,
    PluginSettings,
    RefundDraft,
)
from gateway.plugin_settings import current_settings


@dataclasses.dataclass(frozen=True)
class PartRefundRequest:
    """A till's refund of parts of the activity it recorded under ``original_key`` (the receipt id)."""

    format: str
    kind: str
    original_key: str
    idempotency_key: str
    input: Any


def refund_kind(core: Core, format_code: str, kind: str) -> ActivityKind:
    """The activity kind, if it refunds by parts; ``UNKNOWN_FORMAT`` otherwise."""
    found = core.registry.activity_kinds.get((format_code, kind))
    if found is None or found.to_refund is None:
        raise AtriumError(ErrorCode.UNKNOWN_FORMAT, f"Format {format_code!r} refunds no {kind!r} by parts.", "format")
    return found


def as_json(value: Any) -> Any:
    """A strawberry input (a dataclass) as plain JSON values: what a replay of the request must match."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: as_json(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [as_json(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): as_json(item) for key, item in value.items()}
    if isinstance(value, Enum):
        return as_json(value.value)
    if isinstance(value, (Decimal, datetime, date)):
        return str(value)
    return value


def stored_activity(kind: ActivityKind, original: PostingResult, settings: PluginSettings | None) -> Activity:
    """The activity as its earn rules saw it, rebuilt from the earn posting (with today's settings)."""
    return Activity(
        format=kind.format,
        kind=kind.name,
        reference=original.idempotency_key,
        amount=Money(int(original.amount_minor or 0), original.currency or ""),
        occurred_at=original.occurred_at,
        store=original.store,
        details=dict(original.details),
        settings=settings,
    )


def _checked(draft: object, plugin: str) -> RefundDraft:
    """The plugin's draft, if it is one the ledger can post; ``PLUGIN_FAILED`` otherwise."""
    if not isinstance(draft, RefundDraft) or not isinstance(draft.amount, Money):
        raise AtriumError(ErrorCode.PLUGIN_FAILED, f"Plugin {plugin!r} returned {draft!r}, not a RefundDraft.")
    share = draft.share
    if share is not None and (not isinstance(share, Fraction) or not 0 <= share <= 1):
        raise AtriumError(ErrorCode.PLUGIN_FAILED, f"Plugin {plugin!r} gave the refund share {share!r}: a Fraction from 0 to 1.")
    try:
        json.dumps(dict(draft.details))
    except (TypeError, ValueError) as exc:
        raise AtriumError(ErrorCode.PLUGIN_FAILED, f"Plugin {plugin!r} gave refund details that are not JSON: {exc}.") from exc
    return draft


async def refund_parts(core: Core, request: PartRefundRequest, *, now: datetime) -> PostingResult:
    """Refund the parts of an activity the till names, exactly once per idempotency key.

    The plugin's ``to_refund`` runs with the member locked and the earlier refunds read in the
    same transaction. Its :class:`~gateway.plugin_api.ActivityRejected` is the till's error (field
    under ``input``; ``REFUND_EXCEEDS_ACTIVITY`` keeps the key failed, as for any refund); any
    other exception is ``PLUGIN_FAILED`` naming the plugin. Nothing is written on either.
    """
    kind = refund_kind(core, request.format, request.kind)
    to_refund = kind.to_refund
    assert to_refund is not None
    plugin = core.registry.owner[("activity kind", kind.format, kind.name)]
    settings = await current_settings(core, kind.format)

    def plan(original: PostingResult, earlier: tuple[EarlierRefund, ...]) -> RefundDraft:
        if original.activity_kind != kind.name:
            raise AtriumError(
                ErrorCode.POSTING_NOT_FOUND,
                f"{original.idempotency_key!r} is a {kind.format} {original.activity_kind or 'activity'}, not a {kind.name}.",
                "original",
            )
        try:
            draft = to_refund(stored_activity(kind, original, settings), request.input, earlier)
        except AtriumError as exc:
            raise exc.with_field_prefix("input") from None
        except Exception as exc:
            raise AtriumError(ErrorCode.PLUGIN_FAILED, f"Plugin {plugin!r} failed to work out the refund: {exc!r}.") from exc
        return _checked(draft, plugin)

    refund = RefundRequest(
        format=kind.format,
        amount=None,
        idempotency_key=request.idempotency_key,
        original_key=request.original_key,
        part=PartRefund(request={"kind": kind.name, "input": as_json(request.input)}, plan=plan),
    )
    try:
        return await refund_activity(core, refund, now=now)
    except AtriumError as exc:
        if exc.field is not None and exc.field.split(".")[0] == "amount":  # the amount is the parts' cost here
            raise AtriumError(exc.code, exc.message, "input") from None
        raise
