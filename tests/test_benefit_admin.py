"""Admins' shared benefits: validated (nothing written on bad input), audited, cached and invalidated on change."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from gateway.benefits.admin import (
    SharedBenefitDraft,
    create_shared_benefit,
    retire_shared_benefit,
    update_shared_benefit,
)
from gateway.benefits.catalogue import benefit_catalogue, shared_benefits
from gateway.config_audit import config_changes
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.persistence.benefit_tables import shared_benefit_table
from gateway.plugin_api import Quota
from tests.conftest import statements_of

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
PARKING = SharedBenefitDraft(
    code="parking_2h",
    name="2 free parking hours",
    description="Two hours of free parking a month at any property of the group.",
    min_tier="gold",
    quota=Quota(2, "month"),
)


async def stored(core: Core) -> int:
    async with core.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(shared_benefit_table)))


async def test_creating_a_shared_benefit_stores_it_and_logs_the_change(core: Core) -> None:
    created = await create_shared_benefit(core, PARKING, actor="admin:alice", reason="new parking perk", now=NOW)
    assert (created.code, created.quota, created.formats, created.active) == ("parking_2h", Quota(2, "month"), (), True)
    async with core.db.read() as conn:
        [change] = await config_changes(conn, entity="benefit")
    assert (change.actor, change.key, change.before, change.reason) == ("admin:alice", "parking_2h", None, "new parking perk")
    assert change.after["quota"] == {"count": 2, "period": "month"} and change.after["min_tier"] == "gold"


async def test_an_update_changes_only_the_given_fields_and_logs_before_and_after(core: Core) -> None:
    await create_shared_benefit(core, PARKING, actor="admin", now=NOW)
    updated = await update_shared_benefit(
        core, "parking_2h", {"quota": Quota(3, "month"), "formats": ("property",)}, actor="admin:bob", now=NOW + timedelta(days=1)
    )
    assert (updated.quota, updated.formats, updated.name) == (Quota(3, "month"), ("property",), PARKING.name)
    async with core.db.read() as conn:
        latest = (await config_changes(conn, entity="benefit"))[0]
    assert latest.before["quota"] == {"count": 2, "period": "month"} and latest.before["formats"] == []
    assert latest.after["quota"] == {"count": 3, "period": "month"} and latest.after["formats"] == ["property"]


async def test_saving_an_unchanged_benefit_logs_nothing(core: Core) -> None:
    await create_shared_benefit(core, PARKING, actor="admin", now=NOW)
    await update_shared_benefit(core, "parking_2h", {"name": PARKING.name}, actor="admin", now=NOW)
    async with core.db.read() as conn:
        assert len(await config_changes(conn, entity="benefit")) == 1


async def test_retiring_takes_the_benefit_off_the_catalogue_and_is_logged_once(core: Core) -> None:
    await create_shared_benefit(core, PARKING, actor="admin", now=NOW)
    assert "group.parking_2h" in {benefit.id for benefit in await benefit_catalogue(core)}
    retired = await retire_shared_benefit(core, "parking_2h", actor="admin", reason="car park closed", now=NOW)
    await retire_shared_benefit(core, "parking_2h", actor="admin", now=NOW)
    assert not retired.active
    assert "group.parking_2h" not in {benefit.id for benefit in await benefit_catalogue(core)}
    async with core.db.read() as conn:
        changes = await config_changes(conn, entity="benefit")
    assert [(c.before and c.before["active"], c.after["active"]) for c in changes] == [(True, False), (None, True)]


async def test_an_unknown_code_is_config_not_found(core: Core) -> None:
    for change in (
        update_shared_benefit(core, "nothing", {"name": "x"}, actor="admin", now=NOW),
        retire_shared_benefit(core, "nothing", actor="admin", now=NOW),
    ):
        with pytest.raises(AtriumError) as caught:
            await change
        assert (caught.value.code, caught.value.field) == (ErrorCode.CONFIG_NOT_FOUND, "code")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": "Parking 2h"}, "code"),
        ({"code": ""}, "code"),
        ({"name": "  "}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"description": "x" * 501}, "description"),
        ({"min_tier": "platinum"}, "minTier"),
        ({"valid_from": datetime(2026, 12, 1)}, "validFrom"),
        ({"valid_from": NOW, "valid_until": NOW}, "validUntil"),
        ({"quota": Quota(0, "month")}, "quota.count"),
        ({"quota": Quota(1001, "month")}, "quota.count"),
        ({"quota": Quota(2, "fortnight")}, "quota.period"),  # type: ignore[arg-type]
        ({"formats": ("property", "cinema")}, "formats.1"),
        ({"formats": ("property", "property")}, "formats.1"),
    ],
)
async def test_invalid_configuration_names_the_field_and_writes_nothing(core: Core, changes: dict[str, object], field: str) -> None:
    with pytest.raises(AtriumError) as caught:
        await create_shared_benefit(core, replace(PARKING, **changes), actor="admin", now=NOW)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.field) == (ErrorCode.INVALID_CONFIG, field)
    assert await stored(core) == 0
    async with core.db.read() as conn:
        assert await config_changes(conn, entity="benefit") == []


async def test_a_taken_code_is_refused_even_when_the_benefit_was_retired(core: Core) -> None:
    await create_shared_benefit(core, PARKING, actor="admin", now=NOW)
    await retire_shared_benefit(core, "parking_2h", actor="admin", now=NOW)
    with pytest.raises(AtriumError) as caught:
        await create_shared_benefit(core, PARKING, actor="admin", now=NOW)
    assert (caught.value.code, caught.value.field) == (ErrorCode.INVALID_CONFIG, "code")


async def test_an_invalid_update_writes_nothing(core: Core) -> None:
    await create_shared_benefit(core, PARKING, actor="admin", now=NOW)
    with pytest.raises(AtriumError) as caught:
        await update_shared_benefit(core, "parking_2h", {"min_tier": "platinum", "name": "Parking"}, actor="admin", now=NOW)
    assert caught.value.field == "minTier"
    assert (await shared_benefits(core))[0].name == PARKING.name
    with pytest.raises(AtriumError) as caught:
        await update_shared_benefit(core, "parking_2h", {"code": "renamed"}, actor="admin", now=NOW)
    assert (caught.value.code, caught.value.field) == (ErrorCode.INVALID_CONFIG, "code")


async def test_a_warm_cache_reads_the_shared_benefits_without_sql(core: Core) -> None:
    await create_shared_benefit(core, PARKING, actor="admin", now=NOW)
    with statements_of(core) as cold:
        await benefit_catalogue(core)
    with statements_of(core) as warm:
        catalogue = await benefit_catalogue(core)
    assert len(cold) == 1 and len(warm) == 0
    assert "group.parking_2h" in {benefit.id for benefit in catalogue}


async def test_a_change_is_seen_by_the_next_read_after_it_commits(core: Core) -> None:
    await create_shared_benefit(core, PARKING, actor="admin", now=NOW)
    assert (await shared_benefits(core))[0].quota == Quota(2, "month")
    await update_shared_benefit(core, "parking_2h", {"quota": None}, actor="admin", now=NOW)
    assert (await shared_benefits(core))[0].quota is None
