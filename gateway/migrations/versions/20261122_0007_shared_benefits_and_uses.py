"""shared benefits, benefit uses and quota counters

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22

- ``shared_benefit``: benefits the group's admins define, valid across formats, with a minimum
  tier, a validity window, an optional quota per period, a birthday-month condition and a list
  of formats where they can be used.
- ``benefit_use``: every use of a benefit (shared or a plugin's) by a member, keyed by the
  caller's idempotency key; a cancelled use keeps its row.
- ``benefit_counter``: uses of a quota'd benefit per member and period, raised by a guarded update.

Hand-written. New tables only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shared_benefit",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("min_tier", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("quota_count", sa.Integer(), nullable=True),
        sa.Column("quota_period", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("birthday_month", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("formats", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "benefit_use",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("benefit", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("format", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_in_period", sa.Integer(), nullable=True),
        sa.Column("quota", sa.Integer(), nullable=True),
        sa.Column("idempotency_scope", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_scope", "idempotency_key", name="uq_benefit_use_idempotency"),
    )
    with op.batch_alter_table("benefit_use", schema=None) as batch_op:
        batch_op.create_index("ix_benefit_use_member_id_id", ["member_id", "id"], unique=False)
    op.create_table(
        "benefit_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("benefit", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("member_id", "benefit", "period_start", name="uq_benefit_counter_member_benefit_period"),
    )


def downgrade() -> None:
    op.drop_table("benefit_counter")
    with op.batch_alter_table("benefit_use", schema=None) as batch_op:
        batch_op.drop_index("ix_benefit_use_member_id_id")
    op.drop_table("benefit_use")
    op.drop_table("shared_benefit")
