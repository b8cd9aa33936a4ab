"""The property fee payment as the billing system sends it, and its validation into a draft."""

from __future__ import annotations

import re
from datetime import datetime
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


def fee_payment_to_activity(data: PropertyFeePaymentInput) -> ActivityDraft:
    """Validate a fee payment and turn it into an :class:`ActivityDraft` whose store is the unit.

    The details keep the unit, the fee type (lowercase) and the period, which the earn rule uses
    to pick the rate and name the fee in the member's reason line. Raises
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
    return ActivityDraft(
        amount=amount,
        occurred_at=data.paid_at,
        store=unit,
        details={"unitCode": unit, "feeType": PropertyFeeType(data.fee_type).value, "period": period},
    )


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
