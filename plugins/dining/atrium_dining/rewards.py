"""Dining rewards: the dessert of the day, bought with points, served once at any restaurant."""

from __future__ import annotations

from gateway.plugin_api import CouponSpec, Fulfilment, RedemptionRequest

VOUCHER_PREFIX = "DIN-"

VALID_DAYS = 30
"""Days a dessert voucher stays usable after redemption."""

DESSERT_COUPON = CouponSpec(valid_days=VALID_DAYS, item="Dessert of the day", prefix=VOUCHER_PREFIX)
"""One coupon per dessert: the gateway draws the codes, a restaurant's till looks them up and uses each once."""


def fulfil_dessert(request: RedemptionRequest) -> Fulfilment:
    """Describe the dessert vouchers; the gateway issues one coupon code per dessert (:data:`DESSERT_COUPON`)."""
    noun = "voucher" if request.quantity == 1 else "vouchers"
    return Fulfilment(
        reason=f"{request.quantity} dessert-of-the-day {noun}, valid for {VALID_DAYS} days at every restaurant of the group",
    )
