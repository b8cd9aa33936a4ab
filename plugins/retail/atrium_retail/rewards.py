"""Retail rewards: CN¥10 store vouchers bought with points."""

from __future__ import annotations

import secrets

from gateway.plugin_api import Fulfilment, Money, RedemptionRequest

VOUCHER_VALUE = Money(1000, "CNY")
"""Face value of one store voucher."""

VOUCHER_PREFIX = "RET-"
CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
"""RFC 4648 base32 alphabet: upper-case letters and 2-7, no 0 or 1 to mistake for O or I."""


def voucher_code(prefix: str = VOUCHER_PREFIX, length: int = 10) -> str:
    """A fresh unguessable voucher code, e.g. ``RET-K7Q2M4XZ3A`` (50 bits of entropy)."""
    return prefix + "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def fulfil_voucher(request: RedemptionRequest) -> Fulfilment:
    """Issue one store voucher code per unit redeemed.

    Pure apart from drawing random codes: the gateway stores the result with the posting and
    returns it unchanged on a replay, so nothing here is persisted or sent.
    """
    codes = [voucher_code() for _ in range(request.quantity)]
    total = Money(VOUCHER_VALUE.minor * request.quantity, VOUCHER_VALUE.currency)
    noun = "voucher" if request.quantity == 1 else "vouchers"
    return Fulfilment(
        reason=f"{request.quantity} {VOUCHER_VALUE.format()} store {noun} ({total.format()} in total), "
        "valid at every retail store",
        details={"voucherCodes": codes, "valueMinor": total.minor, "currency": total.currency},
    )
