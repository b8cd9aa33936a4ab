"""The gateway's settings, read from the environment (prefix ``ATRIUM_``) or a ``.env`` file."""

from __future__ import annotations

from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "atrium-development-secret-change-me-in-production"


class PointsOffsetOverride(BaseModel):
    """One format's exception to the group's points-plus-cash policy; a field left out keeps the group's value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    points_value_minor: int | None = Field(default=None, ge=1, description="Minor units one point pays in this format.")
    cap_percent: int | None = Field(default=None, ge=0, le=100, description="Largest share of a bill points may pay here.")


class Settings(BaseSettings):
    """Everything an operator can set; defaults give the embedded, single-process demo.

    ``refund_policy`` decides what a refund does when the refunded activity's points were already
    spent. The default, ``claw_back_available``, takes back only what the member still has and
    records the rest on the refund posting as ``unrecovered``: a balance never goes negative; those
    points are reclaimed if they come back later (a redemption cancelled, a hold voided).
    ``allow_negative`` takes back everything and leaves the member owing the rest (a negative
    balance, repaid from the next points credited).
    """

    model_config = SettingsConfigDict(env_prefix="ATRIUM_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///var/atrium.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://...",
    )
    database_pool_size: int = 10
    database_echo: bool = False

    jwt_secret: str = DEVELOPMENT_SECRET
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "atrium"
    jwt_audience: str = "atrium-gateway"

    plugins: list[str] | None = Field(
        default=None,
        description="Allowlist of entry-point names to load; unset loads every installed plugin.",
    )
    trace_hooks: bool = False

    currency: str = "CNY"
    default_phone_region: str = Field(default="CN", description="Region assumed for phone numbers without +country code.")
    locale: str = "en_US"
    timezone: str = Field(
        default="UTC",
        description="The group's IANA time zone (e.g. Asia/Shanghai): month and year ends of points expiry fall in it.",
    )
    points_expiry_policy: Literal["rolling_months", "end_of_month", "end_of_year"] = Field(
        default="rolling_months",
        description=(
            "When earned points expire: rolling_months, N months after earning; end_of_month, at the end of "
            "the Nth month after the month earned; end_of_year, on Dec 31 of the year earned + N."
        ),
    )
    points_expiry_n: int = Field(default=24, ge=0, le=1200, description="The N of points_expiry_policy.")
    max_adjustment_points: int = Field(default=10_000_000, ge=1, description="Largest admin credit or debit at once.")
    refund_policy: Literal["claw_back_available", "allow_negative"] = Field(
        default="claw_back_available",
        description=(
            "When a refunded activity's points were already spent: claw_back_available (default) takes back only "
            "what the member still has and records the rest as unrecovered; allow_negative takes back everything, "
            "letting the balance go negative until new points repay it."
        ),
    )
    max_activity_amount_minor: int = 100_000_000_00  # ¥100,000,000.00: far above any real bill
    max_redemption_quantity: int = 100
    hold_ttl_minutes: int = Field(
        default=30, ge=1, le=1440, description="How long a till's hold of points lasts, unless it asks otherwise; it then voids itself."
    )
    points_value_minor: int = Field(
        default=1, ge=1, description="Minor units of the group's currency one point pays on a bill (1 fen: 100 pts = CN¥1.00)."
    )
    points_offset_cap_percent: int = Field(
        default=50, ge=0, le=100, description="Largest share of a bill, in percent, that points may pay (points plus cash)."
    )
    points_offset_overrides: dict[str, PointsOffsetOverride] = Field(
        default_factory=dict,
        description=(
            'Per-format exceptions to the two above, by format code, e.g. ATRIUM_POINTS_OFFSET_OVERRIDES='
            '\'{"dining": {"points_value_minor": 2, "cap_percent": 30}}\'.'
        ),
    )

    cache_url: str = Field(
        default="memory://",
        description="Configuration cache: memory:// (one process) or redis://host:port/db (every process shares it).",
    )
    cache_ttl_seconds: int = Field(default=300, ge=1, description="Longest a cached configuration entry lives.")
    cache_namespace: str | None = Field(
        default=None, description="Key prefix in the cache; by default derived from database_url."
    )

    graphql_max_depth: int = 12
    graphql_max_aliases: int = 15
    graphql_max_tokens: int = 2000
    graphql_parser_cache_size: int = 512
    graphql_validation_cache_size: int = 512
    graphiql: bool = True

    @field_validator("plugins", mode="before")
    @classmethod
    def _split_plugins(cls, value: object) -> object:
        """Accept ``ATRIUM_PLUGINS=retail,dining`` as well as a JSON list."""
        if isinstance(value, str) and not value.strip().startswith("["):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("currency")
    @classmethod
    def _upper_currency(cls, value: str) -> str:
        return value.upper()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as Asia/Shanghai") from None
        return value

    @model_validator(mode="after")
    def _rolling_needs_a_month(self) -> Settings:
        if self.points_expiry_policy == "rolling_months" and self.points_expiry_n < 1:
            raise ValueError("points_expiry_n must be at least 1 month for the rolling_months policy")
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        """The group's time zone, for calendar-based expiry and expiring-by-month."""
        return ZoneInfo(self.timezone)

    @cached_property
    def is_sqlite(self) -> bool:
        """Whether the configured database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")
