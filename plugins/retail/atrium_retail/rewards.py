"""Retail rewards: CN¥10 store vouchers bought with points."""

from __future__ import annotations

from gateway.plugin_api import Fulfilment, Money, RedemptionRequest, voucher_code

VOUCHER_VALUE = Money(1000, "CNY")
"""Face value of one store voucher."""

VOUCHER_PREFIX = "RET-"


def fulfil_voucher(request: RedemptionRequest) -> Fulfilment:
    """Issue one store voucher code per unit redeemed.

    Pure apart from drawing random codes: the gateway stores the result with the posting and
    returns it unchanged on a replay, so nothing here is persisted or sent.
    """
    codes = [voucher_code(VOUCHER_PREFIX) for _ in range(request.quantity)]
    total = Money(VOUCHER_VALUE.minor * request.quantity, VOUCHER_VALUE.currency)
    noun = "voucher" if request.quantity == 1 else "vouchers"
    return Fulfilment(
        reason=f"{request.quantity} {VOUCHER_VALUE.format()} store {noun} ({total.format()} in total), "
        "valid at every retail store",
        details={"voucherCodes": codes, "valueMinor": total.minor, "currency": total.currency},
    )
