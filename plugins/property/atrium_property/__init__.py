"""Atrium's property format: management, parking and utilities fees paid by owners and tenants.

Management fees earn 1 point per CN¥2, parking and utilities 1 point per CN¥5; gold members get
priority maintenance four times a year, and points buy hours of visitor parking.
"""

from __future__ import annotations

from collections.abc import Callable

from atrium_property.details import PropertyFeePaymentDetails
from atrium_property.inputs import PropertyFeePaymentInput, fee_payment_to_activity
from atrium_property.rewards import fulfil_parking
from atrium_property.rules import fee_rate
from gateway.plugin_api import (
    ActivityKind,
    Benefit,
    BusinessFormat,
    EarnRule,
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
    """Register the fee rate: management fees earn 1 pt per CN¥2, parking and utilities per CN¥5."""
    register(
        EarnRule(
            format=FORMAT,
            code="fee_rate",
            description="1 point per CN¥2 of management fee, 1 point per CN¥5 of parking or utilities; "
            "growth value equals points.",
            compute=fee_rate,
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
        )
    )
