"""Property rewards: visitor parking hours bought with points."""

from __future__ import annotations

import secrets

from gateway.plugin_api import Fulfilment, RedemptionRequest

VALID_DAYS = 30
"""Days a visitor parking voucher stays valid after redemption."""

VOUCHER_PREFIX = "PRK-"
CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
"""RFC 4648 base32 alphabet: upper-case letters and 2-7, no 0 or 1 to mistake for O or I."""


def voucher_code(prefix: str = VOUCHER_PREFIX, length: int = 10) -> str:
    """A fresh unguessable voucher code, e.g. ``PRK-K7Q2M4XZ3A`` (50 bits of entropy)."""
    return prefix + "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def fulfil_parking(request: RedemptionRequest) -> Fulfilment:
    """Issue one visitor parking voucher per hour redeemed, valid for :data:`VALID_DAYS` days.

    Pure apart from drawing random codes: the gateway stores the result with the posting and
    returns it unchanged on a replay, so nothing here is persisted or sent to the barrier system.
    """
    hours = request.quantity
    codes = [voucher_code() for _ in range(hours)]
    noun = "hour" if hours == 1 else "hours"
    return Fulfilment(
        reason=f"{hours} {noun} of visitor parking, one code per hour, valid for {VALID_DAYS} days",
        details={"parkingHours": hours, "validDays": VALID_DAYS, "voucherCodes": codes},
    )
