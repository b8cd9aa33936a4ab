"""Tables of benefits: the admins' shared benefits, each member's uses, and per-period quota counters.

A benefit is named ``<format>.<code>`` (a plugin's) or ``group.<code>`` (a shared one, in
``shared_benefit``). Every use is a ``benefit_use`` row holding its idempotency key, so a till's
retry finds it. A quota'd benefit also keeps one ``benefit_counter`` row per member, benefit and
period (``period_start`` is the period's first instant in the group's time zone, stored in UTC):
a use raises ``used`` by a guarded update that never passes the quota; a cancelled use lowers it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Index, UniqueConstraint, false, true
from sqlmodel import Field, SQLModel

from gateway.persistence.models import _ts


class SharedBenefit(SQLModel, table=True):
    """A benefit the group's admins define, valid across formats (``formats`` empty: any format).

    ``quota_count`` uses per ``quota_period`` (``day``, ``week``, ``month``, ``quarter``, ``year``)
    or both ``NULL`` for no quota. ``birthday_month``: usable only in the member's birth month.
    A retired benefit (``active`` false) is kept, so its past uses still name it.
    """

    __tablename__ = "shared_benefit"

    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=64)
    description: str = Field(max_length=500)
    min_tier: str = Field(max_length=32)
    valid_from: datetime | None = _ts(nullable=True)
    valid_until: datetime | None = _ts(nullable=True)
    quota_count: int | None = None
    quota_period: str | None = Field(default=None, max_length=16)
    birthday_month: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, default=False, server_default=false())
    )
    formats: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, default=True, server_default=true()))
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class BenefitUse(SQLModel, table=True):
    """One use of a benefit by a member, and the result it returned (replayed on a retry).

    ``format`` is where it was used (``NULL``: not said, for a benefit usable anywhere).
    ``period_start``, ``period_end`` (when the quota resets), ``used_in_period`` (after this use)
    and ``quota`` are ``NULL`` for a benefit without quota.
    """

    __tablename__ = "benefit_use"
    __table_args__ = (
        UniqueConstraint("idempotency_scope", "idempotency_key", name="uq_benefit_use_idempotency"),
        Index("ix_benefit_use_member_id_id", "member_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id")
    benefit: str = Field(max_length=64)
    format: str | None = Field(default=None, max_length=32)
    quantity: int
    period_start: datetime | None = _ts(nullable=True)
    period_end: datetime | None = _ts(nullable=True)
    used_in_period: int | None = None
    quota: int | None = None
    idempotency_scope: str = Field(max_length=64)
    idempotency_key: str = Field(max_length=128)
    request_hash: str = Field(max_length=64)
    actor: str = Field(max_length=128)
    used_at: datetime = _ts(nullable=False)
    cancelled_at: datetime | None = _ts(nullable=True)


class BenefitCounter(SQLModel, table=True):
    """How much of a quota'd benefit a member used in one period (cancelled uses given back)."""

    __tablename__ = "benefit_counter"
    __table_args__ = (
        UniqueConstraint("member_id", "benefit", "period_start", name="uq_benefit_counter_member_benefit_period"),
    )

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id")
    benefit: str = Field(max_length=64)
    period_start: datetime = _ts(nullable=False)
    used: int


shared_benefit_table: Any = SharedBenefit.__table__
benefit_use_table: Any = BenefitUse.__table__
benefit_counter_table: Any = BenefitCounter.__table__
