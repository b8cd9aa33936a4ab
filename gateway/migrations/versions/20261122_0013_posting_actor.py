"""posting actor

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22

- ``posting.actor`` (nullable): who wrote the posting — ``admin:<subject>``,
  ``service:<format>[:<subject>]``, ``member:<id>`` or ``system`` (see ``gateway.actor``).
  Existing postings keep ``NULL``: who wrote them was never recorded, and a guess would be worse.
- ``idempotency_failure.actor`` (nullable): who made the refused request.

Hand-written. Two nullable columns, no index: postings are looked up by member and key, and
"everything admin X did" is a rare support query that may scan.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("posting", "idempotency_failure")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("actor")
