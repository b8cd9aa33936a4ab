"""previewEarn's service: it plans with the earn's own code, so it says what the earn then does, and writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from gateway.campaigns.model import Stacking
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.ledger.earn_preview import preview_earn
from gateway.ledger.postings import MemberRef
from gateway.persistence.campaign_tables import (
    campaign_budget_table,
    campaign_member_usage_table,
)
from gateway.settings import Settings
from tests.campaign_helpers import ZONE, add_campaign, at, dine, new_member, scope
from tests.conftest import Backend, statements_of
from tests.helpers import dining_bill, earn, retail_purchase, snapshot
from tests.pending_plugin import BoutiquePlugin, BoutiqueSaleInput


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return Settings(database_url=backend.url, plugins=None, timezone=ZONE, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    return [("boutique", BoutiquePlugin())]


@dataclass(frozen=True)
class Case:
    format: str
    kind: str
    data: Any
    when: datetime


CASES = {
    "plain purchase": Case("retail", "purchase", retail_purchase([("A", "grocery", 1, "88.80")], purchased_at=at(3)), at(3)),
    "member day, birthday and check-in": Case("retail", "purchase", retail_purchase([("A", "grocery", 2, "99.50")], purchased_at=at(18)), at(18)),
    "exclusive double twelve": Case("dining", "bill", dining_bill("321.00", closed_at=at(12)), at(12)),
    "budget nearly spent": Case("retail", "purchase", retail_purchase([("A", "apparel", 1, "500.00")], purchased_at=at(20)), at(20)),
    "pending points": Case("boutique", "sale", BoutiqueSaleInput(points_now=40, points_later=60, sold_at=at(21)), at(21)),
    "gift card only": Case("retail", "purchase", retail_purchase([("G", "gift_card", 1, "100.00")], purchased_at=at(18)), at(18)),
}


async def _campaigns_and_history(core: Core) -> int:
    await add_campaign(core, "member_day", multiplier="2", scope=scope(days_of_month=[18]))
    await add_campaign(core, "birthday", fixed=88, scope=scope(birthday_month=True))
    await add_campaign(core, "checkin", cross=50)
    await add_campaign(core, "double_twelve", multiplier="3", scope=scope(days_of_month=[12]), stacking=Stacking.EXCLUSIVE)
    await add_campaign(core, "spree", multiplier="1.5", budget=300, scope=scope(days_of_month=[20]))
    member = await new_member(core, "13800138001", born=date(1990, 12, 5), tier="silver")
    other = await new_member(core, "13800138002")
    await dine(core, member, "D-0", at(2), "60.00")
    await earn(core, other, "R-0", retail_purchase([("A", "grocery", 1, "500.00")], purchased_at=at(20)), at(20, 13))  # spree: 250 of 300
    return member


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
async def test_a_preview_equals_the_earn_that_follows(core: Core, case: Case) -> None:
    member = await _campaigns_and_history(core)
    now = case.when + timedelta(minutes=5)

    preview = await preview_earn(core, MemberRef(member_id=member), case.format, case.kind, case.data, now=now)
    result = await earn(core, member, "KEY-1", case.data, now, format_code=case.format, kind=case.kind)

    assert preview.plan.earn.lines == result.lines
    assert (preview.plan.earn.points, preview.plan.earn.growth) == (result.points, result.growth)
    assert preview.balance_after == result.balance_after
    assert preview.tier_after.code == result.tier_after
    assert sum(r.points for r in preview.plan.campaigns) == sum(
        line["points"] for line in result.lines if line["rule"].startswith("campaign.")
    )


async def test_the_cases_cover_campaigns_that_pay_cap_and_lose(core: Core) -> None:
    """The cases above are worth comparing: between them campaigns stack, cap, lose to an exclusive and wait."""
    member = await _campaigns_and_history(core)
    ref = MemberRef(member_id=member)
    outcomes = {}
    for name, case in CASES.items():
        preview = await preview_earn(core, ref, case.format, case.kind, case.data, now=case.when + timedelta(minutes=5))
        outcomes[name] = {r.campaign.code: (r.outcome.value, r.points) for r in preview.plan.campaigns}
        if name == "pending points":
            assert preview.plan.earn.pending > 0

    assert outcomes["member day, birthday and check-in"] == {
        "birthday": ("awarded", 88),
        "checkin": ("awarded", 50),
        "member_day": ("awarded", 199),
    }
    assert outcomes["exclusive double twelve"] == {"double_twelve": ("awarded", 642), "birthday": ("outranked", 0)}
    assert outcomes["budget nearly spent"]["spree"] == ("capped_by_budget", 50)
    assert outcomes["gift card only"] == {}


async def _campaign_counters(core: Core) -> list[tuple[Any, ...]]:
    async with core.db.read() as conn:
        budgets = (await conn.execute(select(campaign_budget_table).order_by("campaign_code"))).all()
        usage = (await conn.execute(select(campaign_member_usage_table).order_by("campaign_code", "member_id", "period"))).all()
    return [tuple(row) for row in [*budgets, *usage]]


async def test_a_preview_writes_nothing(core: Core) -> None:
    member = await _campaigns_and_history(core)
    before = (await snapshot(core), await _campaign_counters(core))
    case = CASES["member day, birthday and check-in"]

    with statements_of(core) as log:
        preview = await preview_earn(core, MemberRef(member_id=member), case.format, case.kind, case.data, now=case.when)

    assert preview.plan.earn.points > 0
    writes = [s for s in log.statements if s.lstrip().split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}]
    assert writes == []
    assert not any("FOR UPDATE" in s.upper() for s in log.statements)
    assert (await snapshot(core), await _campaign_counters(core)) == before


async def test_a_preview_refuses_what_the_earn_would_refuse(core: Core) -> None:
    member = await new_member(core, "13800138001")
    bad = retail_purchase([("A", "grocery", 1, "12.345")], purchased_at=at(3))

    with pytest.raises(AtriumError) as raised:
        await preview_earn(core, MemberRef(member_id=member), "retail", "purchase", bad, now=at(3))

    assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_AMOUNT, "input.items.0.unitPrice")
