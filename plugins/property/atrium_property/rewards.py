"""Property rewards: visitor parking hours bought with points, one coupon per hour."""

from __future__ import annotations

from gateway.plugin_api import CouponSpec, Fulfilment, RedemptionRequest

VALID_DAYS = 30
"""Days a visitor parking voucher stays valid after redemption."""

VOUCHER_PREFIX = "PRK-"

PARKING_COUPON = CouponSpec(valid_days=VALID_DAYS, item="1 hour of visitor parking", prefix=VOUCHER_PREFIX)
"""One coupon per hour: the gateway draws the codes, the car park's system looks them up and uses each once."""


def fulfil_parking(request: RedemptionRequest) -> Fulfilment:
    """Describe the parking hours; the gateway issues one coupon code per hour (:data:`PARKING_COUPON`)."""
    hours = request.quantity
    noun = "hour" if hours == 1 else "hours"
    return Fulfilment(
        reason=f"{hours} {noun} of visitor parking, one code per hour, valid for {VALID_DAYS} days",
        details={"parkingHours": hours, "validDays": VALID_DAYS},
    )
