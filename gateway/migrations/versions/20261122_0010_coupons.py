"""coupons

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22

- ``coupon``: one row per coupon a redemption issued (rewards whose type declares a
  ``CouponSpec``): its unique code, member, issuing format, reward, the redemption posting, its
  status (issued, used, expired, cancelled), its value (face value in minor units and currency,
  or an item), when it was issued and expires, who used it (and the till's idempotency key,
  unique within the format), and the posting that cancelled it.

Hand-written. A new table only: redemptions made before it issued no coupons.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupon",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("format", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("reward_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("redemption_posting_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("value_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
        sa.Column("item", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("used_till", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("use_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_posting_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["redemption_posting_id"], ["posting.id"]),
        sa.ForeignKeyConstraint(["cancel_posting_id"], ["posting.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code", name="uq_coupon_code"),
        sa.UniqueConstraint("format", "use_key", name="uq_coupon_use_key"),
    )
    with op.batch_alter_table("coupon", schema=None) as batch_op:
        batch_op.create_index("ix_coupon_member_id_id", ["member_id", "id"], unique=False)
        batch_op.create_index("ix_coupon_redemption_posting_id", ["redemption_posting_id"], unique=False)
        batch_op.create_index(
            "ix_coupon_issued_expiry",
            ["expires_at"],
            unique=False,
            postgresql_where=sa.text("status = 'issued'"),
            sqlite_where=sa.text("status = 'issued'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("coupon", schema=None) as batch_op:
        batch_op.drop_index("ix_coupon_issued_expiry")
        batch_op.drop_index("ix_coupon_redemption_posting_id")
        batch_op.drop_index("ix_coupon_member_id_id")
    op.drop_table("coupon")
