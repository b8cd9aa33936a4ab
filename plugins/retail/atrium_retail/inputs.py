"""The retail receipt as the till sends it, and its validation into an activity draft."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from atrium_retail.rules import split_eligible
from gateway.plugin_api import (
    ActivityDraft,
    ActivityRejected,
    ErrorCode,
    Money,
    parse_money,
    required_text,
)

MAX_ITEMS = 500
"""Most line items on one receipt; a longer list is a till bug, not a purchase."""

MAX_QUANTITY = 10_000
"""Most units of one SKU on one line."""

MAX_CODE_LENGTH = 64
"""Longest store code, SKU or category accepted."""


@strawberry.input(description="One line of a retail receipt.")
class RetailLineItemInput:
    """A receipt line: ``quantity`` units of ``sku`` at ``unit_price``, less ``line_discount``."""

    sku: str = strawberry.field(description="The item's stock-keeping unit.")
    category: str = strawberry.field(
        description="The item's category; gift_card and tobacco lines earn no points."
    )
    quantity: int = strawberry.field(description="Units bought, 1 to 10000.")
    unit_price: Decimal = strawberry.field(description="Price of one unit in major units, e.g. \"19.90\".")
    line_discount: Decimal = strawberry.field(
        default=Decimal("0"), description="Discount on the whole line in major units; at most quantity × unitPrice."
    )
    member_discount: Decimal = strawberry.field(
        default=Decimal("0"),
        description="The member-price saving on the line in major units, for an item marked with a member price "
        "sold to a member with retail.member_price unlocked; at most the retail member-price percentage of "
        "quantity × unitPrice.",
    )


@strawberry.input(description="A retail purchase: one receipt from one store.")
class RetailPurchaseInput:
    """A retail receipt: the store, the currency, when it was paid and its line items."""

    store_code: str = strawberry.field(description="The store that issued the receipt.")
    currency: str = strawberry.field(description="ISO 4217 code of every price on the receipt, e.g. CNY.")
    purchased_at: datetime | None = strawberry.field(
        default=None, description="When the receipt was paid, with a timezone offset; omitted means now."
    )
    items: list[RetailLineItemInput] = strawberry.field(
        description="The receipt's lines, 1 to 500, in the order printed: a refund names them by number, the first is 1."
    )


def purchase_to_activity(data: RetailPurchaseInput) -> ActivityDraft:
    """Validate a receipt and turn it into an :class:`ActivityDraft`.

    The amount is the sum of line nets (quantity × unit price − line discount); the details keep
    each line's net in minor units and the eligible total, which the earn rule and history use.
    Raises :class:`ActivityRejected` (or the money parser's error) naming the offending field.
    """
    store = required_text(data.store_code, field="storeCode", max_length=MAX_CODE_LENGTH)
    currency = _currency(data.currency)
    if not data.items:
        raise ActivityRejected("A purchase needs at least one line item.", field="items")
    if len(data.items) > MAX_ITEMS:
        raise ActivityRejected(f"A purchase has at most {MAX_ITEMS} line items.", field="items")
    lines = [_line(item, currency, f"items.{index}") for index, item in enumerate(data.items)]
    total = sum(line["netMinor"] for line in lines)
    if total <= 0:
        raise ActivityRejected(
            "The purchase total after discounts must be greater than zero.", field="items", code=ErrorCode.INVALID_AMOUNT
        )
    eligible, _excluded = split_eligible(lines)
    return ActivityDraft(
        amount=Money(total, currency),
        occurred_at=_aware(data.purchased_at, "purchasedAt"),
        store=store,
        details={"items": lines, "eligibleMinor": eligible},
    )


def _line(item: RetailLineItemInput, currency: str, path: str) -> dict[str, str | int]:
    """Validate one receipt line and return its JSON-ready facts, net in minor units.

    A line sold at member price also keeps its gross and its member discount, which the earn rule
    checks against the member-price percentage; other lines keep only what they always kept.
    """
    sku = required_text(item.sku, field=f"{path}.sku", max_length=MAX_CODE_LENGTH)
    category = required_text(item.category, field=f"{path}.category", max_length=MAX_CODE_LENGTH).lower()
    if not 1 <= item.quantity <= MAX_QUANTITY:
        raise ActivityRejected(f"The quantity must be between 1 and {MAX_QUANTITY}.", field=f"{path}.quantity")
    unit_price = parse_money(item.unit_price, currency, field=f"{path}.unitPrice", allow_zero=True)
    discount = parse_money(item.line_discount, currency, field=f"{path}.lineDiscount", allow_zero=True)
    member = parse_money(item.member_discount, currency, field=f"{path}.memberDiscount", allow_zero=True)
    gross = unit_price.minor * item.quantity
    if discount.minor > gross:
        raise ActivityRejected(
            f"The line discount {discount.format()} exceeds the line total {Money(gross, currency).format()}.",
            field=f"{path}.lineDiscount",
        )
    if discount.minor + member.minor > gross:
        raise ActivityRejected(
            f"The line and member discounts together exceed the line total {Money(gross, currency).format()}.",
            field=f"{path}.memberDiscount",
        )
    line: dict[str, str | int] = {
        "sku": sku,
        "category": category,
        "quantity": item.quantity,
        "netMinor": gross - discount.minor - member.minor,
    }
    if member.minor:
        line.update(grossMinor=gross, memberDiscountMinor=member.minor)
    return line


def _currency(code: str) -> str:
    """The upper-case ISO 4217 code, or the money parser's error naming ``currency``."""
    return parse_money(0, code, field="currency", allow_zero=True).currency


def _aware(moment: datetime | None, field: str) -> datetime | None:
    """``moment`` if it carries a timezone offset (or is omitted); a naive time is ambiguous."""
    if moment is not None and moment.utcoffset() is None:
        raise ActivityRejected("The time must include a timezone offset, e.g. 2026-11-03T14:05:00+08:00.", field=field)
    return moment
