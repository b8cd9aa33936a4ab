"""Atrium's dining format: restaurant bills.

Members earn 1 point per major unit of food and beverage (service charge and tips earn nothing),
gold members and up skip the queue, and points buy the dessert of the day.
"""

from __future__ import annotations

from collections.abc import Callable

from atrium_dining.details import DiningBillDetails
from atrium_dining.inputs import DiningBillInput, bill_to_activity
from atrium_dining.rewards import fulfil_dessert
from atrium_dining.rules import food_and_beverage
from gateway.plugin_api import (
    ActivityKind,
    Benefit,
    BusinessFormat,
    EarnRule,
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
    """Register ``bill`` (mutation ``recordDiningBill``) with its typed bill input."""
    register(
        ActivityKind(
            format=FORMAT,
            name="bill",
            input_type=DiningBillInput,
            details_type=DiningBillDetails,
            to_activity=bill_to_activity,
            description="Record a closed restaurant bill.",
        )
    )


@hookimpl
def atrium_register_earn_rules(register: Callable[[EarnRule], None]) -> None:
    """Register the food-and-beverage rate: 1 point and 1 growth per major unit of F&B."""
    register(
        EarnRule(
            format=FORMAT,
            code="food_and_beverage",
            description="1 point and 1 growth value per CN¥1 of food and beverage; "
            "service charge and tips earn nothing.",
            compute=food_and_beverage,
        )
    )


@hookimpl
def atrium_register_benefits(register: Callable[[Benefit], None]) -> None:
    """Register priority queueing, unlocked from gold: a visible perk where waits are longest."""
    register(
        Benefit(
            format=FORMAT,
            code="priority_queue",
            name="Priority queueing at every restaurant",
            description="Show your membership at the door to be seated ahead of the walk-in queue.",
            min_tier="gold",
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
        )
    )
