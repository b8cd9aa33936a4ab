"""indexes for merged members and lapsing holds

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

- ``ix_member_merged_into_id``: history and merges look up members merged into one; PostgreSQL
  does not index foreign keys by itself, and without it each lookup reads the whole table.
- ``ix_hold_lapsing``: the sweep finds holds still ``held`` past their expiry.

Both are partial: they cover only the few rows that matter.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.create_index(
            "ix_member_merged_into_id",
            ["merged_into_id"],
            unique=False,
            postgresql_where=sa.text("merged_into_id IS NOT NULL"),
            sqlite_where=sa.text("merged_into_id IS NOT NULL"),
        )
    with op.batch_alter_table("hold", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hold_lapsing",
            ["expires_at"],
            unique=False,
            postgresql_where=sa.text("status = 'held'"),
            sqlite_where=sa.text("status = 'held'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("hold", schema=None) as batch_op:
        batch_op.drop_index("ix_hold_lapsing")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_index("ix_member_merged_into_id")
