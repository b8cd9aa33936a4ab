"""What the system tests' tills send: the dining bill document and random receipts and bills."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

DINING_BILL = """
mutation Bill($member: MemberRefInput!, $key: String!, $input: DiningBillInput!) {
  recordDiningBill(member: $member, idempotencyKey: $key, input: $input) {
    posting { id points growth balanceAfter reason replayed format }
    member { pointsBalance growthValue }
    errors { code field message }
  }
}"""


def retail_input(rng: random.Random) -> tuple[dict[str, Any], Decimal]:
    """A receipt of 1 to 3 lines (the first always earns) and its total."""
    items, total = [], Decimal(0)
    for line in range(rng.randint(1, 3)):
        category = "grocery" if line == 0 else rng.choice(["grocery", "electronics", "apparel", "gift_card"])
        quantity, price = rng.randint(1, 3), Decimal(rng.randint(100, 30_000)) / 100
        items.append({"sku": f"SKU-{rng.randint(1, 500)}", "category": category, "quantity": quantity, "unitPrice": f"{price:.2f}"})
        total += quantity * price
    return {"storeCode": f"SH-{rng.randint(1, 9):03d}", "currency": "CNY", "items": items}, total


def dining_input(rng: random.Random) -> tuple[dict[str, Any], Decimal]:
    """A restaurant bill and its amount (food and beverage plus service charge, no tips)."""
    food = Decimal(rng.randint(3_000, 80_000)) / 100
    service = (food / 10).quantize(Decimal("0.01")) if rng.random() < 0.5 else Decimal(0)
    bill = {
        "storeCode": f"DN-{rng.randint(1, 5):02d}",
        "currency": "CNY",
        "foodAndBeverage": f"{food:.2f}",
        "serviceCharge": f"{service:.2f}",
        "covers": rng.randint(1, 6),
    }
    return bill, food + service
