"""Campaigns in the database: read through the config cache, created, updated and ended by admins.

Every campaign is cached under one key (:data:`CACHE_KEY`, a tuple of frozen
:class:`~gateway.campaigns.model.CampaignConfig`): on a warm cache, the earn path reads campaign
configuration without SQL. Each accepted change writes the ``campaign`` row, its
``campaign_budget`` row and one configuration audit row (entity ``campaign``, the code as key) in
one transaction, and invalidates the key once that transaction has committed. Bad input is
``INVALID_CONFIG`` naming the field and writes nothing.

The budget's ``issued`` counter is not configuration: earns move it, so it is read live
(:func:`budgets`), never cached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.campaigns.model import (
    CampaignConfig,
    CampaignReward,
    CampaignScope,
    LimitPeriod,
    MemberLimit,
    Stacking,
    validate_campaign,
)
from gateway.config_audit import record_config_change
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.persistence.campaign_tables import campaign_budget_table, campaign_table
from gateway.persistence.models import tier_table
from gateway.tiers import plain_decimal

CACHE_KEY = "campaigns"
ENTITY = "campaign"


@dataclass(frozen=True)
class Budget:
    """A campaign's budget as it stands: points issued so far, the cap and what is left (``None``: no cap)."""

    issued: int
    cap: int | None

    @property
    def left(self) -> int | None:
        """Points the campaign may still issue, or ``None`` without a cap."""
        return None if self.cap is None else max(self.cap - self.issued, 0)


def _from_row(row: Mapping[str, Any]) -> CampaignConfig:
    limit = row["member_limit"]
    return CampaignConfig(
        code=row["code"],
        name=row["name"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        scope=CampaignScope(
            formats=tuple(row["formats"]),
            min_tier=row["min_tier"],
            tiers=tuple(row["tiers"]),
            activity_kinds=tuple(row["activity_kinds"]),
            days_of_month=tuple(row["days_of_month"]),
            weekdays=tuple(row["weekdays"]),
            birthday_month=bool(row["birthday_month"]),
            min_amount_minor=row["min_amount_minor"],
        ),
        reward=CampaignReward(
            multiplier=plain_decimal(Decimal(str(row["multiplier"]))),
            fixed_bonus=int(row["fixed_bonus"]),
            cross_format_bonus=int(row["cross_format_bonus"]),
        ),
        budget_cap=None if row["cap"] is None else int(row["cap"]),
        member_limit=None if limit is None else MemberLimit(points=int(limit), period=LimitPeriod(row["member_limit_period"])),
        stacking=Stacking(row["stacking"]),
        priority=int(row["priority"]),
    )


def _values(config: CampaignConfig) -> dict[str, Any]:
    scope, reward, limit = config.scope, config.reward, config.member_limit
    return {
        "name": config.name,
        "starts_at": config.starts_at,
        "ends_at": config.ends_at,
        "formats": list(scope.formats),
        "min_tier": scope.min_tier,
        "tiers": list(scope.tiers),
        "activity_kinds": list(scope.activity_kinds),
        "days_of_month": list(scope.days_of_month),
        "weekdays": list(scope.weekdays),
        "birthday_month": scope.birthday_month,
        "min_amount_minor": scope.min_amount_minor,
        "multiplier": reward.multiplier,
        "fixed_bonus": reward.fixed_bonus,
        "cross_format_bonus": reward.cross_format_bonus,
        "member_limit": None if limit is None else limit.points,
        "member_limit_period": None if limit is None else limit.period.value,
        "stacking": config.stacking.value,
        "priority": config.priority,
    }


def _select() -> Any:
    return select(campaign_table, campaign_budget_table.c.cap).join(
        campaign_budget_table, campaign_budget_table.c.campaign_code == campaign_table.c.code
    )


async def load_campaigns(conn: AsyncConnection) -> tuple[CampaignConfig, ...]:
    """Every campaign, ended ones included, ordered by code (straight from the database)."""
    rows = (await conn.execute(_select().order_by(campaign_table.c.code))).mappings().all()
    return tuple(_from_row(row) for row in rows)


async def campaign_configs(core: Core) -> tuple[CampaignConfig, ...]:
    """Every campaign through the config cache: no SQL when warm."""

    async def load() -> tuple[CampaignConfig, ...]:
        async with core.db.read() as conn:
            return await load_campaigns(conn)

    return await core.cache.get(CACHE_KEY, load)


async def budgets(conn: AsyncConnection, codes: Sequence[str]) -> dict[str, Budget]:
    """The live budgets of ``codes`` in one statement."""
    if not codes:
        return {}
    table = campaign_budget_table
    rows = (await conn.execute(select(table).where(table.c.campaign_code.in_(list(codes))))).mappings().all()
    return {row["campaign_code"]: Budget(issued=int(row["issued"]), cap=row["cap"]) for row in rows}


async def _validated(core: Core, conn: AsyncConnection, config: CampaignConfig) -> CampaignConfig:
    registry = core.registry
    kinds: dict[str, list[str]] = {}
    for format_code, kind in registry.activity_kinds:
        kinds.setdefault(format_code, []).append(kind)
    tier_codes = set((await conn.execute(select(tier_table.c.code))).scalars())
    return validate_campaign(config, formats=registry.formats, activity_kinds=kinds, tier_codes=tier_codes)


async def _locked(conn: AsyncConnection, code: str) -> tuple[CampaignConfig, int] | None:
    """The stored campaign and its budget's ``issued``, the budget row locked (PostgreSQL) against racing earns."""
    query = _select().add_columns(campaign_budget_table.c.issued).where(campaign_table.c.code == code)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=campaign_budget_table)
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else (_from_row(row), int(row["issued"]))


