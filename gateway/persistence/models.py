"""Tables of the gateway, declared with SQLModel; queries on hot paths use their Core tables.

Ledger conventions: an :class:`Entry` amount is positive when it credits the account. A member's
wallet is the account ``member.wallet`` with ``member_id`` set, and points earned but not yet
available (a return window) sit in ``member.pending``, also with ``member_id``; each format has
``format.<code>.issuance`` and ``format.<code>.redemption``; the group has ``group.expiry`` and
``group.adjustment``. Every posting's entries sum to zero. Rows of ``posting``, ``entry``,
``lot_consumption``, ``idempotency_failure`` and ``audit_log`` are never updated or deleted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

WALLET = "member.wallet"
PENDING = "member.pending"
HELD = "member.held"
EXPIRY = "group.expiry"
ADJUSTMENT = "group.adjustment"

GROUP_FORMAT = "group"
"""The ``format`` of lots and postings that no business format issued: admin credits, expiry runs.

Settlement between business units treats ``group`` as the group's own issuer: points it issued
and a format redeemed are owed by the group, not by another format.
"""


def issuance_account(format_code: str) -> str:
    """The account a format issues points from (debited on earn)."""
    return f"format.{format_code}.issuance"


def redemption_account(format_code: str) -> str:
    """The account a format's redemptions are credited to."""
    return f"format.{format_code}.redemption"


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database (SQLite stores it naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: pass a timezone-aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(**kwargs: Any) -> Any:
    return Field(sa_column=Column(UtcDateTime(), **kwargs))


class Tier(SQLModel, table=True):
    """A rung of the group's tier ladder (see :mod:`gateway.tiers`).

    ``threshold`` is the growth value over the rolling window that qualifies for the tier;
    ``min_formats`` (optional) the number of formats with an earn in the window it also needs;
    ``retention_threshold`` (optional, default ``threshold``) the window growth that keeps it at
    evaluation.
    """

    __tablename__ = "tier"

    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=64)
    rank: int = Field(unique=True)
    threshold: int = Field(sa_column=Column(BigInteger, nullable=False))
    multiplier: Decimal = Field(sa_column=Column(Numeric(6, 3), nullable=False))
    min_formats: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    retention_threshold: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class Member(SQLModel, table=True):
    """One person across every format.

    ``points_balance`` caches the ``member.wallet`` account (points available to spend) and
    ``pending_balance`` the ``member.pending`` account (earned, not yet available). ``status`` is
    ``active`` or ``frozen`` (neither earns nor redeems). ``tier_grace_until``: the member failed
    to keep its tier at an evaluation and keeps it until then; ``tier_decided_at``: when the tier
    or grace was last decided (an upgrade at earn, an admin, a merge, or the date of the evaluation
    that changed it): an evaluation for a date up to then skips the member.
    """

    __tablename__ = "member"
    __table_args__ = (
        Index(
            "ix_member_merged_into_id",
            "merged_into_id",
            postgresql_where=text("merged_into_id IS NOT NULL"),
            sqlite_where=text("merged_into_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default="active", max_length=16)
    tier_code: str = Field(foreign_key="tier.code", max_length=32)
    growth_value: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    points_balance: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    pending_balance: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, default=0, server_default=text("0"))
    )
    held_balance: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, default=0, server_default=text("0"))
    )
    enrolled_format: str | None = Field(default=None, max_length=32)
    enrolled_at: datetime = _ts(nullable=False)
    merged_into_id: int | None = Field(default=None, foreign_key="member.id")
    erased_at: datetime | None = _ts(nullable=True)
    birth_date: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    tier_grace_until: datetime | None = _ts(nullable=True)
    tier_decided_at: datetime | None = _ts(nullable=True)


