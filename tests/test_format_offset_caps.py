"""A format's own cap on points plus cash, from its plugin settings: it lowers the group's cap, never raises it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.cash import (
    OffsetRequest,
    apply_points_offset,
    offset_policy,
    quote_points_offset,
)
from gateway.ledger.postings import MemberRef
from gateway.money import Money
from gateway.plugin_settings import update_settings
from gateway.settings import PointsOffsetOverride, Settings
from tests.helpers import earn, enrol_phone, retail_purchase

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)


async def _member_with_points(core: Core, points: int) -> MemberRef:
    member_id = await enrol_phone(core, "13800138000", T0 - timedelta(days=1))
    await earn(core, member_id, "R-1", retail_purchase([("SKU1", "grocery", 1, f"{points}.00")]), T0 - timedelta(hours=1))
    return MemberRef(member_id=member_id)


async def _cap(core: Core, format_code: str, percent: int | None) -> None:
    await update_settings(
        core, format_code, {"points_offset_cap_percent": percent}, actor="admin:ops", reason="offset policy", now=T0
    )


def test_the_lower_of_the_groups_and_the_formats_cap_applies() -> None:
    group = Settings(_env_file=None, points_offset_cap_percent=50)  # type: ignore[call-arg]

    assert offset_policy(group, "property", 20).cap_percent == 20
    assert offset_policy(group, "property", 80).cap_percent == 50
    assert offset_policy(group, "property", None).cap_percent == 50
    override = group.model_copy(update={"points_offset_overrides": {"property": PointsOffsetOverride(cap_percent=10)}})
    assert offset_policy(override, "property", 20).cap_percent == 10


@pytest.mark.parametrize("format_code", ["retail", "dining", "property"])
async def test_each_first_party_format_lowers_its_cap_in_its_settings(core: Core, format_code: str) -> None:
    member = await _member_with_points(core, 5000)
    await _cap(core, format_code, 20)

    quote = await quote_points_offset(core, member, format_code, Money(100_00, "CNY"), now=T0)

    assert (quote.policy.cap_percent, quote.max_points, quote.points) == (20, 2000, 2000)


async def test_a_format_cannot_raise_the_groups_cap(core: Core) -> None:
    member = await _member_with_points(core, 5000)
    await _cap(core, "property", 90)

    quote = await quote_points_offset(core, member, "property", Money(100_00, "CNY"), now=T0)

    assert (quote.policy.cap_percent, quote.max_points) == (50, 5000)


async def test_paying_past_the_formats_cap_is_refused(core: Core) -> None:
    member = await _member_with_points(core, 5000)
    await _cap(core, "property", 20)

    with pytest.raises(AtriumError) as raised:
        await apply_points_offset(core, OffsetRequest(member, "property", Money(100_00, "CNY"), 2001, "NOTICE-1"), now=T0)
    paid = await apply_points_offset(core, OffsetRequest(member, "property", Money(100_00, "CNY"), 2000, "NOTICE-1"), now=T0)

    assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_INPUT, "points")
    assert "20% of CN¥100.00" in raised.value.message
    assert (paid.points, paid.details["capPercent"]) == (-2000, 20)
