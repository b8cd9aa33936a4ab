"""Declaring settings: what the host accepts at start-up, and how a plugin's redemption steps see them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from pydantic import Field

from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode, PluginLoadError
from gateway.ledger.adjust import AdjustRequest, adjust_points
from gateway.ledger.postings import MemberRef
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.plugin_api import (
    Activity,
    BusinessFormat,
    FormatSettings,
    Fulfilment,
    Money,
    PluginSettings,
    RedemptionRejected,
    RedemptionRequest,
    RedemptionType,
    hookimpl,
)
from gateway.plugin_settings import update_settings
from gateway.plugins import build_plugin_host
from tests.helpers import enrol_phone


class KioskSettings(PluginSettings):
    open: bool = Field(default=True, description="Whether the kiosk hands out snacks at all.")
    snacks_per_redemption: int = Field(default=3, ge=1, le=10, description="Most snacks in one redemption.")


def _validate_snack(request: RedemptionRequest) -> None:
    settings = KioskSettings.of(request)
    if not settings.open:
        raise RedemptionRejected("The kiosk is closed.")
    if request.quantity > settings.snacks_per_redemption:
        raise RedemptionRejected(f"At most {settings.snacks_per_redemption} snacks at a time.", field="quantity")


class KioskPlugin:
    """A throwaway format whose reward reads its settings in ``validate``."""

    def __init__(self, model: object = KioskSettings, fmt: str = "kiosk") -> None:
        self.model = model
        self.fmt = fmt

    @hookimpl
    def atrium_register_formats(self, register: Callable[[BusinessFormat], None]) -> None:
        register(BusinessFormat(code="kiosk", name="Kiosk"))

    @hookimpl
    def atrium_register_redemption_types(self, register: Callable[[RedemptionType], None]) -> None:
        register(
            RedemptionType(
                format="kiosk",
                code="snack",
                name="A snack",
                description="One snack from the kiosk.",
                points=10,
                max_quantity=10,
                validate=_validate_snack,
                fulfil=lambda request: Fulfilment(reason=f"{request.quantity} snacks"),
            )
        )

    @hookimpl
    def atrium_register_settings(self, register: Callable[[FormatSettings], None]) -> None:
        register(FormatSettings(format=self.fmt, model=self.model))  # type: ignore[arg-type]


class SecondKioskSettings:
    """Registers settings for the kiosk format a second time."""

    @hookimpl
    def atrium_register_settings(self, register: Callable[[FormatSettings], None]) -> None:
        register(FormatSettings(format="kiosk", model=KioskSettings))


def _host(*plugins: tuple[str, object]):  # type: ignore[no-untyped-def]
    return build_plugin_host(load_entry_points=False, extra_plugins=plugins)


# --- start-up -------------------------------------------------------------------------------------


def test_a_plugin_registers_a_settings_model_for_its_format() -> None:
    host = _host(("kiosk", KioskPlugin()))
    assert host.registry.settings["kiosk"].model is KioskSettings
    assert host.registry.owner[("settings", "kiosk")] == "kiosk"
    assert "atrium_register_settings" in host.loaded[0].hooks


class NoDefault(PluginSettings):
    rate: int


class Aliased(PluginSettings):
    rate: int = Field(default=1, alias="Rate")


class NotSettings:
    rate: int = 1


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (NotSettings, "NotSettings is not a subclass of PluginSettings"),
        (PluginSettings, "register a subclass of PluginSettings, not PluginSettings itself"),
        (NoDefault, "NoDefault cannot be built from its defaults (every field needs a valid default): rate: Field required"),
        (Aliased, "field 'rate' of Aliased has an alias: settings are keyed by field name"),
    ],
)
def test_a_model_the_gateway_cannot_store_stops_start_up(model: object, message: str) -> None:
    with pytest.raises(PluginLoadError) as raised:
        _host(("kiosk", KioskPlugin(model)))
    assert str(raised.value) == f"plugin 'kiosk' registered settings for 'kiosk': {message}"


def test_settings_for_a_format_nobody_registered_stop_start_up() -> None:
    with pytest.raises(PluginLoadError, match="plugin 'kiosk' registered settings for unknown format 'kiosks'"):
        _host(("kiosk", KioskPlugin(fmt="kiosks")))


def test_two_settings_models_for_one_format_stop_start_up_naming_both_plugins() -> None:
    with pytest.raises(PluginLoadError, match="settings of format 'kiosk' is registered by both 'kiosk' and 'kiosk_extra'"):
        _host(("kiosk", KioskPlugin()), ("kiosk_extra", SecondKioskSettings()))


# --- PluginSettings.of ----------------------------------------------------------------------------


def _activity(settings: PluginSettings | None) -> Activity:
    return Activity(
        format="kiosk",
        kind="sale",
        reference="K-1",
        amount=Money(100, "CNY"),
        occurred_at=datetime(2026, 11, 3),
        store=None,
        details={},
        settings=settings,
    )


def test_an_activity_built_without_settings_reads_the_defaults() -> None:
    assert KioskSettings.of(_activity(None)) == KioskSettings()


def test_settings_of_another_model_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="expected KioskSettings settings, got NoDefault"):
        KioskSettings.of(_activity(NoDefault(rate=1)))


def test_settings_are_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        KioskSettings().open = False  # type: ignore[misc]


# --- redemption steps see the current settings ----------------------------------------------------


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    return [("kiosk", KioskPlugin())]


async def _member_with_points(core: Core, now: datetime) -> MemberRef:
    member = MemberRef(member_id=await enrol_phone(core, "13800138000", now))
    await adjust_points(core, AdjustRequest(member=member, points=100, reason="welcome", idempotency_key="A-1", actor="admin:ops"), now=now)
    return member


async def test_a_redemption_validate_step_reads_the_settings_an_admin_changed(core: Core, now: datetime) -> None:
    member = await _member_with_points(core, now)
    snacks = RedeemRequest(member=member, format="kiosk", reward="snack", quantity=5, idempotency_key="S-1")
    with pytest.raises(AtriumError) as too_many:
        await redeem(core, snacks, now=now)
    assert (too_many.value.code, too_many.value.message) == (ErrorCode.REDEMPTION_REJECTED, "At most 3 snacks at a time.")

    await update_settings(core, "kiosk", {"snacks_per_redemption": 5}, actor="admin:ops", reason="bigger bags", now=now)
    granted = await redeem(core, RedeemRequest(member=member, format="kiosk", reward="snack", quantity=5, idempotency_key="S-2"), now=now)
    assert (granted.points, granted.balance_after) == (-50, 50)

    await update_settings(core, "kiosk", {"open": False}, actor="admin:ops", reason="stocktake", now=now)
    with pytest.raises(AtriumError) as closed:
        await redeem(core, RedeemRequest(member=member, format="kiosk", reward="snack", quantity=1, idempotency_key="S-3"), now=now)
    assert closed.value.message == "The kiosk is closed."
