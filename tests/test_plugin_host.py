"""Loading plugins: entry points sorted by name, an allowlist, and start-up failures that name names."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import strawberry

from gateway.errors import PluginLoadError
from gateway.graphql.schema import build_schema
from gateway.plugin_api import (
    ActivityDraft,
    ActivityKind,
    BusinessFormat,
    MoneyInput,
    hookimpl,
)
from gateway.plugins import build_plugin_host
from gateway.settings import Settings


class Format:
    """A throwaway plugin registering one format."""

    def __init__(self, code: str) -> None:
        self.code = code

    @hookimpl
    def atrium_register_formats(self, register: Callable[[BusinessFormat], None]) -> None:
        register(BusinessFormat(code=self.code, name=self.code.title()))


def test_first_party_plugins_load_from_entry_points_sorted_by_name() -> None:
    host = build_plugin_host()
    assert [plugin.name for plugin in host.loaded] == ["dining", "property", "retail"]
    assert all(plugin.version == "0.1.0" for plugin in host.loaded)


def test_the_allowlist_loads_only_the_named_plugins() -> None:
    host = build_plugin_host(allowlist=["retail"])
    assert set(host.registry.formats) == {"retail"}


def test_an_allowlisted_plugin_that_is_not_installed_fails_start_up() -> None:
    with pytest.raises(PluginLoadError, match="not installed: karaoke"):
        build_plugin_host(allowlist=["retail", "karaoke"])


def test_a_misspelt_hook_fails_start_up() -> None:
    class Misspelt:
        @hookimpl
        def atrium_register_format(self, register: Callable[[BusinessFormat], None]) -> None:
            """Missing the final s."""

    with pytest.raises(PluginLoadError, match="misspelt"):
        build_plugin_host(load_entry_points=False, extra_plugins=[("misspelt", Misspelt())])


def test_two_plugins_registering_one_format_fail_start_up_naming_both() -> None:
    with pytest.raises(PluginLoadError, match="'first' and 'second'"):
        build_plugin_host(load_entry_points=False, extra_plugins=[("first", Format("spa")), ("second", Format("spa"))])


def test_a_format_code_must_be_a_lowercase_identifier() -> None:
    with pytest.raises(PluginLoadError, match="lowercase"):
        build_plugin_host(load_entry_points=False, extra_plugins=[("bad", Format("Spa Bar"))])


def _kind_plugin(format_code: str, input_type: type) -> object:
    class Plugin(Format):
        @hookimpl
        def atrium_register_activity_kinds(self, register: Callable[[ActivityKind], None]) -> None:
            register(
                ActivityKind(
                    format=self.code,
                    name="visit",
                    input_type=input_type,
                    to_activity=lambda value: ActivityDraft(amount=value.total.to_money(field="total")),
                )
            )

    return Plugin(format_code)


def test_two_plugins_contributing_one_graphql_name_fail_start_up_naming_both() -> None:
    @strawberry.input(name="VisitInput")
    class SpaVisit:
        total: MoneyInput

    @strawberry.input(name="VisitInput")
    class GymVisit:
        total: MoneyInput
        minutes: int

    host = build_plugin_host(
        load_entry_points=False, extra_plugins=[("spa", _kind_plugin("spa", SpaVisit)), ("gym", _kind_plugin("gym", GymVisit))]
    )
    with pytest.raises(PluginLoadError, match="'VisitInput' is contributed by both 'gym' and 'spa'"):
        build_schema(host.registry, Settings(_env_file=None))  # type: ignore[call-arg]


def test_a_plugin_cannot_take_a_graphql_name_of_the_gateway() -> None:
    @strawberry.input(name="RedeemInput")
    class Sneaky:
        total: MoneyInput

    host = build_plugin_host(load_entry_points=False, extra_plugins=[("sneaky", _kind_plugin("spa", Sneaky))])
    with pytest.raises(PluginLoadError, match="'RedeemInput' of plugin 'sneaky' clashes with the gateway"):
        build_schema(host.registry, Settings(_env_file=None))  # type: ignore[call-arg]


def test_a_plugin_raising_in_a_notification_hook_is_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    from gateway.plugin_api import PostingEvent

    class Broken:
        @hookimpl
        def atrium_posting_committed(self, event: PostingEvent) -> None:
            raise RuntimeError("crm is down")

    seen: list[int] = []

    class Listening:
        @hookimpl
        def atrium_posting_committed(self, event: PostingEvent) -> None:
            seen.append(event.posting_id)

    host = build_plugin_host(load_entry_points=False, extra_plugins=[("broken", Broken()), ("listening", Listening())])
    host.notify_posting(PostingEvent(7, 1, "earn", "retail", 10, 10, 10, "test"))

    assert seen == [7]
    assert "plugin 'broken' raised in atrium_posting_committed" in caplog.text


def test_a_details_type_that_does_not_implement_the_interface_fails_start_up() -> None:
    @strawberry.type
    class NotDetails:
        summary: str

    @strawberry.input
    class SpaVisit:
        total: MoneyInput

    class Plugin(Format):
        @hookimpl
        def atrium_register_activity_kinds(self, register: Callable[[ActivityKind], None]) -> None:
            register(
                ActivityKind(
                    format="spa",
                    name="visit",
                    input_type=SpaVisit,
                    to_activity=lambda value: ActivityDraft(amount=value.total.to_money(field="total")),
                    details_type=NotDetails,
                )
            )

    with pytest.raises(PluginLoadError, match="must subclass ActivityDetails"):
        build_plugin_host(load_entry_points=False, extra_plugins=[("spa", Plugin("spa"))])


def test_two_plugins_under_one_name_fail_start_up() -> None:
    with pytest.raises(PluginLoadError, match="'twin' cannot be registered"):
        build_plugin_host(load_entry_points=False, extra_plugins=[("twin", Format("spa")), ("twin", Format("gym"))])


def test_trace_mode_logs_each_hook_call_with_its_plugin(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("DEBUG", logger="gateway.plugins"):
        build_plugin_host(load_entry_points=False, extra_plugins=[("spa", Format("spa"))], trace=True)

    assert "calling atrium_register_formats of plugin 'spa'" in caplog.text
