"""Every benefit of the group in one shape: the plugins' (``<format>.<code>``) and the admins' shared ones (``group.<code>``).

Shared benefits live in the database and are read through the configuration cache under
:data:`CACHE_KEY` (a tuple of frozen :class:`SharedBenefitConfig`): on a warm cache, reading the
catalogue issues no SQL. Admin changes invalidate the key after they commit. Plugin benefits come
from the plugin registry, in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.persistence.benefit_tables import shared_benefit_table
from gateway.persistence.models import GROUP_FORMAT
from gateway.plugin_api import Benefit, Quota

CACHE_KEY = "benefits:shared"


@dataclass(frozen=True)
class SharedBenefitConfig:
    """A shared benefit as configured by the group's admins (one ``shared_benefit`` row)."""

    code: str
    name: str
    description: str
    min_tier: str
    valid_from: datetime | None
    valid_until: datetime | None
    quota: Quota | None
    birthday_month: bool
    formats: tuple[str, ...]
    active: bool
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        """The state an auditor compares: plain JSON values, timestamps of the change left out."""
        return {
            "code": self.code,
            "name": self.name,
            "description": self.description,
            "min_tier": self.min_tier,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "quota": {"count": self.quota.count, "period": self.quota.period} if self.quota else None,
            "birthday_month": self.birthday_month,
            "formats": list(self.formats),
            "active": self.active,
        }


@dataclass(frozen=True)
class BenefitDefinition:
    """A benefit as the wall and ``useBenefit`` see it, whoever defined it.

    :param id: ``<format>.<code>`` for a plugin's benefit, ``group.<code>`` for a shared one.
    :param format: the plugin's format code, or ``group``.
    :param formats: where the benefit can be used; empty means any format.
    """

    id: str
    format: str
    code: str
    name: str
    description: str
    min_tier: str
    quota: Quota | None
    formats: tuple[str, ...]
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    birthday_month: bool = False
    active: bool = True

    @property
    def shared(self) -> bool:
        """Whether the group's admins defined it (rather than a format's plugin)."""
        return self.format == GROUP_FORMAT

    def usable_in(self, format_code: str) -> bool:
        """Whether the benefit can be used in ``format_code``."""
        return not self.formats or format_code in self.formats

    @classmethod
    def from_plugin(cls, item: Benefit) -> BenefitDefinition:
        """A plugin's benefit: usable in its own format only, always valid (in the birth month, if it says so)."""
        return cls(
            id=f"{item.format}.{item.code}",
            format=item.format,
            code=item.code,
            name=item.name,
            description=item.description,
            min_tier=item.min_tier,
            quota=item.quota,
            formats=(item.format,),
            birthday_month=item.birthday_month,
        )

    @classmethod
    def from_shared(cls, item: SharedBenefitConfig) -> BenefitDefinition:
        """A shared benefit, as configured."""
        return cls(
            id=f"{GROUP_FORMAT}.{item.code}",
            format=GROUP_FORMAT,
            code=item.code,
            name=item.name,
            description=item.description,
            min_tier=item.min_tier,
            quota=item.quota,
            formats=item.formats,
            valid_from=item.valid_from,
            valid_until=item.valid_until,
            birthday_month=item.birthday_month,
            active=item.active,
        )


def shared_from_row(row: Any) -> SharedBenefitConfig:
    """A :class:`SharedBenefitConfig` from a ``shared_benefit`` row mapping."""
    quota = Quota(int(row["quota_count"]), row["quota_period"]) if row["quota_count"] is not None else None
    return SharedBenefitConfig(
        code=row["code"],
        name=row["name"],
        description=row["description"],
        min_tier=row["min_tier"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        quota=quota,
        birthday_month=bool(row["birthday_month"]),
        formats=tuple(row["formats"] or ()),
        active=bool(row["active"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def read_shared_benefits(conn: AsyncConnection) -> tuple[SharedBenefitConfig, ...]:
    """Every shared benefit, retired ones included, by code (one statement)."""
    rows = (await conn.execute(select(shared_benefit_table).order_by(shared_benefit_table.c.code))).mappings().all()
    return tuple(shared_from_row(row) for row in rows)


async def shared_benefits(core: Core) -> tuple[SharedBenefitConfig, ...]:
    """Every shared benefit, through the configuration cache: no SQL when warm."""

    async def load() -> tuple[SharedBenefitConfig, ...]:
        async with core.db.read() as conn:
            return await read_shared_benefits(conn)

    return await core.cache.get(CACHE_KEY, load)


async def forget_shared_benefits(core: Core) -> None:
    """Drop the cached shared benefits; call after a change commits."""
    await core.cache.invalidate(CACHE_KEY)


async def benefit_catalogue(core: Core) -> tuple[BenefitDefinition, ...]:
    """Every benefit of the group: the plugins' then the active shared ones."""
    plugins = tuple(BenefitDefinition.from_plugin(item) for item in core.registry.benefits.values())
    shared = tuple(BenefitDefinition.from_shared(item) for item in await shared_benefits(core) if item.active)
    return plugins + shared


def resolve_benefit(core: Core, shared: tuple[SharedBenefitConfig, ...], benefit_id: str) -> BenefitDefinition:
    """The active benefit ``benefit_id`` names (``<format>.<code>`` or ``group.<code>``); ``BENEFIT_NOT_FOUND`` otherwise.

    ``shared`` is what :func:`shared_benefits` returned, read before the caller's transaction.
    """
    namespace, dot, code = benefit_id.partition(".") if isinstance(benefit_id, str) else ("", "", "")
    if dot and namespace == GROUP_FORMAT:
        for item in shared:
            if item.code == code:
                if not item.active:
                    raise AtriumError(ErrorCode.BENEFIT_NOT_FOUND, f"Benefit {benefit_id!r} was retired.", "benefit")
                return BenefitDefinition.from_shared(item)
    elif dot:
        plugin_item = core.registry.benefits.get((namespace, code))
        if plugin_item is not None:
            return BenefitDefinition.from_plugin(plugin_item)
    raise AtriumError(
        ErrorCode.BENEFIT_NOT_FOUND,
        f"There is no benefit {benefit_id!r}: name it \"<format>.<code>\" or \"group.<code>\", e.g. \"group.parking_2h\".",
        "benefit",
    )
