"""Atrium's dining format: restaurant bills.

What a restaurant's staff do, and the gateway calls they make:

- **A closed bill** (``recordDiningBill``): restaurant, covers, when it closed, and the bill in
  parts. Food and beverage earn 1 point per CN¥1; service charge and tips pass through to staff
  and the house and earn nothing (:mod:`atrium_dining.settings` can let the service charge earn).
  A bill closed in off-peak hours (quiet afternoons, set by admins) earns a bonus on top.
- **A refund on a bill** (``refundDiningBill``): the food, service charge or tips given back;
  only refunded food takes points back (:mod:`atrium_dining.refunds`).
- **At the door**: Gold and up have ``dining.priority_queue``; in their birth month every member
  has a ``dining.birthday_dessert`` once a year; the host uses them with ``useBenefit``.
- **Dish vouchers**: members redeem points for the dessert of the day (``dessert_voucher``); the
  till looks the code up (``coupon``) and serves it once (``useCoupon``).
- **Reservation deposits**: the booking desk takes a deposit partly in points with
  ``pointsOffsetQuote(format: "dining", bill: <deposit>)`` and ``applyPointsOffset`` (the
  reservation id as the key); ``points_offset_cap_percent`` lowers the share points may pay.
"""

from __future__ import annotations

from collections.abc import Callable

from atrium_dining.details import DiningBillDetails
from atrium_dining.inputs import DiningBillInput, bill_to_activity
from atrium_dining.refunds import DiningBillRefundInput, refund_bill
from atrium_dining.rewards import DESSERT_COUPON, fulfil_dessert
from atrium_dining.rules import food_and_beverage, off_peak
from atrium_dining.settings import DiningSettings
from gateway.plugin_api import (
    ActivityKind,
    Benefit,
    BusinessFormat,
    EarnRule,
    FormatSettings,
    Quota,
    RedemptionType,
    hookimpl,
)

__version__ = "0.1.0"

FORMAT = "dining"


@hookimpl
def atrium_register_formats(register: Callable[[BusinessFormat], None]) -> None:
    """Register the dining format, so bills, points and settlement are tracked per format."""
    register(BusinessFormat(code=FORMAT, name="Dining", description="The group's restaurants and cafés."))


@hookimpl
def atrium_register_activity_kinds(register: Callable[[ActivityKind], None]) -> None:
    """Register ``bill`` (mutations ``recordDiningBill`` and ``refundDiningBill``) with its typed inputs."""
    register(
        ActivityKind(
            format=FORMAT,
            name="bill",
            input_type=DiningBillInput,
            details_type=DiningBillDetails,
            to_activity=bill_to_activity,
            description="Record a closed restaurant bill.",
            refund_input_type=DiningBillRefundInput,
            to_refund=refund_bill,
        )
    )


@hookimpl
def atrium_register_earn_rules(register: Callable[[EarnRule], None]) -> None:
    """Register the food-and-beverage rate (1 point and 1 growth per major unit) and the off-peak bonus."""
    register(
        EarnRule(
            format=FORMAT,
            code="food_and_beverage",
            description="1 point and 1 growth value per CN¥1 of food and beverage; "
            "service charge and tips earn nothing unless the dining settings let them.",
            compute=food_and_beverage,
        )
    )
    register(
        EarnRule(
            format=FORMAT,
            code="off_peak",
            description="A bill closed in the off-peak hours of the dining settings earns a share more points "
            "(50% unless changed), without growth value; no off-peak hours are set by default.",
            compute=off_peak,
        )
    )


@hookimpl
def atrium_register_settings(register: Callable[[FormatSettings], None]) -> None:
    """Register dining's settings: which charges earn nothing, the off-peak bonus, the time zone, the offset cap."""
    register(
        FormatSettings(
            format=FORMAT,
            model=DiningSettings,
            description="What earns on a restaurant bill besides food and beverage, the off-peak hours and bonus, "
            "and the cap on points plus cash.",
        )
    )


@hookimpl
def atrium_register_benefits(register: Callable[[Benefit], None]) -> None:
    """Register priority queueing (from gold, where waits are longest) and a birthday dessert (everyone, once a year)."""
    register(
        Benefit(
            format=FORMAT,
            code="priority_queue",
            name="Priority queueing at every restaurant",
            description="Show your membership at the door to be seated ahead of the walk-in queue.",
            min_tier="gold",
        )
    )
    register(
        Benefit(
            format=FORMAT,
            code="birthday_dessert",
            name="Birthday dessert",
            description="A dessert on the house at any of our restaurants, once in your birthday month.",
            min_tier="member",
            quota=Quota(1, "year"),
            birthday_month=True,
        )
    )


@hookimpl
def atrium_register_redemption_types(register: Callable[[RedemptionType], None]) -> None:
    """Register the dessert of the day: 800 points each, up to 4 in one redemption."""
    register(
        RedemptionType(
            format=FORMAT,
            code="dessert_voucher",
            name="Dessert of the day",
            description="A voucher for the dessert of the day at any restaurant; one code per dessert.",
            points=800,
            max_quantity=4,
            fulfil=fulfil_dessert,
            coupon=DESSERT_COUPON,
        )
    )
