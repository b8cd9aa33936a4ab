"""Retail rewards: CN¥10 store vouchers bought with points, used once at any retail till."""

from __future__ import annotations

from gateway.plugin_api import CouponSpec, Fulfilment, Money, RedemptionRequest

VOUCHER_VALUE = Money(1000, "CNY")
"""Face value of one store voucher."""

VOUCHER_PREFIX = "RET-"

VALID_DAYS = 90
"""Days a store voucher stays usable after redemption."""

VOUCHER_COUPON = CouponSpec(valid_days=VALID_DAYS, face_value=VOUCHER_VALUE, prefix=VOUCHER_PREFIX)
"""One coupon per voucher: the gateway draws the codes, a retail till looks them up and uses each once."""


def fulfil_voucher(request: RedemptionRequest) -> Fulfilment:
    """Describe the vouchers; the gateway issues one coupon code per unit (:data:`VOUCHER_COUPON`)."""
    total = Money(VOUCHER_VALUE.minor * request.quantity, VOUCHER_VALUE.currency)
    noun = "voucher" if request.quantity == 1 else "vouchers"
    return Fulfilment(
        reason=f"{request.quantity} {VOUCHER_VALUE.format()} store {noun} ({total.format()} in total), "
        f"valid for {VALID_DAYS} days at every retail store",
        details={"valueMinor": total.minor, "currency": total.currency},
    )
