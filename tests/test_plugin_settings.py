"""Plugin settings: defaults from the model, validated and audited changes, cached reads, applied to the next earn."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from gateway.config_audit import config_changes
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.persistence.plugin_settings_tables import plugin_settings_table
from gateway.plugin_settings import (
    cache_key,
    current_settings,
    read_settings,
    reset_settings,
    update_settings,
)
from gateway.plugin_settings_schema import InvalidSettings
from tests.conftest import statements_of
from tests.helpers import dining_bill, earn, enrol_phone, property_fee, retail_purchase

ADMIN = "admin:ops"

RETAIL_DEFAULTS = {
    "excluded_categories": ["gift_card", "tobacco"],
    "category_multipliers": {},
    "return_window_days": 0,
    "member_price_percent": 5,
    "points_offset_cap_percent": None,
}


async def _rows(core: Core) -> int:
    async with core.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(plugin_settings_table)) or 0)


async def _changes(core: Core) -> list[object]:
    async with core.db.read() as conn:
        return list(await config_changes(conn, entity="plugin_settings"))


async def _update(core: Core, values: object, now: datetime, fmt: str = "retail") -> object:
    return await update_settings(core, fmt, values, actor=ADMIN, reason="policy change", now=now)


# --- reading --------------------------------------------------------------------------------------


async def test_untouched_settings_are_the_models_defaults(core: Core) -> None:
    view = await read_settings(core, "retail")

    assert view.values == view.defaults == RETAIL_DEFAULTS
    assert view.changed == ()
    assert (view.updated_at, view.updated_by) == (None, None)
    assert set(view.json_schema["properties"]) == set(RETAIL_DEFAULTS)
    assert view.json_schema["properties"]["return_window_days"]["maximum"] == 90


async def test_every_first_party_format_declares_settings(core: Core) -> None:
    assert sorted(core.registry.settings) == ["dining", "property", "retail"]
    assert (await read_settings(core, "property")).values == {
        "management_rate": "0.5",
        "parking_rate": "0.2",
        "utilities_rate": "0.2",
        "timezone": "Asia/Shanghai",
        "on_time_bonus_percent": 10,
        "autopay_bonus_percent": 5,
        "bonus_relations": ["owner", "tenant", "resident"],
        "points_offset_cap_percent": None,
    }


async def test_an_unknown_format_is_plugin_not_found(core: Core, now: datetime) -> None:
    for attempt in (
        read_settings(core, "cinema"),
        _update(core, {"x": 1}, now, fmt="cinema"),
        reset_settings(core, "cinema", None, actor=ADMIN, reason="r", now=now),
    ):
        with pytest.raises(AtriumError) as raised:
            await attempt
        assert (raised.value.code, raised.value.field) == (ErrorCode.PLUGIN_NOT_FOUND, "format")


# --- changing -------------------------------------------------------------------------------------


async def test_a_valid_change_is_stored_as_an_override_and_audited(core: Core, now: datetime) -> None:
    view = await _update(core, {"excluded_categories": ["tobacco", " Alcohol ", "gift_card"]}, now)

    assert view.values["excluded_categories"] == ["alcohol", "gift_card", "tobacco"]  # type: ignore[attr-defined]
    assert view.changed == ("excluded_categories",)  # type: ignore[attr-defined]
    assert view.updated_by == ADMIN  # type: ignore[attr-defined]
    async with core.db.read() as conn:
        stored = (await conn.execute(select(plugin_settings_table.c.overrides))).scalar_one()
    assert stored == {"excluded_categories": ["alcohol", "gift_card", "tobacco"]}
    [change] = await _changes(core)
    assert (change.actor, change.key, change.reason) == (ADMIN, "retail", "policy change")  # type: ignore[attr-defined]
    assert change.before == {}  # type: ignore[attr-defined]
    assert change.after == {"excluded_categories": ["alcohol", "gift_card", "tobacco"]}  # type: ignore[attr-defined]


async def test_fields_left_out_keep_their_values(core: Core, now: datetime) -> None:
    await _update(core, {"return_window_days": 7}, now)
    view = await _update(core, {"category_multipliers": {"fresh": "2"}}, now + timedelta(minutes=1))

    assert view.values["return_window_days"] == 7  # type: ignore[attr-defined]
    assert view.values["category_multipliers"] == {"fresh": "2"}  # type: ignore[attr-defined]
    assert view.changed == ("category_multipliers", "return_window_days")  # type: ignore[attr-defined]
    before, after = [(change.before, change.after) for change in reversed(await _changes(core))][1]  # type: ignore[attr-defined]
    assert before == {"return_window_days": 7}
    assert after == {"return_window_days": 7, "category_multipliers": {"fresh": "2"}}


async def test_setting_a_field_back_to_its_default_drops_the_override(core: Core, now: datetime) -> None:
    await _update(core, {"return_window_days": 7}, now)
    view = await _update(core, {"return_window_days": 0}, now)

    assert view.changed == ()  # type: ignore[attr-defined]
    async with core.db.read() as conn:
        assert (await conn.execute(select(plugin_settings_table.c.overrides))).scalar_one() == {}


async def test_a_change_to_the_current_values_writes_and_audits_nothing(core: Core, now: datetime) -> None:
    await _update(core, {"excluded_categories": ["gift_card", "tobacco"]}, now)

    assert await _rows(core) == 0
    assert await _changes(core) == []


async def test_an_invalid_value_is_invalid_config_with_path_and_pydantic_message(core: Core, now: datetime) -> None:
    with pytest.raises(InvalidSettings) as raised:
        await _update(core, {"return_window_days": 400, "category_multipliers": {"fresh": "-1"}}, now)

    problems = {(error.code, error.field, error.message) for error in raised.value.errors}
    assert problems == {
        (ErrorCode.INVALID_CONFIG, "values.return_window_days", "Input should be less than or equal to 90"),
        (ErrorCode.INVALID_CONFIG, "values.category_multipliers.fresh", "Input should be greater than 0"),
    }
    assert await _rows(core) == 0
    assert await _changes(core) == []


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"excluded_categories": "tobacco"}, "values.excluded_categories", "Input should be a valid array"),
        ({"excluded_categories": ["ok", ""]}, "values.excluded_categories.1", "String should have at least 1 character"),
        ({"return_window_days": "soon"}, "values.return_window_days", "Input should be a valid integer, unable to parse string as an integer"),
        ({"return_windows": 7}, "values.return_windows", "Extra inputs are not permitted"),
        ({"category_multipliers": {"tobacco": "2"}}, "values", "Value error, tobacco cannot be excluded and have a multiplier at once"),
        (["return_window_days", 7], "values", "Values must be a JSON object of field names to new values."),
    ],
)
async def test_each_kind_of_bad_value_names_where_it_is(core: Core, now: datetime, values: object, field: str, message: str) -> None:
    with pytest.raises(InvalidSettings) as raised:
        await _update(core, values, now)

    assert [(error.field, error.message) for error in raised.value.errors] == [(field, message)]
    assert await _rows(core) == 0


async def test_a_reason_is_required(core: Core, now: datetime) -> None:
    with pytest.raises(AtriumError) as raised:
        await update_settings(core, "retail", {"return_window_days": 7}, actor=ADMIN, reason="  ", now=now)

    assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_INPUT, "reason")
    assert await _rows(core) == 0


async def test_resetting_fields_restores_their_defaults_and_is_audited(core: Core, now: datetime) -> None:
    await _update(core, {"return_window_days": 7, "category_multipliers": {"fresh": "2"}}, now)

    view = await reset_settings(core, "retail", ["return_window_days"], actor=ADMIN, reason="back to normal", now=now)
    assert view.changed == ("category_multipliers",)
    assert view.values["return_window_days"] == 0

    everything = await reset_settings(core, "retail", None, actor=ADMIN, reason="season over", now=now)
    assert everything.values == RETAIL_DEFAULTS and everything.changed == ()
    assert [change.reason for change in await _changes(core)] == ["season over", "back to normal", "policy change"]  # type: ignore[attr-defined]


async def test_resetting_an_unknown_field_is_invalid_config_naming_it(core: Core, now: datetime) -> None:
    await _update(core, {"return_window_days": 7}, now)

    with pytest.raises(InvalidSettings) as raised:
        await reset_settings(core, "retail", ["return_window_days", "colour"], actor=ADMIN, reason="r", now=now)

    assert [(error.code, error.field) for error in raised.value.errors] == [(ErrorCode.INVALID_CONFIG, "fields.1")]
    assert (await read_settings(core, "retail")).changed == ("return_window_days",)


async def test_concurrent_changes_of_different_fields_both_stand(core: Core, now: datetime) -> None:
    await asyncio.gather(
        _update(core, {"return_window_days": 7}, now),
        _update(core, {"category_multipliers": {"fresh": "2"}}, now),
    )

    assert (await read_settings(core, "retail")).changed == ("category_multipliers", "return_window_days")
    assert len(await _changes(core)) == 2


# --- the cache ------------------------------------------------------------------------------------


async def test_a_warm_cache_reads_settings_without_sql(core: Core) -> None:
    await current_settings(core, "retail")

    with statements_of(core) as statements:
        settings = await current_settings(core, "retail")
        view = await read_settings(core, "retail")

    assert statements.count == 0, str(statements)
    assert settings is not None and view.values == RETAIL_DEFAULTS


async def test_a_change_is_read_at_once_after_it_commits(core: Core, now: datetime) -> None:
    assert (await current_settings(core, "retail")).return_window_days == 0  # type: ignore[union-attr]

    await _update(core, {"return_window_days": 14}, now)

    assert (await current_settings(core, "retail")).return_window_days == 14  # type: ignore[union-attr]


async def test_every_reader_gets_an_instance_of_its_own(core: Core, now: datetime) -> None:
    await _update(core, {"category_multipliers": {"fresh": "2"}}, now)
    first = await current_settings(core, "retail")
    first.category_multipliers["fresh"] = 99  # type: ignore[union-attr,index]

    assert (await current_settings(core, "retail")).category_multipliers == {"fresh": 2}  # type: ignore[union-attr]


async def test_a_stored_value_the_model_no_longer_accepts_falls_back_to_its_default(
    core: Core, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    async with core.db.write() as conn:
        await conn.execute(
            insert(plugin_settings_table).values(
                format="retail",
                overrides={"return_window_days": 400, "retired_field": True, "category_multipliers": {"fresh": "3"}},
                updated_at=now,
                updated_by=ADMIN,
            )
        )
    await core.cache.invalidate(cache_key("retail"))

    with caplog.at_level(logging.WARNING, logger="gateway.plugin_settings"):
        view = await read_settings(core, "retail")

    assert view.values == {**RETAIL_DEFAULTS, "category_multipliers": {"fresh": "3"}}
    assert view.changed == ("category_multipliers",)
    assert "return_window_days" in caplog.text and "retired_field" in caplog.text


# --- plugins read them ----------------------------------------------------------------------------


async def test_excluding_a_new_category_applies_to_the_next_purchase(core: Core, now: datetime) -> None:
    member = await enrol_phone(core, "13800138000", now)
    receipt = [("RICE", "grocery", 1, "128.00"), ("WINE", "alcohol", 1, "88.00"), ("GIFT", "gift_card", 1, "100.00")]

    before = await earn(core, member, "R-1", retail_purchase(receipt), now)
    await _update(core, {"excluded_categories": ["gift_card", "tobacco", "alcohol"]}, now)
    after = await earn(core, member, "R-2", retail_purchase(receipt), now)

    assert before.points == 128 + 88  # gift card excluded by default; Member tier ×1
    assert after.points == 128
    assert after.lines[0]["reason"] == "1 pt per CN¥1 on CN¥128.00 of eligible items (CN¥188.00 of alcohol, gift_card excluded)"


async def test_a_category_rate_earns_its_own_line_and_growth_stays_at_the_base(core: Core, now: datetime) -> None:
    member = await enrol_phone(core, "13800138000", now)
    await _update(core, {"category_multipliers": {"fresh": "2.5"}}, now)

    posting = await earn(core, member, "R-1", retail_purchase([("FISH", "fresh", 1, "45.50"), ("RICE", "grocery", 1, "10.00")]), now)

    # grocery 10.00 × 1 = 10; fresh 45.50 × 2.5 = 113.75 -> 113; growth 10 + 45 = 55
    assert [(line["points"], line["reason"]) for line in posting.lines] == [
        (10, "1 pt per CN¥1 on CN¥10.00 of eligible items"),
        (113, "2.5 pts per CN¥1 on CN¥45.50 of fresh"),
    ]
    assert (posting.points, posting.growth) == (123, 55)


async def test_a_return_window_holds_a_purchases_points_pending(core: Core, now: datetime) -> None:
    member = await enrol_phone(core, "13800138000", now)
    await _update(core, {"return_window_days": 7}, now)

    posting = await earn(core, member, "R-1", retail_purchase([("RICE", "grocery", 1, "120.00")]), now)

    assert (posting.points, posting.balance_after) == (120, 0)
    assert "(available from " in posting.lines[0]["reason"]


async def test_letting_the_service_charge_earn_adds_it_to_the_dining_base(core: Core, now: datetime) -> None:
    member = await enrol_phone(core, "13800138000", now)
    await _update(core, {"non_earning_charges": ["tips"]}, now, fmt="dining")

    posting = await earn(
        core, member, "B-1", dining_bill("230.00", service_charge="23.00", tips="50.00"), now, format_code="dining", kind="bill"
    )

    assert posting.points == 253  # 230.00 + 23.00 at 1 pt per CN¥1; tips still earn nothing
    assert posting.lines[0]["reason"] == "1 pt per CN¥1 on CN¥253.00 of food and beverage and service charge (tips earn nothing)"


async def test_a_new_management_fee_rate_applies_to_the_next_payment(core: Core, now: datetime) -> None:
    member = await enrol_phone(core, "13800138000", now)
    await _update(core, {"management_rate": "1"}, now, fmt="property")

    posting = await earn(core, member, "F-1", property_fee("600.00"), now, format_code="property", kind="fee_payment")

    assert posting.points == 600
    assert posting.lines[0]["reason"] == "1 pt per CN¥1 on CN¥600.00 management fee for unit A-1203, 2026-11"
