"""Campaign configuration: validated, audited, cached (no SQL when warm) and invalidated on change."""

from __future__ import annotations

import re
import secrets
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from gateway.campaigns.model import (
    CampaignConfig,
    CampaignReward,
    CampaignScope,
    LimitPeriod,
    MemberLimit,
    validate_campaign,
)
from gateway.campaigns.store import campaign_configs, end_campaign, update_campaign
from gateway.config_audit import config_changes
from gateway.config_cache import ConfigCache
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from tests.campaign_helpers import add_campaign, at, buy, new_member
from tests.conftest import statements_of

VALID = CampaignConfig(
    code="member_day",
    name="Member day",
    starts_at=at(1, 0),
    ends_at=at(1, 0, month=1, year=2027),
    scope=CampaignScope(days_of_month=(18,)),
    reward=CampaignReward(multiplier=Decimal(2)),
)
KNOWN = {
    "formats": ("retail", "dining"),
    "activity_kinds": {"retail": ("purchase",), "dining": ("bill",)},
    "tier_codes": ("member", "silver", "gold"),
}

BAD = {
    "code": (replace(VALID, code="Member Day"), "input.code"),
    "name": (replace(VALID, name="  "), "input.name"),
    "naive time": (replace(VALID, starts_at=at(1).replace(tzinfo=None)), "input.startsAt"),
    "ends before it starts": (replace(VALID, ends_at=at(1, 0)), "input.endsAt"),
    "unknown format": (replace(VALID, scope=CampaignScope(formats=("retail", "cinema"))), "input.scope.formats.1"),
    "unknown tier": (replace(VALID, scope=CampaignScope(min_tier="platinum")), "input.scope.minTier"),
    "minimum and listed tiers": (replace(VALID, scope=CampaignScope(min_tier="gold", tiers=("gold",))), "input.scope.tiers"),
    "kind of another format": (replace(VALID, scope=CampaignScope(formats=("retail",), activity_kinds=("bill",))), "input.scope.activityKinds.0"),
    "day 32": (replace(VALID, scope=CampaignScope(days_of_month=(18, 32))), "input.scope.daysOfMonth.1"),
    "weekday 0": (replace(VALID, scope=CampaignScope(weekdays=(0,))), "input.scope.weekdays.0"),
    "multiplier below 1": (replace(VALID, reward=CampaignReward(multiplier=Decimal("0.5"))), "input.reward.multiplier"),
    "multiplier not a number": (replace(VALID, reward=CampaignReward(multiplier="two")), "input.reward.multiplier"),  # type: ignore[arg-type]
    "rewards nothing": (replace(VALID, reward=CampaignReward()), "input.reward"),
    "negative bonus": (replace(VALID, reward=CampaignReward(fixed_bonus=-5)), "input.reward.fixedBonus"),
    "zero budget": (replace(VALID, budget_cap=0), "input.budget"),
    "zero member limit": (replace(VALID, member_limit=MemberLimit(0, LimitPeriod.DAY)), "input.memberLimit.points"),
}


@pytest.mark.parametrize(("config", "field"), list(BAD.values()), ids=list(BAD))
def test_bad_configuration_is_invalid_config_naming_the_field(config: CampaignConfig, field: str) -> None:
    with pytest.raises(AtriumError) as raised:
        validate_campaign(config, **KNOWN)  # type: ignore[arg-type]

    assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_CONFIG, field)


def test_validation_normalises_lists_times_and_multipliers() -> None:
    config = replace(
        VALID,
        name=" Member day ",
        scope=CampaignScope(formats=("retail", "dining", "retail"), weekdays=(7, 6)),
        reward=CampaignReward(multiplier=Decimal("2.500")),
    )

    valid = validate_campaign(config, **KNOWN)  # type: ignore[arg-type]

    assert (valid.name, valid.scope.formats, valid.scope.weekdays) == ("Member day", ("dining", "retail"), (6, 7))
    assert str(valid.reward.multiplier) == "2.5"
    assert valid.starts_at.utcoffset() == timedelta(0) and valid.starts_at == VALID.starts_at


async def test_on_a_warm_cache_reading_campaigns_issues_no_sql(core: Core) -> None:
    await add_campaign(core, "member_day", multiplier="2")
    await campaign_configs(core)

    with statements_of(core) as log:
        campaigns = await campaign_configs(core)

    assert [c.code for c in campaigns] == ["member_day"]
    assert log.count == 0


