"""Helpers for campaign tests: a Shanghai-time calendar in December 2026, campaigns, members, activity."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from gateway.campaigns.model import (
    CampaignConfig,
    CampaignReward,
    CampaignScope,
    LimitPeriod,
    MemberLimit,
    Stacking,
)
from gateway.campaigns.store import create_campaign
from gateway.core import Core
from gateway.identity import enrol
from gateway.ledger.postings import PostingResult
from gateway.ledger.verify import verify_ledger
from gateway.persistence.campaign_tables import campaign_budget_table
from gateway.persistence.models import member_table
from gateway.tiers import current_ladder
from tests.helpers import dining_bill, earn, phone_key, retail_purchase

ZONE = "Asia/Shanghai"
SHANGHAI = ZoneInfo(ZONE)
ENROLLED = datetime(2026, 11, 1, 9, tzinfo=SHANGHAI)


def at(day: int, hour: int = 12, *, month: int = 12, year: int = 2026) -> datetime:
    """A moment in Shanghai time (December 2026 unless told)."""
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


async def add_campaign(
    core: Core,
    code: str,
    *,
    multiplier: str = "1",
    fixed: int = 0,
    cross: int = 0,
    scope: CampaignScope | None = None,
    starts: datetime | None = None,
    ends: datetime | None = None,
    budget: int | None = None,
    limit: tuple[int, LimitPeriod] | None = None,
    stacking: Stacking = Stacking.STACKABLE,
    priority: int = 0,
    name: str | None = None,
) -> CampaignConfig:
    """Create a campaign running through December 2026 (Shanghai) unless told otherwise."""
    config = CampaignConfig(
        code=code,
        name=name or code.replace("_", " ").capitalize(),
        starts_at=starts or at(1, 0),
        ends_at=ends or at(1, 0, month=1, year=2027),
        scope=scope or CampaignScope(),
        reward=CampaignReward(multiplier=Decimal(multiplier), fixed_bonus=fixed, cross_format_bonus=cross),
        budget_cap=budget,
        member_limit=None if limit is None else MemberLimit(points=limit[0], period=limit[1]),
        stacking=stacking,
        priority=priority,
    )
    return await create_campaign(core, config, actor="admin", now=ENROLLED)


def scope(**kwargs: object) -> CampaignScope:
    """A scope with the given conditions (lists as tuples)."""
    return replace(CampaignScope(), **{key: tuple(value) if isinstance(value, list) else value for key, value in kwargs.items()})


async def new_member(core: Core, phone: str, *, born: date | None = None, tier: str = "member") -> int:
    """Enrol a member (born on ``born``) and put it in ``tier``."""
    member_id = await enrol(
        core.db, identity=phone_key(phone), ladder=await current_ladder(core), enrolled_format="retail", now=ENROLLED, birth_date=born
    )
    if tier != "member":
        async with core.db.write() as conn:
            await conn.execute(update(member_table).where(member_table.c.id == member_id).values(tier_code=tier))
    return member_id


async def buy(core: Core, member_id: int, key: str, when: datetime, amount: str = "200.00", category: str = "grocery") -> PostingResult:
    """A retail purchase made at ``when`` and recorded a minute later."""
    data = retail_purchase([("SKU1", category, 1, amount)], purchased_at=when)
    return await earn(core, member_id, key, data, when + timedelta(minutes=1))


async def dine(core: Core, member_id: int, key: str, when: datetime, amount: str = "100.00") -> PostingResult:
    """A restaurant bill closed at ``when`` and recorded a minute later."""
    return await earn(core, member_id, key, dining_bill(amount, closed_at=when), when + timedelta(minutes=1), format_code="dining", kind="bill")


def campaign_lines(result: PostingResult) -> dict[str, int]:
    """Points per campaign line of a posting: ``{"campaign.member_day": 200, ...}``."""
    return {line["rule"]: line["points"] for line in result.lines if line["rule"].startswith("campaign.")}


async def issued(core: Core, code: str) -> int:
    """Points the campaign's budget counter says it has issued."""
    async with core.db.read() as conn:
        return int(await conn.scalar(select(campaign_budget_table.c.issued).where(campaign_budget_table.c.campaign_code == code)))


async def ledger_problems(core: Core) -> list[object]:
    """What :func:`verify_ledger` finds wrong (nothing, in a sound ledger)."""
    async with core.db.read() as conn:
        return list(await verify_ledger(conn))
