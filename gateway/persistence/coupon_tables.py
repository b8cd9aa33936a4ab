"""The coupon table: one row per coupon a redemption issued, and where it stands.

A reward whose type declares a :class:`gateway.plugin_api.CouponSpec` issues ``quantity`` coupons
in the redemption's transaction (``redemption_posting_id``). ``status`` moves once, from
``issued`` to ``used`` (a till used it), ``cancelled`` (its redemption was cancelled, the points
went back: ``cancel_posting_id``) or ``expired`` (the expiry job marked it after ``expires_at``;
readers treat an ``issued`` coupon past ``expires_at`` as expired already). ``use_key`` is the
till's idempotency key of the use, unique within the format.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from gateway.persistence.models import _ts

ISSUED = "issued"
USED = "used"
EXPIRED = "expired"
CANCELLED = "cancelled"
STATUSES = (ISSUED, USED, EXPIRED, CANCELLED)


class Coupon(SQLModel, table=True):
    """A coupon issued by a redemption: its unguessable code, its value, and its one use."""

    __tablename__ = "coupon"
    __table_args__ = (
        UniqueConstraint("code", name="uq_coupon_code"),
        UniqueConstraint("format", "use_key", name="uq_coupon_use_key"),
        Index("ix_coupon_member_id_id", "member_id", "id"),
        Index(
            "ix_coupon_issued_expiry",
            "expires_at",
            postgresql_where=text("status = 'issued'"),
            sqlite_where=text("status = 'issued'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32)
    member_id: int = Field(foreign_key="member.id")
    format: str = Field(max_length=32)
    reward_code: str = Field(max_length=32)
    redemption_posting_id: int = Field(foreign_key="posting.id", index=True)
    status: str = Field(default=ISSUED, max_length=16)
    value_minor: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    currency: str | None = Field(default=None, max_length=3)
    item: str | None = Field(default=None, max_length=128)
    issued_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)
    used_at: datetime | None = _ts(nullable=True)
    used_by: str | None = Field(default=None, max_length=128)
    used_till: str | None = Field(default=None, max_length=64)
    use_key: str | None = Field(default=None, max_length=128)
    cancelled_at: datetime | None = _ts(nullable=True)
    cancel_posting_id: int | None = Field(default=None, foreign_key="posting.id")


coupon_table = Coupon.__table__