class Identity(SQLModel, table=True):
    """A way to recognise a member: phone, email, or a format's own customer id."""

    __tablename__ = "identity"
    __table_args__ = (UniqueConstraint("kind", "namespace", "value", name="uq_identity_kind_namespace_value"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    kind: str = Field(max_length=16)
    namespace: str = Field(default="", max_length=32)
    value: str = Field(max_length=254)
    created_at: datetime = _ts(nullable=False)


class Posting(SQLModel, table=True):
    """One balanced ledger transaction and the result it returned.

    ``kind`` is one of the twelve :data:`gateway.plugin_api.PostingKind` values: ``earn``,
    ``redeem``, ``reverse`` (an activity refunded), ``cancel`` (a redemption cancelled), ``hold``,
    ``capture`` and ``void`` (points reserved at a till, then spent or given back), ``offset``
    (points paid part of a bill), ``adjust`` (an admin's credit or debit), ``release`` (pending
    points became available), ``expire`` and ``merge`` (a merged record's points swept into its
    survivor). The column is a plain string, so a new kind needs no migration. ``idempotency_scope`` + ``idempotency_key`` is unique: a replay finds the posting
    and returns it; ``request_hash`` tells a true replay from a reused key with another payload.
    ``reverses_posting_id`` names the posting a reversal or cancellation compensates. ``actor`` is
    who wrote it (``admin:<subject>``, ``service:<format>[:<subject>]``, ``member:<id>``,
    ``system``; ``NULL`` when unknown): see :mod:`gateway.actor`.
    """

    __tablename__ = "posting"
    __table_args__ = (
        UniqueConstraint("idempotency_scope", "idempotency_key", name="uq_posting_idempotency"),
        Index("ix_posting_member_id_id", "member_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id")
    kind: str = Field(max_length=16)
    format: str = Field(max_length=32)
    idempotency_scope: str = Field(max_length=64)
    idempotency_key: str = Field(max_length=128)
    request_hash: str = Field(max_length=64)
    points: int = Field(sa_column=Column(BigInteger, nullable=False))
    growth: int = Field(sa_column=Column(BigInteger, nullable=False))
    balance_after: int = Field(sa_column=Column(BigInteger, nullable=False))
    tier_before: str = Field(max_length=32)
    tier_after: str = Field(max_length=32)
    reason: str = Field(max_length=500)
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    activity_kind: str | None = Field(default=None, max_length=32)
    reward_code: str | None = Field(default=None, max_length=32)
    quantity: int | None = None
    amount_minor: int | None = Field(default=None, sa_column=Column(BigInteger))
    currency: str | None = Field(default=None, max_length=3)
    store: str | None = Field(default=None, max_length=64)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    reverses_posting_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("posting.id", name="fk_posting_reverses_posting_id"), index=True),
    )
    occurred_at: datetime = _ts(nullable=False)
    created_at: datetime = _ts(nullable=False)
    actor: str | None = Field(default=None, max_length=128)


class Entry(SQLModel, table=True):
    """One leg of a posting: ``amount`` credited (positive) or debited (negative) to ``account``."""

    __tablename__ = "entry"
    __table_args__ = (Index("ix_entry_account_member", "account", "member_id"),)

    id: int | None = Field(default=None, primary_key=True)
    posting_id: int = Field(foreign_key="posting.id", index=True)
    account: str = Field(max_length=64)
    member_id: int | None = Field(default=None, foreign_key="member.id")
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))


class Lot(SQLModel, table=True):
    """Points from one earn: who issued them, when they expire, and how many are left.

    ``format`` is the issuing format's code, or :data:`GROUP_FORMAT` for admin credits. A
    ``pending`` lot's points sit in ``member.pending`` until ``available_at``; the first write for
    the member after that releases them to the wallet and clears the flag.
    """

    __tablename__ = "lot"
    __table_args__ = (
        Index("ix_lot_member_open", "member_id", "expires_at", "id"),
        Index(
            "ix_lot_member_pending",
            "member_id",
            "available_at",
            postgresql_where=text("pending"),
            sqlite_where=text("pending"),
        ),
        Index(
            "ix_lot_open_expiry",
            "expires_at",
            postgresql_where=text("remaining > 0"),
            sqlite_where=text("remaining > 0"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id")
    posting_id: int = Field(foreign_key="posting.id", index=True)
    format: str = Field(max_length=32)
    points: int = Field(sa_column=Column(BigInteger, nullable=False))
    remaining: int = Field(sa_column=Column(BigInteger, nullable=False))
    earned_at: datetime = _ts(nullable=False)
    available_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)
    pending: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, default=False, server_default=false()))


