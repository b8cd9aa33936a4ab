"""Tables of settlement between business units: dated transfer prices, closed periods, and the posting index.

A transfer price is what the issuer of a point pays the format that honoured it, in minor units
of the group's currency per point (a Decimal: ``0.8`` fen a point is allowed). Prices are
**effective-dated**: each row applies from ``effective_from`` (a day in the group's time zone)
until the next row of the same pair. The rows with issuer and redeemer both :data:`ANY` are the
group default; any other row overrides it for one (issuer, redeemer) pair. A row whose
``price_minor`` is NULL ends the pair's override (or the configured default) from its day. Without
a default in force, the default is ``settings.points_value_minor`` (what a point pays on a bill).

A closed settlement period (``settlement_closing``) keeps the report's figures as they were when
an admin closed it: the matrices, each party's movements and nets, and the liability at the end.
Its rows are never updated or deleted (migration 0012 adds database triggers refusing both).

Settlement reads postings by booking time (``posting.created_at``) within a period, so this module
also declares ``ix_posting_created_at`` on the ledger's ``posting`` table (migration 0009).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Date, Index, Numeric
from sqlmodel import Field, SQLModel

from gateway.persistence.models import _ts, posting_table

ANY = "*"
"""``issuer`` and ``redeemer`` of the group default price."""

ALWAYS = date(1970, 1, 1)
"""``effective_from`` of prices set before prices were dated (migration 0012): they apply to every period."""


class TransferPrice(SQLModel, table=True):
    """The price of one point issued by ``issuer`` and redeemed (or clawed back) by ``redeemer``, from a day on."""

    __tablename__ = "transfer_price"

    issuer: str = Field(primary_key=True, max_length=32)
    redeemer: str = Field(primary_key=True, max_length=32)
    effective_from: date = Field(sa_column=Column(Date, primary_key=True, nullable=False))
    price_minor: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 4), nullable=True))
    updated_by: str = Field(max_length=128)
    updated_at: datetime = _ts(nullable=False)


transfer_price_table = TransferPrice.__table__


class SettlementClosing(SQLModel, table=True):
    """A closed settlement period and its figures, stored once and never changed.

    ``starts_at`` / ``ends_at`` are the period's instants as they were computed at closing (in the
    group's time zone then); the JSON columns hold the report's rows in the shape of
    :func:`gateway.settlement.closing.stored_figures`.
    """

    __tablename__ = "settlement_closing"
    __table_args__ = (
        CheckConstraint("period_to >= period_from", name="ck_settlement_closing_period"),
        Index("ix_settlement_closing_period_from", "period_from", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    period_from: date = Field(sa_column=Column(Date, nullable=False))
    period_to: date = Field(sa_column=Column(Date, nullable=False))
    starts_at: datetime = _ts(nullable=False)
    ends_at: datetime = _ts(nullable=False)
    timezone: str = Field(max_length=64)
    currency: str = Field(max_length=8)
    default_price_minor: Decimal = Field(sa_column=Column(Numeric(12, 4), nullable=False))
    redemptions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    clawbacks: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    parties: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    liability: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    closed_by: str = Field(max_length=128)
    closed_at: datetime = _ts(nullable=False)
    reason: str = Field(max_length=500)


settlement_closing_table = SettlementClosing.__table__

posting_created_at_index = Index("ix_posting_created_at", posting_table.c.created_at)
"""Settlement selects a period's postings by booking time."""
