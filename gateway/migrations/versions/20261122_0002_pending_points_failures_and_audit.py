"""pending points, reversal links, failed idempotency keys and the audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

- ``member.pending_balance`` caches the ``member.pending`` account (points earned, not yet available).
- ``lot.pending`` marks a lot whose points are still pending; partial indexes find pending lots of a
  member and open lots past expiry without scanning spent ones.
- ``posting.reverses_posting_id`` links a reversal or a cancellation to the posting it compensates.
- ``idempotency_failure`` keeps the business failure a key ended with, so a retry fails the same way.
- ``audit_log`` records who froze, unfroze or adjusted a member, and why.

Hand-written. Existing rows get the defaults: no member has pending points and no lot is pending.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_balance", sa.BigInteger(), nullable=False, server_default=sa.text("0")))

    with op.batch_alter_table("lot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(
            "ix_lot_member_pending",
            ["member_id", "available_at"],
            unique=False,
            postgresql_where=sa.text("pending"),
            sqlite_where=sa.text("pending"),
        )
        batch_op.create_index(
            "ix_lot_open_expiry",
            ["expires_at"],
            unique=False,
            postgresql_where=sa.text("remaining > 0"),
            sqlite_where=sa.text("remaining > 0"),
        )

    with op.batch_alter_table("posting", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reverses_posting_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_posting_reverses_posting_id", "posting", ["reverses_posting_id"], ["id"])
        batch_op.create_index("ix_posting_reverses_posting_id", ["reverses_posting_id"], unique=False)

    op.create_table(
        "idempotency_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_scope", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_scope", "idempotency_key", name="uq_idempotency_failure_key"),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_member_id_id", ["member_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_member_id_id")
    op.drop_table("audit_log")
    op.drop_table("idempotency_failure")

    with op.batch_alter_table("posting", schema=None) as batch_op:
        batch_op.drop_index("ix_posting_reverses_posting_id")
        batch_op.drop_constraint("fk_posting_reverses_posting_id", type_="foreignkey")
        batch_op.drop_column("reverses_posting_id")

    with op.batch_alter_table("lot", schema=None) as batch_op:
        batch_op.drop_index("ix_lot_open_expiry")
        batch_op.drop_index("ix_lot_member_pending")
        batch_op.drop_column("pending")

    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("pending_balance")
