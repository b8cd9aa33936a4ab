"""Tables of settlement between business units: transfer prices, and the index settlement reads postings by.

A transfer price is what the issuer of a point pays the format that honoured it, in minor units
of the group's currency per point (a Decimal: ``0.8`` fen a point is allowed). The row with issuer
and redeemer both :data:`ANY` is the group default; any other row overrides it for one
(issuer, redeemer) pair. Without a default row, the default is ``settings.points_value_minor``
(what a point pays on a bill).

Settlement reads postings by booking time (``posting.created_at``) within a period, so this module
also declares ``ix_posting_created_at`` on the ledger's ``posting`` table (migration 0009).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Column, Index, Numeric
from sqlmodel import Field, SQLModel

from gateway.persistence.models import _ts, posting_table

ANY = "*"
"""``issuer`` and ``redeemer`` of the group default price."""


class TransferPrice(SQLModel, table=True):
    """The price of one point issued by ``issuer`` and redeemed (or clawed back) by ``redeemer``."""

    __tablename__ = "transfer_price"

    issuer: str = Field(primary_key=True, max_length=32)
    redeemer: str = Field(primary_key=True, max_length=32)
    price_minor: Decimal = Field(sa_column=Column(Numeric(12, 4), nullable=False))
    updated_by: str = Field(max_length=128)
    updated_at: datetime = _ts(nullable=False)


transfer_price_table = TransferPrice.__table__

posting_created_at_index = Index("ix_posting_created_at", posting_table.c.created_at)
"""Settlement selects a period's postings by booking time."""
