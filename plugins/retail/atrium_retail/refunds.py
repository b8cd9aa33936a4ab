"""Returns at the till: the member brings back some units of some lines, the receipt says what they cost and earned.

The till sends the receipt id and, per returned line, its number on the receipt (the first line
is 1) and how many units come back (mutation ``refundRetailPurchase``). From the recorded
receipt this module works out:

- **the money**: a line's net (after its discounts) spread over its units, cumulatively and
  rounded down, so returning a line unit by unit refunds exactly its net in the end;
- **the share of the receipt's points** those units take back: each line weighs its net times
  the rate it earns at (0 for an excluded category such as a gift card, the category's own rate,
  else the base rate), and the returned units weigh their part of it. Returning a gift card takes
  no points; returning the only earning line takes them all. The gateway adds the shares of the
  receipt's refunds up and claws back ``floor(points × shares)`` minus what earlier refunds took,
  from the receipt's own lots first (pending ones first, inside the return window).

Rates are today's retail settings: if an admin changed a category's rate between the sale and
the return, the points move between the receipt's lines, never past what the receipt earned.
A unit cannot come back twice: what earlier returns took is read under the member's lock, and
asking for more than is left is ``REFUND_EXCEEDS_ACTIVITY``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import strawberry

from atrium_retail.rules import line_rate
from atrium_retail.settings import RetailSettings
from gateway.plugin_api import (
    Activity,
    ActivityRejected,
    EarlierRefund,
    ErrorCode,
    Money,
    RefundDraft,
)

MAX_LINES = 500
"""Most lines one return may name: as many as a receipt has."""


@strawberry.input(description="Units of one receipt line that come back.")
class RetailReturnedLineInput:
    """``quantity`` units of the receipt's line number ``line``."""

    line: int = strawberry.field(description="The line's number on the receipt, as printed: the first line is 1.")
    quantity: int = strawberry.field(description="Units returned, at least 1 and at most what is left of the line.")


@strawberry.input(description="A return at a retail till: which lines of the receipt come back, and how many units of each.")
class RetailPurchaseRefundInput:
    """The lines returned; the money and the points to take back are worked out from the recorded receipt."""

    lines: list[RetailReturnedLineInput] = strawberry.field(description="The returned lines, each named once.")


def returned_so_far(earlier: Sequence[EarlierRefund]) -> dict[int, int]:
    """Units already returned per line number, from the earlier returns' details (refunds by amount name no line)."""
    returned: dict[int, int] = {}
    for refund in earlier:
        for line in refund.details.get("lines", ()):
            returned[int(line["line"])] = returned.get(int(line["line"]), 0) + int(line["quantity"])
    return returned


def _weight(item: Mapping[str, Any], settings: RetailSettings) -> Fraction:
    """What a whole line weighs in the receipt's points: its net times its earn rate."""
    return Fraction(int(item["netMinor"])) * Fraction(line_rate(str(item["category"]), settings))


def refund_lines(activity: Activity, data: RetailPurchaseRefundInput, earlier: tuple[EarlierRefund, ...]) -> RefundDraft:
    """The money, share of points and details of returning ``data``'s lines of the receipt ``activity``.

    Raises :class:`ActivityRejected` naming the offending field: a line the receipt does not have,
    a line named twice, a quantity below 1, or (``REFUND_EXCEEDS_ACTIVITY``) more units than are
    left to return on that line.
    """
    settings = RetailSettings.of(activity)
    items = list(activity.details["items"])
    currency = activity.amount.currency
    if not data.lines:
        raise ActivityRejected("Name at least one returned line.", field="lines")
    if len(data.lines) > MAX_LINES:
        raise ActivityRejected(f"A return names at most {MAX_LINES} lines.", field="lines")
    returned = returned_so_far(earlier)
    total_weight = sum((_weight(item, settings) for item in items), Fraction(0))
    seen: set[int] = set()
    amount = 0
    weight = Fraction(0)
    lines: list[dict[str, Any]] = []
    for index, asked in enumerate(data.lines):
        path = f"lines.{index}"
        if not 1 <= asked.line <= len(items):
            raise ActivityRejected(
                f"Receipt {activity.reference} has lines 1 to {len(items)}; there is no line {asked.line}.", field=f"{path}.line"
            )
        if asked.line in seen:
            raise ActivityRejected(f"Line {asked.line} is named twice; name each line once.", field=f"{path}.line")
        seen.add(asked.line)
        if asked.quantity < 1:
            raise ActivityRejected("Return at least 1 unit.", field=f"{path}.quantity")
        item = items[asked.line - 1]
        bought, before = int(item["quantity"]), returned.get(asked.line, 0)
        if asked.quantity > bought - before:
            raise ActivityRejected(
                f"Line {asked.line} ({item['sku']}) has {bought - before} of {bought} units left to return; "
                f"got {asked.quantity}.",
                field=f"{path}.quantity",
                code=ErrorCode.REFUND_EXCEEDS_ACTIVITY,
            )
        net = int(item["netMinor"])
        money = net * (before + asked.quantity) // bought - net * before // bought
        amount += money
        weight += _weight(item, settings) * Fraction(asked.quantity, bought)
        lines.append({"line": asked.line, "sku": item["sku"], "quantity": asked.quantity, "amountMinor": money})
    share = weight / total_weight if total_weight else Fraction(0)
    summary = ", ".join(f"{line['quantity']} × {line['sku']}" for line in lines) + " returned"
    return RefundDraft(amount=Money(amount, currency), share=share, summary=summary, details={"lines": lines})
