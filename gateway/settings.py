"""The gateway's settings, read from the environment (prefix ``ATRIUM_``) or a ``.env`` file."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "atrium-development-secret-change-me-in-production"


class Settings(BaseSettings):
    """Everything an operator can set; defaults give the embedded, single-process demo."""

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
    points_lifetime_months: int = 24
    max_activity_amount_minor: int = 100_000_000_00  # ¥100,000,000.00: far above any real bill
    max_redemption_quantity: int = 100

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

    @cached_property
    def is_sqlite(self) -> bool:
        """Whether the configured database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")