class LotConsumption(SQLModel, table=True):
    """How many points a posting drew from one lot (a redemption, a debit, an expiry run).

    Every point that leaves a lot is traced here to the format that issued it.
    """

    __tablename__ = "lot_consumption"

    id: int | None = Field(default=None, primary_key=True)
    posting_id: int = Field(foreign_key="posting.id", index=True)
    lot_id: int = Field(foreign_key="lot.id", index=True)
    points: int = Field(sa_column=Column(BigInteger, nullable=False))


class IdempotencyFailure(SQLModel, table=True):
    """A request refused for a business reason after its key was accepted: the key stays failed.

    A retry with the same key and payload gets the same error again (TigerBeetle, Stripe), even
    once the member could now afford it. A key is held by a posting or a failure, never both.
    ``actor`` is who made the refused request (see :mod:`gateway.actor`).
    """

    __tablename__ = "idempotency_failure"
    __table_args__ = (
        UniqueConstraint("idempotency_scope", "idempotency_key", name="uq_idempotency_failure_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    idempotency_scope: str = Field(max_length=64)
    idempotency_key: str = Field(max_length=128)
    request_hash: str = Field(max_length=64)
    member_id: int | None = Field(default=None, foreign_key="member.id")
    code: str = Field(max_length=32)
    field: str | None = Field(default=None, max_length=128)
    message: str = Field(max_length=1000)
    created_at: datetime = _ts(nullable=False)
    actor: str | None = Field(default=None, max_length=128)


class AuditLog(SQLModel, table=True):
    """Who did what to a member and why: freezes, adjustments. Written in the change's transaction."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_member_id_id", "member_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=64)
    member_id: int | None = Field(default=None, foreign_key="member.id")
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = _ts(nullable=False)


class Hold(SQLModel, table=True):
    """Points reserved at a till: ``member.wallet`` to ``member.held`` until captured or voided.

    ``status`` is ``held``, ``captured`` or ``voided``; an uncaptured hold voids itself once
    ``expires_at`` has passed. ``hold_posting_id`` reserved the points; ``settle_posting_id``
    captured or voided them.
    """

    __tablename__ = "hold"
    __table_args__ = (
        UniqueConstraint("idempotency_scope", "idempotency_key", name="uq_hold_idempotency"),
        Index("ix_hold_member_status", "member_id", "status"),
        Index(
            "ix_hold_lapsing",
            "expires_at",
            postgresql_where=text("status = 'held'"),
            sqlite_where=text("status = 'held'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id")
    format: str = Field(max_length=32)
    points: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default="held", max_length=16)
    idempotency_scope: str = Field(max_length=64)
    idempotency_key: str = Field(max_length=128)
    request_hash: str = Field(max_length=64)
    hold_posting_id: int = Field(foreign_key="posting.id")
    settle_posting_id: int | None = Field(default=None, foreign_key="posting.id")
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)
    settled_at: datetime | None = _ts(nullable=True)


tier_table = Tier.__table__
member_table = Member.__table__
identity_table = Identity.__table__
posting_table = Posting.__table__
entry_table = Entry.__table__
lot_table = Lot.__table__
lot_consumption_table = LotConsumption.__table__
idempotency_failure_table = IdempotencyFailure.__table__
audit_log_table = AuditLog.__table__
hold_table = Hold.__table__
