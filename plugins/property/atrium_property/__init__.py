"""Atrium's property format: management, parking and utilities fees paid by owners, tenants and residents.

What a property office does, and the gateway calls it makes:

- **A fee payment** (``recordPropertyFeePayment``): the unit, the fee type, the month, the
  amount, the payer's link to the unit (owner, tenant or resident: see
  :mod:`atrium_property.inputs` for why the link travels with the payment), the notice's due date
  and whether it was paid by autopay. Management fees earn 1 point per CN¥2, parking and utilities
  1 point per CN¥5; paying by the due date and paying by autopay each earn a bonus on top.
- **A refund** of an overpaid fee: the generic ``refundActivity`` (one amount, one rate).
- **Maintenance**: Gold and up have ``property.maintenance_priority``, four uses a year
  (``useBenefit`` when the office dispatches a repair).
- **Visitor parking**: members redeem points for parking hours (``parking_hour``), one coupon per
  hour that the car park uses once (``useCoupon``).
- **Points towards the management fee** (积分抵物业费): the office quotes and applies an offset on
  the fee notice (``pointsOffsetQuote`` / ``applyPointsOffset`` with ``format: "property"``),
  capped by the group and, lower, by ``points_offset_cap_percent``; it records the fee payment
  for the cash part.
"""

from __future__ import annotations

from collections.abc import Callable

from atrium_property.details import PropertyFeePaymentDetails
from atrium_property.inputs import PropertyFeePaymentInput, fee_payment_to_activity
from atrium_property.rewards import PARKING_COUPON, fulfil_parking
from atrium_property.rules import fee_rate, payment_bonuses
from atrium_property.settings import PropertySettings
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

FORMAT = "property"


@hookimpl
def atrium_register_formats(register: Callable[[BusinessFormat], None]) -> None:
    """Register the property format, so fee payments, points and settlement are tracked per format."""
    register(
        BusinessFormat(code=FORMAT, name="Property services", description="Property management, parking and utilities.")
    )


@hookimpl
def atrium_register_activity_kinds(register: Callable[[ActivityKind], None]) -> None:
    """Register ``fee_payment`` (mutation ``recordPropertyFeePayment``) with its typed input."""
    register(
        ActivityKind(
            format=FORMAT,
            name="fee_payment",
            input_type=PropertyFeePaymentInput,
            details_type=PropertyFeePaymentDetails,
            to_activity=fee_payment_to_activity,
            description="Record a paid property fee for one unit and one billing month.",
        )
    )


@hookimpl
def atrium_register_earn_rules(register: Callable[[EarnRule], None]) -> None:
    """Register the fee rate (management 1 pt per CN¥2, parking and utilities per CN¥5) and the payment bonuses."""
    register(
        EarnRule(
            format=FORMAT,
            code="fee_rate",
            description="1 point per CN¥2 of management fee, 1 point per CN¥5 of parking or utilities; "
            "growth value equals points; the rates are property settings admins may change.",
            compute=fee_rate,
        )
    )
    register(
        EarnRule(
            format=FORMAT,
            code="payment_bonus",
            description="A fee paid by its due date earns 10% more points, one paid by autopay 5% more "
            "(property settings); bonuses carry no growth value.",
            compute=payment_bonuses,
        )
    )


@hookimpl
def atrium_register_settings(register: Callable[[FormatSettings], None]) -> None:
    """Register property's settings: fee rates, payment bonuses, the estates' time zone and the offset cap."""
    register(
        FormatSettings(
            format=FORMAT,
            model=PropertySettings,
            description="The earn rate of each kind of property fee, the on-time and autopay bonuses, and the cap "
            "on points paying a fee notice.",
        )
    )


@hookimpl
def atrium_register_benefits(register: Callable[[Benefit], None]) -> None:
    """Register priority maintenance dispatch for gold and up, four times a year."""
    register(
        Benefit(
            format=FORMAT,
            code="maintenance_priority",
            name="Priority maintenance dispatch",
            description="Your repair requests are dispatched first, up to four times a year.",
            min_tier="gold",
            quota=Quota(4, "year"),
        )
    )


@hookimpl
def atrium_register_redemption_types(register: Callable[[RedemptionType], None]) -> None:
    """Register an hour of visitor parking: 300 points each, up to 8 hours in one redemption."""
    register(
        RedemptionType(
            format=FORMAT,
            code="parking_hour",
            name="One hour of visitor parking",
            description="An hour of parking for a visitor at your property, valid for 30 days; one code per hour.",
            points=300,
            max_quantity=8,
            fulfil=fulfil_parking,
            coupon=PARKING_COUPON,
        )
    )