def _not_found(code: str) -> AtriumError:
    return AtriumError(ErrorCode.CONFIG_NOT_FOUND, f"There is no campaign {code!r}.", "input.code")


async def create_campaign(core: Core, config: CampaignConfig, *, actor: str, now: datetime, reason: str | None = None) -> CampaignConfig:
    """Create a campaign with its budget counter at zero; a code already taken is ``INVALID_CONFIG`` on ``input.code``."""
    async with core.db.write() as conn:
        config = await _validated(core, conn, config)
        if await _locked(conn, config.code) is not None:
            raise AtriumError(ErrorCode.INVALID_CONFIG, f"Campaign {config.code!r} already exists.", "input.code")
        await conn.execute(insert(campaign_table).values(code=config.code, created_at=now, updated_at=now, **_values(config)))
        await conn.execute(insert(campaign_budget_table).values(campaign_code=config.code, cap=config.budget_cap, issued=0))
        await record_config_change(
            conn, actor=actor, entity=ENTITY, key=config.code, before=None, after=config.to_json(), now=now, reason=reason
        )
    await core.cache.invalidate(CACHE_KEY)
    return config


async def update_campaign(core: Core, config: CampaignConfig, *, actor: str, now: datetime, reason: str | None = None) -> CampaignConfig:
    """Replace a campaign's configuration (its code stays); ``CONFIG_NOT_FOUND`` for an unknown code.

    A budget cap below what the campaign has already issued is ``INVALID_CONFIG`` on ``input.budget``.
    Saving the same configuration again changes nothing and logs nothing.
    """
    async with core.db.write() as conn:
        found = await _locked(conn, config.code)
        if found is None:
            raise _not_found(config.code)
        before, issued = found
        config = await _validated(core, conn, config)
        if config.budget_cap is not None and config.budget_cap < issued:
            raise AtriumError(
                ErrorCode.INVALID_CONFIG,
                f"Campaign {config.code!r} has already issued {issued} pts: its budget cannot be less.",
                "input.budget",
            )
        await _save(conn, before, config, actor=actor, now=now, reason=reason)
    await core.cache.invalidate(CACHE_KEY)
    return config


async def end_campaign(core: Core, code: str, *, actor: str, now: datetime, reason: str | None = None) -> CampaignConfig:
    """End a campaign now: its window closes at ``now`` (at its start, if it had not started).

    Activity that happened before ``now`` and inside the window still earns the campaign when
    recorded later; nothing after. Ending an ended campaign changes nothing.
    """
    async with core.db.write() as conn:
        found = await _locked(conn, code)
        if found is None:
            raise _not_found(code)
        before, _ = found
        ends_at = max(min(before.ends_at, now), before.starts_at)
        await _save(conn, before, replace(before, ends_at=ends_at), actor=actor, now=now, reason=reason)
    await core.cache.invalidate(CACHE_KEY)
    return replace(before, ends_at=ends_at)


async def _save(
    conn: AsyncConnection, before: CampaignConfig, after: CampaignConfig, *, actor: str, now: datetime, reason: str | None
) -> None:
    if before == after:
        return
    await conn.execute(update(campaign_table).where(campaign_table.c.code == after.code).values(updated_at=now, **_values(after)))
    if before.budget_cap != after.budget_cap:
        await conn.execute(
            update(campaign_budget_table).where(campaign_budget_table.c.campaign_code == after.code).values(cap=after.budget_cap)
        )
    await record_config_change(
        conn, actor=actor, entity=ENTITY, key=after.code, before=before.to_json(), after=after.to_json(), now=now, reason=reason
    )
