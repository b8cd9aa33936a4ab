"""The property fee payment as the billing system sends it, and its validation into a draft.

**Members and units.** A member is linked to a unit as its owner, tenant or resident, and several
members may be linked to one unit. The link travels on each fee payment (``unitCode`` and
``relation``) and is kept in the payment's posting details, where history shows it. Why not a
table of links in the gateway: a plugin may not own gateway tables, and a generic member-attributes
table is more than one format needs. Why not the plugin's settings: settings are configuration an
admin audits field by field, not a register of thousands of units whose occupants change every
week. The register of who lives where already exists in the property management system, which
bills the fees and knows who paid: the gateway takes its word, checks the shape (a unit code, one
of three relations) and applies the group's policy to it (``bonus_relations``).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import Enum

import strawberry

from gateway.plugin_api import ActivityDraft, ActivityRejected, MoneyInput, parse_money

MAX_UNIT_CODE_LENGTH = 32
"""Longest unit code accepted (building-floor-door codes are short)."""

_PERIOD = re.compile(r"^([0-9]{4})-([0-9]{2})$")


@strawberry.enum(description="What a property fee pays for; management fees earn at a higher rate.")
class PropertyFeeType(Enum):
    """The kinds of property fee; the value is the lowercase name stored in activity details."""

    MANAGEMENT = "management"
    PARKING = "parking"
    UTILITIES = "utilities"


@strawberry.enum(description="How the paying member is linked to the unit.")
class PropertyRelation(Enum):
    """A member's link to a unit; the value is the lowercase name stored in activity details."""

    OWNER = "owner"
    TENANT = "tenant"
    RESIDENT = "resident"


@strawberry.input(description="A property fee paid for one unit and one billing month.")
class PropertyFeePaymentInput:
    """A paid property fee: which unit, what for, how much and for which month."""

    unit_code: str = strawberry.field(description="The unit (apartment, shop, parking space), e.g. A-1203.")
    fee_type: PropertyFeeType = strawberry.field(description="What the fee pays for.")
    amount: MoneyInput = strawberry.field(description="The amount paid.")
    period: str = strawberry.field(description="The billing month the fee covers, as YYYY-MM, e.g. 2026-11.")
    paid_at: datetime | None = strawberry.field(
        default=None, description="When the fee was paid, with a timezone offset; omitted means now."
    )
    relation: PropertyRelation = strawberry.field(
        default=PropertyRelation.OWNER,
        description="How the paying member is linked to the unit, as the property system knows it; "
        "OWNER unless it says otherwise (fees are billed to owners).",
    )
    due_date: date | None = strawberry.field(
        default=None, description="The fee notice's due date: paid on or before it (estate's calendar) earns the on-time bonus."
    )
    autopay: bool = strawberry.field(default=False, description="True when the fee was paid by automatic debit (代扣): it earns the autopay bonus.")


def fee_payment_to_activity(data: PropertyFeePaymentInput) -> ActivityDraft:
    """Validate a fee payment and turn it into an :class:`ActivityDraft` whose store is the unit.

    The details keep the unit, the fee type (lowercase), the period and the payer's relation to the
    unit, which the earn rules use to pick the rate and name the fee in the member's reason line,
    and the due date and autopay flag when given, for the bonuses. Raises
    :class:`ActivityRejected` (or the money parser's error) naming the offending field.
    """
    unit = data.unit_code.strip()
    if not unit:
        raise ActivityRejected("The unit code cannot be empty.", field="unitCode")
    if len(unit) > MAX_UNIT_CODE_LENGTH:
        raise ActivityRejected(f"The unit code has at most {MAX_UNIT_CODE_LENGTH} characters.", field="unitCode")
    currency = parse_money(0, data.amount.currency, field="amount.currency", allow_zero=True).currency
    amount = parse_money(data.amount.amount, currency, field="amount.amount")
    period = parse_period(data.period)
    if data.paid_at is not None and data.paid_at.utcoffset() is None:
        raise ActivityRejected(
            "The time must include a timezone offset, e.g. 2026-11-03T09:30:00+08:00.", field="paidAt"
        )
    details: dict[str, str | bool] = {
        "unitCode": unit,
        "feeType": PropertyFeeType(data.fee_type).value,
        "period": period,
        "relation": PropertyRelation(data.relation).value,
    }
    if data.due_date is not None:
        details["dueDate"] = data.due_date.isoformat()
    if data.autopay:
        details["autopay"] = True
    return ActivityDraft(amount=amount, occurred_at=data.paid_at, store=unit, details=details)


def parse_period(text: str) -> str:
    """Check a billing month written ``YYYY-MM`` (month 01 to 12) and return it stripped."""
    value = text.strip()
    match = _PERIOD.match(value)
    if match is None:
        raise ActivityRejected(
            f"The period must be a month written YYYY-MM, e.g. 2026-11; got {text!r}.", field="period"
        )
    if not 1 <= int(match.group(2)) <= 12:
        raise ActivityRejected(f"The period's month must be 01 to 12; got {text!r}.", field="period")
    return value
