"""campaigns, their budget counters and per-member usage

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22

- ``campaign``: the admins' earn boosts: window, scope, reward, per-member limit, stacking.
- ``campaign_budget``: one row per campaign, points issued so far and the cap; a CHECK keeps
  ``issued <= cap``.
- ``campaign_member_usage``: points a campaign gave a member per limit period.

Hand-written. New tables only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("formats", sa.JSON(), nullable=False),
        sa.Column("min_tier", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("activity_kinds", sa.JSON(), nullable=False),
        sa.Column("days_of_month", sa.JSON(), nullable=False),
        sa.Column("weekdays", sa.JSON(), nullable=False),
        sa.Column("birthday_month", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("min_amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("multiplier", sa.Numeric(6, 3), nullable=False),
        sa.Column("fixed_bonus", sa.BigInteger(), nullable=False),
        sa.Column("cross_format_bonus", sa.BigInteger(), nullable=False),
        sa.Column("member_limit", sa.BigInteger(), nullable=True),
        sa.Column("member_limit_period", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("stacking", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "campaign_budget",
        sa.Column("campaign_code", sa.String(length=32), nullable=False),
        sa.Column("cap", sa.BigInteger(), nullable=True),
        sa.Column("issued", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("cap IS NULL OR issued <= cap", name="ck_campaign_budget_within_cap"),
        sa.ForeignKeyConstraint(["campaign_code"], ["campaign.code"], name="fk_campaign_budget_campaign"),
        sa.PrimaryKeyConstraint("campaign_code"),
    )
    op.create_table(
        "campaign_member_usage",
        sa.Column("campaign_code", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("issued", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_code"], ["campaign.code"], name="fk_campaign_usage_campaign"),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name="fk_campaign_usage_member"),
        sa.PrimaryKeyConstraint("campaign_code", "member_id", "period"),
    )


def downgrade() -> None:
    op.drop_table("campaign_member_usage")
    op.drop_table("campaign_budget")
    op.drop_table("campaign")
