"""Dining rewards: the dessert of the day, bought with points."""

from __future__ import annotations

from gateway.plugin_api import Fulfilment, RedemptionRequest, voucher_code

VOUCHER_PREFIX = "DIN-"


def fulfil_dessert(request: RedemptionRequest) -> Fulfilment:
    """Issue one dessert voucher code per unit redeemed.

    Pure apart from drawing random codes: the gateway stores the result with the posting and
    returns it unchanged on a replay, so nothing here is persisted or sent.
    """
    codes = [voucher_code(VOUCHER_PREFIX) for _ in range(request.quantity)]
    noun = "voucher" if request.quantity == 1 else "vouchers"
    return Fulfilment(
        reason=f"{request.quantity} dessert-of-the-day {noun}, valid at every restaurant of the group",
        details={"voucherCodes": codes},
    )
