"""How a recorded restaurant bill shows in a member's history."""

from __future__ import annotations

import strawberry

from gateway.plugin_api import Activity, ActivityDetails, Money


@strawberry.type(description="A recorded restaurant bill.")
class DiningBillDetails(ActivityDetails):
    store_code: str | None
    covers: int
    food_and_beverage: str = strawberry.field(description="Food and beverage in major units: what earns points.")
    service_charge: str
    tips: str

    @classmethod
    def from_activity(cls, activity: Activity) -> "DiningBillDetails":
        """Build the details from the stored activity, so history needs no extra query."""
        currency = activity.amount.currency
        covers = int(activity.details.get("covers", 0))

        def amount(key: str) -> str:
            return str(Money(int(activity.details.get(key, 0)), currency).amount)

        where = f" at {activity.store}" if activity.store else ""
        return cls(
            summary=f"Bill for {covers} guest{'s' if covers != 1 else ''}{where}, {activity.amount.format()}",
            store_code=activity.store,
            covers=covers,
            food_and_beverage=amount("foodAndBeverageMinor"),
            service_charge=amount("serviceChargeMinor"),
            tips=amount("tipsMinor"),
        )
