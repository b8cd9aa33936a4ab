"""Transfer prices: validated, audited, cached (no SQL when warm) and invalidated on change."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from gateway.config_audit import config_changes
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.settlement.prices import (
    remove_transfer_price,
    set_transfer_price,
    transfer_prices,
)


async def _set(core: Core, now: datetime, price: object, issuer: str | None = None, redeemer: str | None = None) -> None:
    await set_transfer_price(core, issuer=issuer, redeemer=redeemer, price=price, actor="admin", reason="test", now=now)


async def test_without_configuration_a_point_is_worth_what_it_pays_on_a_bill(core: Core) -> None:
    prices = await transfer_prices(core)

    assert prices.default is None and prices.overrides == ()
    assert prices.price("retail", "dining", fallback=core.settings.points_value_minor) == Decimal(1)


async def test_a_pair_override_beats_the_group_default(core: Core, now: datetime) -> None:
    await _set(core, now, "0.8")
    await _set(core, now, "1.25", "retail", "dining")

    prices = await transfer_prices(core)

    assert prices.price("retail", "dining", fallback=1) == Decimal("1.25")
    assert prices.price("dining", "retail", fallback=1) == Decimal("0.8")
    assert prices.price("group", "property", fallback=1) == Decimal("0.8")


async def test_a_warm_read_issues_no_sql_and_a_change_is_seen_at_once(core: Core, now: datetime, sql_statements) -> None:  # type: ignore[no-untyped-def]
    await _set(core, now, "0.8")
    await transfer_prices(core)

    with sql_statements() as warm:
        assert (await transfer_prices(core)).default.price == Decimal("0.8")  # type: ignore[union-attr]
    await _set(core, now, "0.9")

    assert warm.count == 0
    assert (await transfer_prices(core)).default.price == Decimal("0.9")  # type: ignore[union-attr]


async def test_every_change_is_audited_with_before_and_after(core: Core, now: datetime) -> None:
    await _set(core, now, "0.8", "retail", "dining")
    await _set(core, now, "0.80", "retail", "dining")  # the same price: no change, nothing logged
    await _set(core, now, "1.1", "retail", "dining")
    await remove_transfer_price(core, issuer="retail", redeemer="dining", actor="admin", reason="back to default", now=now)

    async with core.db.read() as conn:
        changes = await config_changes(conn, entity="transfer_price")

    pair = {"issuer": "retail", "redeemer": "dining"}
    assert [(c.key, c.before, c.after, c.actor) for c in changes] == [
        ("retail:dining", {**pair, "pricePerPoint": "1.1"}, None, "admin"),
        ("retail:dining", {**pair, "pricePerPoint": "0.8"}, {**pair, "pricePerPoint": "1.1"}, "admin"),
        ("retail:dining", None, {**pair, "pricePerPoint": "0.8"}, "admin"),
    ]
    assert changes[0].reason == "back to default"


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
    assert (await transfer_prices(core)).default is None


async def test_removing_a_price_that_is_not_set_is_config_not_found(core: Core, now: datetime) -> None:
    with pytest.raises(AtriumError) as refused:
        await remove_transfer_price(core, issuer=None, redeemer=None, actor="admin", reason="x", now=now)

    assert refused.value.code is ErrorCode.CONFIG_NOT_FOUND
