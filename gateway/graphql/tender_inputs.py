"""``paidWith`` on every ``record<Format><Kind>``: what paid the bill besides money, which earns nothing."""

from __future__ import annotations

import strawberry

from gateway.ledger.tenders import CouponTender, Tenders
from gateway.plugin_api import MoneyInput


@strawberry.input(description="A coupon used (useCoupon) on this bill.")
class CouponTenderInput:
    """A coupon code, and for an item coupon (a dish, a parking hour) the price of the item it paid."""

    code: str = strawberry.field(description="The coupon's code, as used with useCoupon.")
    value: MoneyInput | None = strawberry.field(
        default=None,
        description="What an item coupon paid on this bill (the dish's price); ignored for a coupon with a face value.",
    )


@strawberry.input(
    description="What paid part of the bill besides money. Points and growth are earned on money only: the gateway "
    "checks each tender is this member's and this format's and earns on the bill less what they paid."
)
class PaidWithInput:
    """The bill's points offsets (by the key given to applyPointsOffset) and the coupons used on it."""

    points_offsets: list[str] = strawberry.field(
        default_factory=list, description="The idempotency keys of this bill's applyPointsOffset calls."
    )
    coupons: list[CouponTenderInput] = strawberry.field(
        default_factory=list, description="The coupons used on this bill (useCoupon first)."
    )


def tenders_of(paid_with: PaidWithInput | None) -> Tenders:
    """The service request's :class:`Tenders` for ``paidWith``; money errors name ``paidWith.coupons.N.value``."""
    if paid_with is None:
        return Tenders()
    coupons = tuple(
        CouponTender(
            code=tender.code,
            value=None if tender.value is None else tender.value.to_money(field=f"paidWith.coupons.{index}.value"),
        )
        for index, tender in enumerate(paid_with.coupons)
    )
    return Tenders(offsets=tuple(paid_with.points_offsets), coupons=coupons)
