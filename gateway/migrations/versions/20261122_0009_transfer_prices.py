"""transfer prices for settlement, and postings indexed by booking time

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22

- ``transfer_price``: the price per point (minor units, Numeric(12, 4)) an issuing format pays the
  format that redeemed its points: the group default (issuer and redeemer ``*``) and per-pair
  overrides (:mod:`gateway.persistence.settlement_tables`).
- ``ix_posting_created_at``: settlement reads a period's postings by booking time.

Hand-written. A new table and a new index only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transfer_price",
        sa.Column("issuer", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("redeemer", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("price_minor", sa.Numeric(12, 4), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("issuer", "redeemer"),
    )
    op.create_index("ix_posting_created_at", "posting", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_posting_created_at", table_name="posting")
    op.drop_table("transfer_price")
