"""Dining rewards: the dessert of the day, bought with points."""

from __future__ import annotations

import secrets

from gateway.plugin_api import Fulfilment, RedemptionRequest

VOUCHER_PREFIX = "DIN-"
CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
"""RFC 4648 base32 alphabet: upper-case letters and 2-7, no 0 or 1 to mistake for O or I."""


def voucher_code(prefix: str = VOUCHER_PREFIX, length: int = 10) -> str:
    """A fresh unguessable voucher code, e.g. ``DIN-K7Q2M4XZ3A`` (50 bits of entropy)."""
    return prefix + "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def fulfil_dessert(request: RedemptionRequest) -> Fulfilment:
    """Issue one dessert voucher code per unit redeemed.

    Pure apart from drawing random codes: the gateway stores the result with the posting and
    returns it unchanged on a replay, so nothing here is persisted or sent.
    """
    codes = [voucher_code() for _ in range(request.quantity)]
    noun = "voucher" if request.quantity == 1 else "vouchers"
    return Fulfilment(
        reason=f"{request.quantity} dessert-of-the-day {noun}, valid at every restaurant of the group",
        details={"voucherCodes": codes},
    )
