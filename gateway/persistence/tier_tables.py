"""Tables of the tier ladder beyond the ``tier`` rows: the ladder's policy and each member's tier history.

``tier_policy`` holds one row (``id`` 1): the rolling window, the evaluation schedule, the grace
period and the downgrade mode (:class:`gateway.tiers.TierPolicy`; no row means the defaults).
``member_tier_history`` gets one row for every change of a member's tier, whatever made it:
an earn, an evaluation, an admin or a merge. Its rows are never updated or deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from gateway.persistence.models import _ts


class TierPolicyRow(SQLModel, table=True):
    """How the ladder qualifies and evaluates members; one row, ``id`` 1."""

    __tablename__ = "tier_policy"

    id: int = Field(default=1, primary_key=True)
    window_months: int
    evaluation_every_months: int
    evaluation_day: int
    grace_months: int
    downgrade_mode: str = Field(max_length=16)


class MemberTierHistory(SQLModel, table=True):
    """One change of a member's tier: from, to, why, and the qualifying activity at the time.

    ``source`` is ``earn``, ``evaluation``, ``admin`` or ``merge``. Tier codes are kept as text
    (no foreign key): the history outlives a tier removed from the ladder. ``posting_id`` names
    the earn or merge posting that made the change; ``actor`` the admin who assigned a tier.
    """

    __tablename__ = "member_tier_history"
    __table_args__ = (Index("ix_member_tier_history_member_id_id", "member_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id")
    from_tier: str = Field(max_length=32)
    to_tier: str = Field(max_length=32)
    source: str = Field(max_length=16)
    reason: str = Field(max_length=500)
    qualifying_growth: int = Field(sa_column=Column(BigInteger, nullable=False))
    formats: int
    posting_id: int | None = Field(default=None, foreign_key="posting.id")
    actor: str | None = Field(default=None, max_length=128)
    at: datetime = _ts(nullable=False)


tier_policy_table = TierPolicyRow.__table__
member_tier_history_table = MemberTierHistory.__table__
