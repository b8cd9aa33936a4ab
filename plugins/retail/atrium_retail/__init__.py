"""Atrium's retail format: store receipts with line items.

Members earn 1 point per major unit spent on eligible items (gift cards and tobacco excluded),
silver members and up get member prices, and points buy CN¥10 store vouchers.
"""

from __future__ import annotations

from collections.abc import Callable

from atrium_retail.details import RetailPurchaseDetails
from atrium_retail.inputs import RetailPurchaseInput, purchase_to_activity
from atrium_retail.rewards import fulfil_voucher
from atrium_retail.rules import base_rate
from gateway.plugin_api import (
    ActivityKind,
    Benefit,
    BusinessFormat,
    EarnRule,
    RedemptionType,
    hookimpl,
)

__version__ = "0.1.0"

FORMAT = "retail"


@hookimpl
def atrium_register_formats(register: Callable[[BusinessFormat], None]) -> None:
    """Register the retail format, so purchases, points and settlement are tracked per format."""
    register(BusinessFormat(code=FORMAT, name="Retail", description="The group's stores and supermarkets."))


@hookimpl
def atrium_register_activity_kinds(register: Callable[[ActivityKind], None]) -> None:
    """Register ``purchase`` (mutation ``recordRetailPurchase``) with its typed receipt input."""
    register(
        ActivityKind(
            format=FORMAT,
            name="purchase",
            input_type=RetailPurchaseInput,
            details_type=RetailPurchaseDetails,
            to_activity=purchase_to_activity,
            description="Record a paid store receipt with its line items.",
        )
    )


@hookimpl
def atrium_register_earn_rules(register: Callable[[EarnRule], None]) -> None:
    """Register the base rate: 1 point and 1 growth per major unit of eligible net spend."""
    register(
        EarnRule(
            format=FORMAT,
            code="base_rate",
            description="1 point and 1 growth value per CN¥1 of eligible items; gift cards and tobacco earn nothing.",
            compute=base_rate,
        )
    )


@hookimpl
def atrium_register_benefits(register: Callable[[Benefit], None]) -> None:
    """Register member prices, unlocked from silver as the first reward for climbing the ladder."""
    register(
        Benefit(
            format=FORMAT,
            code="member_price",
            name="Member price: 5% off marked items",
            description="Items marked with a member price are 5% off at every store.",
            min_tier="silver",
        )
    )


@hookimpl
def atrium_register_redemption_types(register: Callable[[RedemptionType], None]) -> None:
    """Register the CN¥10 store voucher: 1000 points each, up to 5 in one redemption."""
    register(
        RedemptionType(
            format=FORMAT,
            code="voucher_10",
            name="CN¥10 store voucher",
            description="A CN¥10 voucher valid at every retail store; one code per voucher.",
            points=1000,
            max_quantity=5,
            fulfil=fulfil_voucher,
        )
    )
