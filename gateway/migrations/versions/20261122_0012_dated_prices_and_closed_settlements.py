"""dated transfer prices and closed settlement periods

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22

- ``transfer_price`` gains ``effective_from`` (a day in the group's time zone) in its primary key,
  and ``price_minor`` becomes nullable (a NULL row ends a pair's override from its day). The
  table is rebuilt (a primary key cannot be altered on SQLite); existing prices are kept with
  ``effective_from`` 1970-01-01, so they apply to every period as before.
- ``settlement_closing``: closed settlement periods and their figures, one row each (a unique
  first day; a CHECK that the period does not end before it starts). Triggers refuse UPDATE and
  DELETE of its rows on both databases: a closed period's figures never change.

Hand-written. Downgrading keeps, per pair, the price in force on the downgrade day (or the earliest
one when all are future-dated), and drops the closed periods.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALWAYS = date(1970, 1, 1)
REFUSAL = "settlement_closing rows are immutable: a closed period is never changed"


def _prices(*, dated: bool) -> list[dict[str, Any]]:
    columns = [
        sa.column("issuer", sa.String()),
        sa.column("redeemer", sa.String()),
        sa.column("price_minor", sa.Numeric(12, 4)),
        sa.column("updated_by", sa.String()),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    ]
    if dated:
        columns.append(sa.column("effective_from", sa.Date()))
    rows = op.get_bind().execute(sa.select(*columns).select_from(sa.table("transfer_price", *columns))).mappings().all()
    return [dict(row) for row in rows]


def _price_table(*, dated: bool) -> sa.Table:
    columns: list[Any] = [
        sa.Column("issuer", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("redeemer", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    ]
    if dated:
        columns.append(sa.Column("effective_from", sa.Date(), nullable=False))
    columns += [
        sa.Column("price_minor", sa.Numeric(12, 4), nullable=dated),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("issuer", "redeemer", *(["effective_from"] if dated else [])),
    ]
    table = op.create_table("transfer_price", *columns)
    assert table is not None
    return table


def upgrade() -> None:
    prices = _prices(dated=False)
    op.drop_table("transfer_price")
    table = _price_table(dated=True)
    if prices:
        op.bulk_insert(table, [{**row, "effective_from": ALWAYS} for row in prices])

    op.create_table(
        "settlement_closing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("default_price_minor", sa.Numeric(12, 4), nullable=False),
        sa.Column("redemptions", sa.JSON(), nullable=False),
        sa.Column("clawbacks", sa.JSON(), nullable=False),
        sa.Column("parties", sa.JSON(), nullable=False),
        sa.Column("liability", sa.JSON(), nullable=False),
        sa.Column("closed_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.CheckConstraint("period_to >= period_from", name="ck_settlement_closing_period"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_settlement_closing_period_from", "settlement_closing", ["period_from"], unique=True)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION settlement_closing_immutable() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER settlement_closing_immutable BEFORE UPDATE OR DELETE ON settlement_closing "
            "FOR EACH ROW EXECUTE FUNCTION settlement_closing_immutable()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER settlement_closing_no_{event.lower()} BEFORE {event} ON settlement_closing "
                f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS settlement_closing_immutable ON settlement_closing")
        op.execute("DROP FUNCTION IF EXISTS settlement_closing_immutable()")
    op.drop_index("ix_settlement_closing_period_from", table_name="settlement_closing")
    op.drop_table("settlement_closing")

    today = datetime.now(UTC).date()
    kept: dict[tuple[str, str], dict[str, Any]] = {}
    for row in sorted(_prices(dated=True), key=lambda row: row["effective_from"]):
        day, pair = row["effective_from"], (row["issuer"], row["redeemer"])
        if day <= today or pair not in kept:
            kept[pair] = row
    op.drop_table("transfer_price")
    table = _price_table(dated=False)
    rows = [{key: value for key, value in row.items() if key != "effective_from"} for row in kept.values()]
    rows = [row for row in rows if row["price_minor"] is not None]
    if rows:
        op.bulk_insert(table, rows)
