"""How a recorded fee payment shows in a member's history."""

from __future__ import annotations

import strawberry

from atrium_property.inputs import PropertyFeeType
from gateway.plugin_api import Activity, ActivityDetails


@strawberry.type(description="A recorded property fee payment.")
class PropertyFeePaymentDetails(ActivityDetails):
    unit_code: str
    fee_type: PropertyFeeType
    period: str = strawberry.field(description="The month the fee covers, YYYY-MM.")

    @classmethod
    def from_activity(cls, activity: Activity) -> "PropertyFeePaymentDetails":
        """Build the details from the stored activity, so history needs no extra query."""
        fee_type = PropertyFeeType(activity.details["feeType"])
        unit = activity.details["unitCode"]
        label = fee_type.name.lower().replace("_", " ")
        return cls(
            summary=f"{label.capitalize()} fee for unit {unit}, {activity.details['period']}: {activity.amount.format()}",
            unit_code=unit,
            fee_type=fee_type,
            period=activity.details["period"],
        )
