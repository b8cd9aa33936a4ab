"""Property rewards: visitor parking hours bought with points."""

from __future__ import annotations

from gateway.plugin_api import Fulfilment, RedemptionRequest, voucher_code

VALID_DAYS = 30
"""Days a visitor parking voucher stays valid after redemption."""

VOUCHER_PREFIX = "PRK-"


def fulfil_parking(request: RedemptionRequest) -> Fulfilment:
    """Issue one visitor parking voucher per hour redeemed, valid for :data:`VALID_DAYS` days.

    Pure apart from drawing random codes: the gateway stores the result with the posting and
    returns it unchanged on a replay, so nothing here is persisted or sent to the barrier system.
    """
    hours = request.quantity
    codes = [voucher_code(VOUCHER_PREFIX) for _ in range(hours)]
    noun = "hour" if hours == 1 else "hours"
    return Fulfilment(
        reason=f"{hours} {noun} of visitor parking, one code per hour, valid for {VALID_DAYS} days",
        details={"parkingHours": hours, "validDays": VALID_DAYS, "voucherCodes": codes},
    )
