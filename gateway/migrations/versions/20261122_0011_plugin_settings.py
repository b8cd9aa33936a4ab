"""plugin settings

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22

- ``plugin_settings``: per format, the settings fields an admin changed from the plugin's
  defaults (JSON keyed by field name), when and by whom. Defaults live in the plugins' settings
  models, so a format nobody changed has no row.

Hand-written. A new table only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "plugin_settings",
        sa.Column("format", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("overrides", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.PrimaryKeyConstraint("format"),
    )


def downgrade() -> None:
    op.drop_table("plugin_settings")
