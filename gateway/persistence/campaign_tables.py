"""Tables of campaigns: the admins' configuration, each campaign's budget counter, each member's usage.

``campaign`` is configuration (read through the config cache, changed by admin mutations only).
The counters that every earn under a campaign moves live apart from it, so the configuration
rows stay still and their audit log readable:

- ``campaign_budget``: one row per campaign, ``issued`` points so far and the ``cap`` (``NULL``:
  no cap). A CHECK keeps ``issued <= cap`` in the database itself, whatever the code does.
- ``campaign_member_usage``: points a campaign gave one member in one ``period`` (``all`` for the
  campaign's whole life, ``YYYY-MM`` for a month, ``YYYY-MM-DD`` for a day, in the group's time
  zone), for the per-member limit.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    Numeric,
    String,
    false,
)
from sqlmodel import Field, SQLModel

from gateway.persistence.models import _ts


class Campaign(SQLModel, table=True):
    """A time-boxed earn boost: when it runs, for which activity, what it adds, and how it stacks.

    Scope lists (``formats``, ``tiers``, ``activity_kinds``, ``days_of_month``, ``weekdays``) are
    JSON arrays; an empty array does not restrict. ``multiplier`` is the multiple of the base
    points the campaign pays in all (2 = double points: the campaign adds 1 × base).
    ``stacking`` is ``stackable`` or ``exclusive``. ``member_limit_period`` is ``campaign``,
    ``month`` or ``day`` when ``member_limit`` is set.
    """

    __tablename__ = "campaign"

    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=128)
    starts_at: datetime = _ts(nullable=False)
    ends_at: datetime = _ts(nullable=False)
    formats: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    min_tier: str | None = Field(default=None, max_length=32)
    tiers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    activity_kinds: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    days_of_month: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    weekdays: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    birthday_month: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, default=False, server_default=false())
    )
    min_amount_minor: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    multiplier: Decimal = Field(sa_column=Column(Numeric(6, 3), nullable=False))
    fixed_bonus: int = Field(sa_column=Column(BigInteger, nullable=False))
    cross_format_bonus: int = Field(sa_column=Column(BigInteger, nullable=False))
    member_limit: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    member_limit_period: str | None = Field(default=None, max_length=16)
    stacking: str = Field(max_length=16)
    priority: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class CampaignBudget(SQLModel, table=True):
    """How many points a campaign has issued, and the most it may (``cap``; ``NULL``: no cap)."""

    __tablename__ = "campaign_budget"
    __table_args__ = (CheckConstraint("cap IS NULL OR issued <= cap", name="ck_campaign_budget_within_cap"),)

    campaign_code: str = Field(
        sa_column=Column(String(32), ForeignKey("campaign.code", name="fk_campaign_budget_campaign"), primary_key=True)
    )
    cap: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    issued: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class CampaignMemberUsage(SQLModel, table=True):
    """Points one campaign gave one member in one period: what the per-member limit counts."""

    __tablename__ = "campaign_member_usage"

    campaign_code: str = Field(
        sa_column=Column(String(32), ForeignKey("campaign.code", name="fk_campaign_usage_campaign"), primary_key=True)
    )
    member_id: int = Field(
        sa_column=Column(Integer, ForeignKey("member.id", name="fk_campaign_usage_member"), primary_key=True)
    )
    period: str = Field(sa_column=Column(String(10), primary_key=True))
    issued: int = Field(sa_column=Column(BigInteger, nullable=False))


campaign_table = Campaign.__table__
campaign_budget_table = CampaignBudget.__table__
campaign_member_usage_table = CampaignMemberUsage.__table__
