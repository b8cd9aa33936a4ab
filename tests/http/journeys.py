"""What the three format journeys share: the request clock, the documents a till sends, small steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import update

from gateway.core import Core
from gateway.graphql.context import Context
from gateway.ledger.verify import verify_ledger
from gateway.persistence.models import member_table
from tests.http.graphql import Caller


class Clock:
    """The time every GraphQL request sees; a journey moves it forward as days pass."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: datetime) -> None:
        self.now = start
        monkeypatch.setattr(Context, "now", staticmethod(lambda: self.now))

    def set(self, moment: datetime) -> None:
        """From now on requests see ``moment``."""
        self.now = moment


ENROL = """
mutation Enrol($identity: IdentityInput!, $born: Date) {
  enrol(input: {identity: $identity, birthDate: $born}) { member { id number } errors { code field message } }
}"""

UPDATE_SETTINGS = """
mutation Settings($input: UpdatePluginSettingsInput!) {
  updatePluginSettings(input: $input) { settings { values changed } errors { code field message } }
}"""

POSTING = "posting { id kind points growth balanceAfter amount reason details replayed lines { rule points growth reason } }"
MEMBER = "member { pointsBalance pendingPoints growthValue }"
ERRORS = "errors { code field message }"

REDEEM = f"""
mutation Redeem($input: RedeemInput!) {{ redeem(input: $input) {{ {POSTING} {MEMBER} {ERRORS} }} }}"""

REFUND_ACTIVITY = f"""
mutation Refund($input: RefundActivityInput!) {{ refundActivity(input: $input) {{ {POSTING} {MEMBER} {ERRORS} }} }}"""

COUPON = """
query Coupon($code: String!) { coupon(code: $code) { code status faceValue item member { number } } }"""

USE_COUPON = """
mutation UseCoupon($input: UseCouponInput!) {
  useCoupon(input: $input) { coupon { code status usedTill } replayed errors { code field message } }
}"""

USE_BENEFIT = """
mutation Use($input: UseBenefitInput!) {
  useBenefit(input: $input) { use { benefit usedInPeriod remainingInPeriod replayed } errors { code field message } }
}"""

WALL = """
query Wall { me { benefits { unlocked lockedReason unlockedBy { code } benefit { id } usage { used remaining } } } }"""

QUOTE = """
query Quote($format: String!, $bill: MoneyInput!, $member: MemberRefInput) {
  pointsOffsetQuote(format: $format, bill: $bill, member: $member) {
    points offset cash maxPoints balance capPercent pointsValueMinor
  }
}"""

APPLY_OFFSET = f"""
mutation Offset($input: ApplyPointsOffsetInput!) {{ applyPointsOffset(input: $input) {{ {POSTING} {MEMBER} {ERRORS} }} }}"""

BALANCES = "query Me { me { pointsBalance pendingPoints growthValue } }"


def cny(amount: str) -> dict[str, str]:
    """A MoneyInput in yuan."""
    return {"amount": amount, "currency": "CNY"}


async def enrol(till: Caller, phone: str, born: str | None = None) -> dict[str, Any]:
    """Enrol a member by phone at ``till``; returns ``{id, number}``."""
    payload = await till.mutate("enrol", ENROL, {"identity": {"kind": "PHONE", "value": phone}, "born": born})
    assert payload["errors"] == []
    return dict(payload["member"])


async def change_settings(admin: Caller, format_code: str, values: dict[str, Any], reason: str) -> dict[str, Any]:
    """An admin changes a format's settings; returns the values in force."""
    payload = await admin.mutate(
        "updatePluginSettings", UPDATE_SETTINGS, {"input": {"format": format_code, "values": values, "reason": reason}}
    )
    assert payload["errors"] == []
    return dict(payload["settings"]["values"])


def wall_entry(wall: list[dict[str, Any]], benefit_id: str) -> dict[str, Any]:
    """One benefit of a member's wall."""
    [entry] = [item for item in wall if item["benefit"]["id"] == benefit_id]
    return entry


async def put_in_tier(core: Core, number: int, tier: str) -> None:
    """Place a member in ``tier`` directly, as if it had climbed there (no API sets a tier by hand)."""
    async with core.db.write() as conn:
        await conn.execute(update(member_table).where(member_table.c.id == number).values(tier_code=tier))


async def ledger_balances(core: Core) -> bool:
    """Whether every stored balance matches the entries (``atrium ledger verify``)."""
    async with core.db.read() as conn:
        return await verify_ledger(conn) == []
