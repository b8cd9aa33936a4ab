"""How a recorded fee payment shows in a member's history."""

from __future__ import annotations

import strawberry

from atrium_property.inputs import PropertyFeeType, PropertyRelation
from gateway.plugin_api import Activity, ActivityDetails


@strawberry.type(description="A recorded property fee payment.")
class PropertyFeePaymentDetails(ActivityDetails):
    unit_code: str
    fee_type: PropertyFeeType
    period: str = strawberry.field(description="The month the fee covers, YYYY-MM.")
    relation: PropertyRelation = strawberry.field(description="How the paying member is linked to the unit.")
    due_date: str | None = strawberry.field(description="The fee notice's due date (YYYY-MM-DD), if the office gave it.")
    autopay: bool = strawberry.field(description="Paid by automatic debit.")

    @classmethod
    def from_activity(cls, activity: Activity) -> "PropertyFeePaymentDetails":
        """Build the details from the stored activity, so history needs no extra query."""
        fee_type = PropertyFeeType(activity.details["feeType"])
        unit = activity.details["unitCode"]
        label = fee_type.name.lower().replace("_", " ")
        relation = PropertyRelation(activity.details.get("relation", "owner"))
        return cls(
            summary=f"{label.capitalize()} fee for unit {unit} ({relation.value}), {activity.details['period']}: "
            f"{activity.amount.format()}",
            unit_code=unit,
            fee_type=fee_type,
            period=activity.details["period"],
            relation=relation,
            due_date=activity.details.get("dueDate"),
            autopay=bool(activity.details.get("autopay", False)),
        )
