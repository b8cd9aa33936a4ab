"""Transfer prices: dated, validated, audited, cached (no SQL when warm) and invalidated on change."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from gateway.config_audit import config_changes
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.settings import Settings
from gateway.settlement.price_changes import remove_transfer_price, set_transfer_price
from gateway.settlement.prices import today, transfer_prices

NOV_1, DEC_1 = date(2026, 11, 1), date(2026, 12, 1)


async def _set(
    core: Core, now: datetime, price: object, issuer: str | None = None, redeemer: str | None = None, *, on: date | None = None
) -> None:
    await set_transfer_price(core, issuer=issuer, redeemer=redeemer, price=price, actor="admin", reason="test", now=now, effective_from=on)


async def _remove(core: Core, now: datetime, issuer: str | None = None, redeemer: str | None = None, *, on: date | None = None) -> None:
    await remove_transfer_price(core, issuer=issuer, redeemer=redeemer, actor="admin", reason="test", now=now, effective_from=on)


def _today(core: Core, now: datetime) -> date:
    return now.astimezone(core.settings.zone).date()


async def test_without_configuration_a_point_is_worth_what_it_pays_on_a_bill(core: Core, now: datetime) -> None:
    prices = (await transfer_prices(core)).on(_today(core, now))

    assert prices.default is None and prices.overrides == ()
    assert prices.price("retail", "dining", fallback=core.settings.points_value_minor) == Decimal(1)


async def test_a_pair_override_beats_the_group_default(core: Core, now: datetime) -> None:
    await _set(core, now, "0.8")
    await _set(core, now, "1.25", "retail", "dining")

    prices = (await transfer_prices(core)).on(_today(core, now))

    assert prices.price("retail", "dining", fallback=1) == Decimal("1.25")
    assert prices.price("dining", "retail", fallback=1) == Decimal("0.8")
    assert prices.price("group", "property", fallback=1) == Decimal("0.8")


async def test_a_price_applies_from_its_day_and_leaves_the_days_before_it_alone(core: Core, now: datetime) -> None:
    await _set(core, now, "0.8", "retail", "dining", on=NOV_1)
    await _set(core, now, "1.1", "retail", "dining", on=DEC_1)

    schedule = await transfer_prices(core)

    assert schedule.on(date(2026, 10, 31)).configured("retail", "dining") is None
    assert schedule.on(NOV_1).price("retail", "dining", fallback=1) == Decimal("0.8")
    assert schedule.on(date(2026, 11, 30)).price("retail", "dining", fallback=1) == Decimal("0.8")
    assert schedule.on(DEC_1).price("retail", "dining", fallback=1) == Decimal("1.1")
    assert schedule.changes_within(NOV_1, date(2026, 12, 31)) == (DEC_1,)


async def test_without_a_day_a_change_applies_from_today(core: Core) -> None:
    await _set(core, datetime(2026, 11, 30, 20, 0, tzinfo=UTC), "0.9")

    [change] = (await transfer_prices(core)).versions
    assert change.effective_from == date(2026, 11, 30)


def test_today_is_the_day_in_the_group_time_zone() -> None:
    shanghai = Settings(timezone="Asia/Shanghai", _env_file=None)  # type: ignore[call-arg]

    assert today(shanghai, datetime(2026, 11, 30, 20, 0, tzinfo=UTC)) == DEC_1


async def test_removing_a_price_ends_it_from_its_day_only(core: Core, now: datetime) -> None:
    await _set(core, now, "0.8")
    await _set(core, now, "1.25", "retail", "dining", on=NOV_1)
    await _remove(core, now, "retail", "dining", on=DEC_1)

    schedule = await transfer_prices(core)

    assert schedule.on(NOV_1).price("retail", "dining", fallback=1) == Decimal("1.25")
    assert schedule.on(DEC_1).price("retail", "dining", fallback=1) == Decimal("0.8")
    assert [(p.effective_from, p.price) for p in schedule.of("retail", "dining")] == [(NOV_1, Decimal("1.25")), (DEC_1, None)]


async def test_a_second_change_on_the_same_day_replaces_the_first(core: Core, now: datetime) -> None:
    await _set(core, now, "0.8", on=NOV_1)
    await _set(core, now, "0.7", on=NOV_1)

    assert [(p.effective_from, p.price) for p in (await transfer_prices(core)).versions] == [(NOV_1, Decimal("0.7"))]


async def test_a_warm_read_issues_no_sql_and_a_change_is_seen_at_once(core: Core, now: datetime, sql_statements) -> None:  # type: ignore[no-untyped-def]
    day = _today(core, now)
    await _set(core, now, "0.8")
    await transfer_prices(core)

    with sql_statements() as warm:
        assert (await transfer_prices(core)).on(day).default.price == Decimal("0.8")  # type: ignore[union-attr]
    await _set(core, now, "0.9")

    assert warm.count == 0
    assert (await transfer_prices(core)).on(day).default.price == Decimal("0.9")  # type: ignore[union-attr]


async def test_every_change_is_audited_with_before_and_after_and_its_day(core: Core, now: datetime) -> None:
    await _set(core, now, "0.8", "retail", "dining", on=NOV_1)
    await _set(core, now, "0.80", "retail", "dining", on=NOV_1)  # the same price: no change, nothing logged
    await _set(core, now, "0.8", "retail", "dining", on=date(2026, 11, 15))  # already in force that day: nothing logged
    await _set(core, now, "1.1", "retail", "dining", on=DEC_1)
    await _remove(core, now, "retail", "dining", on=date(2027, 1, 1))

    async with core.db.read() as conn:
        changes = await config_changes(conn, entity="transfer_price")

    pair = {"issuer": "retail", "redeemer": "dining"}
    november = {**pair, "pricePerPoint": "0.8", "effectiveFrom": "2026-11-01"}
    december = {**pair, "pricePerPoint": "1.1", "effectiveFrom": "2026-12-01"}
    assert [(c.key, c.before, c.after, c.actor) for c in changes] == [
        ("retail:dining", december, {**pair, "pricePerPoint": None, "effectiveFrom": "2027-01-01"}, "admin"),
        ("retail:dining", november, december, "admin"),
        ("retail:dining", None, november, "admin"),
    ]
    assert changes[0].reason == "test"


@pytest.mark.parametrize(
    ("issuer", "redeemer", "price", "code", "field"),
    [
        (None, None, "-0.1", ErrorCode.INVALID_CONFIG, "pricePerPoint"),
        (None, None, "0.00001", ErrorCode.INVALID_CONFIG, "pricePerPoint"),
        (None, None, "100001", ErrorCode.INVALID_CONFIG, "pricePerPoint"),
        ("retail", None, "1", ErrorCode.INVALID_CONFIG, "redeemer"),
        ("cinema", "dining", "1", ErrorCode.UNKNOWN_FORMAT, "issuer"),
        ("retail", "group", "1", ErrorCode.UNKNOWN_FORMAT, "redeemer"),
    ],
)
async def test_bad_prices_are_typed_errors_and_write_nothing(
    core: Core, now: datetime, issuer: str | None, redeemer: str | None, price: str, code: ErrorCode, field: str
) -> None:
    with pytest.raises(AtriumError) as refused:
        await _set(core, now, price, issuer, redeemer)

    assert (refused.value.code, refused.value.field) == (code, field)
    async with core.db.read() as conn:
        assert await config_changes(conn, entity="transfer_price") == []
    assert (await transfer_prices(core)).versions == ()


async def test_removing_a_price_that_is_not_in_force_is_config_not_found(core: Core, now: datetime) -> None:
    await _set(core, now, "0.8", on=DEC_1)

    with pytest.raises(AtriumError) as refused:
        await _remove(core, now, on=NOV_1)

    assert refused.value.code is ErrorCode.CONFIG_NOT_FOUND
    assert len((await transfer_prices(core)).versions) == 1
