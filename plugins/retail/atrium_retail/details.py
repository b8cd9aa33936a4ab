"""How a recorded purchase shows in a member's history: the receipt's lines and what earned."""

from __future__ import annotations

import strawberry

from gateway.plugin_api import Activity, ActivityDetails, Money


@strawberry.type(description="One line of a recorded receipt.")
class RetailPurchasedItem:
    line: int = strawberry.field(description="The line's number on the receipt (the first is 1): what a return names.")
    sku: str
    category: str
    quantity: int
    net_amount: str = strawberry.field(description="Line total after its discounts, in major units.")
    member_discount: str = strawberry.field(description="What the member price saved on the line, in major units.")


@strawberry.type(description="A recorded retail receipt.")
class RetailPurchaseDetails(ActivityDetails):
    store_code: str | None
    items: list[RetailPurchasedItem]
    eligible_amount: str = strawberry.field(description="What earned points, in major units (gift cards and tobacco excluded).")
    member_saving: str = strawberry.field(description="What member prices saved on the whole receipt, in major units.")

    @classmethod
    def from_activity(cls, activity: Activity) -> "RetailPurchaseDetails":
        """Build the details from the stored activity, so history needs no extra query."""
        currency = activity.amount.currency
        items = [
            RetailPurchasedItem(
                line=number,
                sku=item["sku"],
                category=item["category"],
                quantity=item["quantity"],
                net_amount=str(Money(item["netMinor"], currency).amount),
                member_discount=str(Money(item.get("memberDiscountMinor", 0), currency).amount),
            )
            for number, item in enumerate(activity.details.get("items", []), start=1)
        ]
        saving = sum(int(item.get("memberDiscountMinor", 0)) for item in activity.details.get("items", []))
        count = sum(item.quantity for item in items)
        where = f" at store {activity.store}" if activity.store else ""
        return cls(
            summary=f"{count} item{'s' if count != 1 else ''}{where}, {activity.amount.format()}",
            store_code=activity.store,
            items=items,
            eligible_amount=str(Money(activity.details.get("eligibleMinor", 0), currency).amount),
            member_saving=str(Money(saving, currency).amount),
        )