async def test_an_earn_reads_no_campaign_configuration_from_the_database_when_the_cache_is_warm(core: Core) -> None:
    await add_campaign(core, "member_day", multiplier="2")
    member = await new_member(core, "13800138001")
    await buy(core, member, "R-1", at(3), "10.00")

    with statements_of(core) as log:
        await buy(core, member, "R-2", at(4), "10.00")

    assert not [s for s in log.statements if re.search(r"FROM campaign(?!\w)", s)]
    assert any("campaign_budget" in s for s in log.statements)  # the live budget is read, not cached


async def test_a_change_is_seen_at_once_and_logged_with_before_and_after(core: Core) -> None:
    created = await add_campaign(core, "member_day", multiplier="2")
    member = await new_member(core, "13800138001")
    assert (await campaign_configs(core))[0].reward.multiplier == 2

    changed = replace(created, reward=CampaignReward(multiplier=Decimal(3)), budget_cap=1000)
    await update_campaign(core, changed, actor="admin:alice", now=at(2), reason="double is not enough")
    result = await buy(core, member, "R-1", at(3), "10.00")

    assert (await campaign_configs(core))[0].reward.multiplier == 3
    assert result.points == 10 + 20
    async with core.db.read() as conn:
        logged = await config_changes(conn, entity="campaign")
    assert [(c.actor, c.key, c.reason) for c in logged] == [
        ("admin:alice", "member_day", "double is not enough"),
        ("admin", "member_day", None),
    ]
    assert logged[1].before is None and logged[1].after["reward"]["multiplier"] == "2"
    assert (logged[0].before["reward"]["multiplier"], logged[0].after["reward"]["multiplier"]) == ("2", "3")
    assert (logged[0].before["budgetCap"], logged[0].after["budgetCap"]) == (None, 1000)


async def test_saving_the_same_configuration_logs_nothing(core: Core) -> None:
    created = await add_campaign(core, "member_day", multiplier="2")

    await update_campaign(core, created, actor="admin", now=at(2))

    async with core.db.read() as conn:
        assert len(await config_changes(conn, entity="campaign")) == 1


async def test_a_budget_cannot_be_cut_below_what_the_campaign_issued(core: Core) -> None:
    created = await add_campaign(core, "launch", fixed=100, budget=1000)
    member = await new_member(core, "13800138001")
    await buy(core, member, "R-1", at(3), "10.00")
    await buy(core, member, "R-2", at(4), "10.00")

    with pytest.raises(AtriumError) as raised:
        await update_campaign(core, replace(created, budget_cap=150), actor="admin", now=at(5))
    await update_campaign(core, replace(created, budget_cap=200), actor="admin", now=at(5))

    assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_CONFIG, "input.budget")
    assert (await campaign_configs(core))[0].budget_cap == 200


async def test_a_code_is_created_once_and_unknown_codes_are_not_found(core: Core) -> None:
    await add_campaign(core, "launch", fixed=100)

    with pytest.raises(AtriumError) as taken:
        await add_campaign(core, "launch", fixed=5)
    with pytest.raises(AtriumError) as unknown:
        await end_campaign(core, "nope", actor="admin", now=at(3))

    assert (taken.value.code, taken.value.field) == (ErrorCode.INVALID_CONFIG, "input.code")
    assert (unknown.value.code, unknown.value.field) == (ErrorCode.CONFIG_NOT_FOUND, "input.code")


async def test_ending_a_campaign_closes_its_window_now_and_is_logged_once(core: Core) -> None:
    await add_campaign(core, "launch", fixed=100)

    ended = await end_campaign(core, "launch", actor="admin", now=at(10), reason="stock ran out")
    again = await end_campaign(core, "launch", actor="admin", now=at(11))

    assert ended.ends_at == again.ends_at == at(10)
    async with core.db.read() as conn:
        logged = await config_changes(conn, entity="campaign")
    assert [c.reason for c in logged] == ["stock ran out", None]


async def test_campaigns_cached_in_redis_come_back_equal_and_warm(core: Core, redis_url: str) -> None:
    await add_campaign(core, "member_day", multiplier="2.5", budget=100)
    core.cache = ConfigCache(redis_url, database_url="unused", ttl_seconds=60, namespace=f"atrium-test:{secrets.token_hex(6)}:")
    try:
        loaded = await campaign_configs(core)
        with statements_of(core) as log:
            cached = await campaign_configs(core)
    finally:
        await core.cache.clear()
        await core.cache.close()

    assert cached == loaded and cached[0].reward.multiplier == Decimal("2.5")
    assert log.count == 0
