"""tier ladder: rolling-window rules, policy, grace and history

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

- ``tier.min_formats`` (breadth rule: formats with an earn in the window) and
  ``tier.retention_threshold`` (window growth that keeps the tier at evaluation; NULL: the
  threshold), both nullable: the seeded ladder keeps its meaning.
- ``tier_policy``: one row with the window (12 months), the evaluation schedule (monthly on day
  1), the grace period (0 months) and the downgrade mode (one step).
- ``member.tier_grace_until`` (grace after a failed evaluation) and ``member.tier_decided_at``
  (when the tier was last decided: an evaluation skips members decided at or after its date);
  ``member_tier_history``.

Hand-written.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tier", schema=None) as batch_op:
        batch_op.add_column(sa.Column("min_formats", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("retention_threshold", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tier_grace_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("tier_decided_at", sa.DateTime(timezone=True), nullable=True))

    policy = op.create_table(
        "tier_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("window_months", sa.Integer(), nullable=False),
        sa.Column("evaluation_every_months", sa.Integer(), nullable=False),
        sa.Column("evaluation_day", sa.Integer(), nullable=False),
        sa.Column("grace_months", sa.Integer(), nullable=False),
        sa.Column("downgrade_mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(
        policy,
        [
            {
                "id": 1,
                "window_months": 12,
                "evaluation_every_months": 1,
                "evaluation_day": 1,
                "grace_months": 0,
                "downgrade_mode": "one_step",
            }
        ],
    )
    op.create_table(
        "member_tier_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("from_tier", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("to_tier", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("qualifying_growth", sa.BigInteger(), nullable=False),
        sa.Column("formats", sa.Integer(), nullable=False),
        sa.Column("posting_id", sa.Integer(), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["posting_id"], ["posting.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("member_tier_history", schema=None) as batch_op:
        batch_op.create_index("ix_member_tier_history_member_id_id", ["member_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("member_tier_history", schema=None) as batch_op:
        batch_op.drop_index("ix_member_tier_history_member_id_id")
    op.drop_table("member_tier_history")
    op.drop_table("tier_policy")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("tier_decided_at")
        batch_op.drop_column("tier_grace_until")
    with op.batch_alter_table("tier", schema=None) as batch_op:
        batch_op.drop_column("retention_threshold")
        batch_op.drop_column("min_formats")
