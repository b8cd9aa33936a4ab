"""Atrium's retail format: store receipts with line items.

What a store's staff do, and the gateway calls they make:

- **A sale** (``recordRetailPurchase``): the receipt's lines, each with SKU, category, quantity,
  unit price, line discount and member discount. Eligible lines earn 1 point per CN¥1, a
  category with a rate of its own earns at that rate, excluded categories (gift cards and
  tobacco unless admins change them) earn nothing; the points wait ``return_window_days``
  before they can be spent (:mod:`atrium_retail.settings`).
- **A return** (``refundRetailPurchase``): the receipt id and the lines and units coming back;
  the money and the points those units earned are worked out from the receipt
  (:mod:`atrium_retail.refunds`).
- **Member prices**: Silver and up have ``retail.member_price`` unlocked on their benefits wall;
  the till takes ``member_price_percent`` off marked items and sends the saving as the line's
  ``memberDiscount``, which the gateway checks against the percentage.
- **Store vouchers**: members redeem points for CN¥10 vouchers (``voucher_10``, 1000 points); the
  till looks a code up (``coupon``) and takes it as payment once (``useCoupon``).
- **Points plus cash**: the till asks ``pointsOffsetQuote(format: "retail", bill: ...)`` and pays
  part of the receipt with ``applyPointsOffset``; ``points_offset_cap_percent`` lowers the share
  of a receipt points may pay below the group's cap.
"""

from __future__ import annotations

from collections.abc import Callable

from atrium_retail.details import RetailPurchaseDetails
from atrium_retail.inputs import RetailPurchaseInput, purchase_to_activity
from atrium_retail.refunds import RetailPurchaseRefundInput, refund_lines
from atrium_retail.rewards import VOUCHER_COUPON, fulfil_voucher
from atrium_retail.rules import base_rate
from atrium_retail.settings import DEFAULTS, RetailSettings
from gateway.plugin_api import (
    ActivityKind,
    Benefit,
    BusinessFormat,
    EarnRule,
    FormatSettings,
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
    """Register ``purchase`` (mutations ``recordRetailPurchase`` and ``refundRetailPurchase``) with its typed inputs."""
    register(
        ActivityKind(
            format=FORMAT,
            name="purchase",
            input_type=RetailPurchaseInput,
            details_type=RetailPurchaseDetails,
            to_activity=purchase_to_activity,
            description="Record a paid store receipt with its line items.",
            refund_input_type=RetailPurchaseRefundInput,
            to_refund=refund_lines,
        )
    )


@hookimpl
def atrium_register_earn_rules(register: Callable[[EarnRule], None]) -> None:
    """Register the base rate: 1 point and 1 growth per major unit of eligible net spend."""
    register(
        EarnRule(
            format=FORMAT,
            code="base_rate",
            description="1 point and 1 growth value per CN¥1 of eligible items, or the category's own rate; "
            "excluded categories (gift cards and tobacco unless an admin changed them) earn nothing.",
            compute=base_rate,
        )
    )


@hookimpl
def atrium_register_settings(register: Callable[[FormatSettings], None]) -> None:
    """Register retail's settings: excluded categories, category rates, the return window, member prices, offset cap."""
    register(
        FormatSettings(
            format=FORMAT,
            model=RetailSettings,
            description="What earns at the tills (excluded categories, category rates), how long points wait for "
            "returns, the member-price percentage and the cap on points plus cash.",
        )
    )


@hookimpl
def atrium_register_benefits(register: Callable[[Benefit], None]) -> None:
    """Register member prices, unlocked from silver as the first reward for climbing the ladder."""
    register(
        Benefit(
            format=FORMAT,
            code="member_price",
            name="Member price on marked items",
            description=f"Items marked with a member price are sold below the shelf price at every store "
            f"({DEFAULTS.member_price_percent}% off unless the group changes it).",
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
            coupon=VOUCHER_COUPON,
        )
    )
