"""Typed, readable errors: every expected failure has a code, an optional field and a message.

Services raise :class:`AtriumError`; the GraphQL layer turns it into a ``UserError`` in the
mutation payload. Nothing is written when one is raised: the transaction rolls back. The one
exception is a business refusal of a keyed write (``INSUFFICIENT_POINTS`` ...): the key is then
remembered as failed, so a retry fails the same way (see ``gateway.ledger.failures``).
"""

from __future__ import annotations

from enum import Enum


class ErrorCode(str, Enum):
    """Machine-readable reason a request was refused; clients switch on it."""

    INVALID_INPUT = "INVALID_INPUT"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    UNSUPPORTED_CURRENCY = "UNSUPPORTED_CURRENCY"
    INVALID_IDENTITY = "INVALID_IDENTITY"
    IDENTITY_TAKEN = "IDENTITY_TAKEN"
    MEMBER_NOT_FOUND = "MEMBER_NOT_FOUND"
    MEMBER_INACTIVE = "MEMBER_INACTIVE"
    MEMBER_FROZEN = "MEMBER_FROZEN"
    MEMBER_MERGED = "MEMBER_MERGED"
    MEMBER_ERASED = "MEMBER_ERASED"
    UNKNOWN_FORMAT = "UNKNOWN_FORMAT"
    UNKNOWN_REWARD = "UNKNOWN_REWARD"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    TIER_TOO_LOW = "TIER_TOO_LOW"
    REDEMPTION_REJECTED = "REDEMPTION_REJECTED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    INVALID_IDEMPOTENCY_KEY = "INVALID_IDEMPOTENCY_KEY"
    PLUGIN_FAILED = "PLUGIN_FAILED"
    POSTING_NOT_FOUND = "POSTING_NOT_FOUND"
    REFUND_EXCEEDS_ACTIVITY = "REFUND_EXCEEDS_ACTIVITY"
    ALREADY_CANCELLED = "ALREADY_CANCELLED"
    HOLD_NOT_FOUND = "HOLD_NOT_FOUND"
    HOLD_NOT_ACTIVE = "HOLD_NOT_ACTIVE"
    FORBIDDEN = "FORBIDDEN"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    # group configuration (tiers, benefits, campaigns, prices, plugin settings)
    INVALID_CONFIG = "INVALID_CONFIG"
    CONFIG_NOT_FOUND = "CONFIG_NOT_FOUND"
    # benefits
    BENEFIT_NOT_FOUND = "BENEFIT_NOT_FOUND"
    BENEFIT_LOCKED = "BENEFIT_LOCKED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    # coupons
    COUPON_NOT_FOUND = "COUPON_NOT_FOUND"
    COUPON_NOT_USABLE = "COUPON_NOT_USABLE"
    # plugins
    PLUGIN_NOT_FOUND = "PLUGIN_NOT_FOUND"
    # settlement: the period (or a price change's day) falls in a closed settlement period
    PERIOD_CLOSED = "PERIOD_CLOSED"


class AtriumError(Exception):
    """An expected failure a client can act on; carries ``code``, ``field`` and ``message``.

    ``field`` names the value at fault in the client's words: camelCase input field names and list
    indexes, relative to the request the service was given (``points``, ``items.0.unitPrice``), or
    ``None`` when no single value is (``INSUFFICIENT_POINTS``, ``MEMBER_FROZEN``). The GraphQL layer
    nests it under the argument it came from (:mod:`gateway.graphql.error_fields`; README, "Errors").
    """

    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"AtriumError({self.code.value}, field={self.field!r}, message={self.message!r})"

    def with_field_prefix(self, prefix: str) -> "AtriumError":
        """Return a copy whose field path is nested under ``prefix`` (``input.items.0.sku``)."""
        field = f"{prefix}.{self.field}" if self.field else prefix
        return AtriumError(self.code, self.message, field)


class PluginLoadError(RuntimeError):
    """A plugin cannot be loaded or clashes with another: the gateway refuses to start."""
