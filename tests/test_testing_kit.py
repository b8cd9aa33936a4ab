"""The plugin author kit (gateway.testing): its pytest fixtures, as an author's tests use them.

The fixtures reach this suite the way they reach an author's: through the ``pytest11`` entry
point of the installed gateway, not through a conftest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import strawberry

from gateway.errors import PluginLoadError
from gateway.graphql.context import Context
from gateway.plugin_api import (
    ActivityDraft,
    ActivityKind,
    BusinessFormat,
    EarnLine,
    EarnRule,
    MoneyInput,
    hookimpl,
    points_for,
)
from gateway.settings import Settings
from gateway.testing import (
    GatewayUnderTest,
    GraphQLClient,
    GraphQLErrors,
    MemberFactory,
    build_test_host,
    open_gateway,
)

PLUGINS = "{ plugins { name } }"
ME = "{ me { pointsBalance tier { code } birthDate enrolledAt } }"


@strawberry.input
class SpaVisitInput:
    total: MoneyInput


class Spa:
    """A throwaway format: 1 point per CN¥1 of a visit."""

    @hookimpl
    def atrium_register_formats(self, register: Callable[[BusinessFormat], None]) -> None:
        register(BusinessFormat(code="spa", name="Spa"))

    @hookimpl
    def atrium_register_activity_kinds(self, register: Callable[[ActivityKind], None]) -> None:
        register(
            ActivityKind(
                format="spa",
                name="visit",
                input_type=SpaVisitInput,
                to_activity=lambda data: ActivityDraft(amount=data.total.to_money(field="total")),
            )
        )

    @hookimpl
    def atrium_register_earn_rules(self, register: Callable[[EarnRule], None]) -> None:
        register(
            EarnRule(
                format="spa",
                code="per_yuan",
                description="1 pt per CN¥1",
                compute=lambda activity, member: EarnLine(points_for(activity.amount, 1), 0, "1 pt per CN¥1"),
            )
        )


VISIT = """
mutation Visit($member: MemberRefInput!, $input: SpaVisitInput!) {
  recordSpaVisit(member: $member, idempotencyKey: "V-1", input: $input) { posting { points } errors { code field } }
}"""


def test_the_kit_is_loaded_through_its_pytest11_entry_point(pytestconfig: pytest.Config) -> None:
    import gateway.testing.pytest_plugin

    assert pytestconfig.pluginmanager.get_plugin("atrium") is gateway.testing.pytest_plugin


async def test_by_default_the_gateway_loads_every_installed_plugin(atrium_admin: GraphQLClient) -> None:
    plugins = (await atrium_admin.data(PLUGINS))["plugins"]

    assert [plugin["name"] for plugin in plugins] == ["dining", "property", "retail"]


async def test_the_member_factory_gives_a_balance_a_tier_and_a_client_of_the_members_own(
    atrium_member_factory: MemberFactory,
) -> None:
    member = await atrium_member_factory(points=300, tier="gold", birth_date=date(1990, 5, 1))

    me = (await member.client.data(ME))["me"]

    assert (me["pointsBalance"], me["tier"], me["birthDate"]) == (300, {"code": "gold"}, "1990-05-01")


async def test_each_member_of_the_factory_is_a_new_member(atrium_member_factory: MemberFactory) -> None:
    first, second = await atrium_member_factory(), await atrium_member_factory()

    assert first.number != second.number and first.phone != second.phone


async def test_a_member_the_gateway_refuses_fails_the_factory_with_the_gateways_reason(atrium_member_factory: MemberFactory) -> None:
    with pytest.raises(AssertionError, match="assignMemberTier refused the test member: .*'platinum'"):
        await atrium_member_factory(tier="platinum")


async def test_a_frozen_clock_is_what_requests_see(atrium_gateway: GatewayUnderTest) -> None:
    moment = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)
    atrium_gateway.freeze_time(moment)

    member = await atrium_gateway.members()

    assert (await member.client.data(ME))["me"]["enrolledAt"] == "2026-11-28T12:30:00+00:00"


async def test_closing_the_gateway_gives_the_real_clock_back(atrium_database_url: str) -> None:
    async with open_gateway(database_url=atrium_database_url) as gateway:
        gateway.freeze_time(datetime(2020, 1, 1, tzinfo=UTC))

    assert abs(Context.now() - datetime.now(UTC)) < timedelta(minutes=1)


async def test_a_service_client_is_refused_what_only_admins_may_do(atrium_service: Callable[[str], GraphQLClient]) -> None:
    with pytest.raises(GraphQLErrors) as raised:
        await atrium_service("retail").data(PLUGINS)

    assert raised.value.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_an_anonymous_client_has_no_token(atrium_anonymous: GraphQLClient) -> None:
    body = await atrium_anonymous.execute("{ formats { code } }")

    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


class TestChoosingThePlugins:
    @pytest.fixture
    def atrium_plugins(self) -> list[object]:
        return ["retail", ("spa", Spa())]

    async def test_names_load_installed_plugins_and_pairs_register_objects(
        self, atrium_admin: GraphQLClient, atrium_service: Callable[[str], GraphQLClient], atrium_member_factory: MemberFactory
    ) -> None:
        member = await atrium_member_factory()

        plugins = (await atrium_admin.data(PLUGINS))["plugins"]
        visit = await atrium_service("spa").mutate(
            VISIT, {"member": member.ref, "input": {"total": {"amount": "42.00", "currency": "CNY"}}}
        )

        assert [plugin["name"] for plugin in plugins] == ["retail", "spa"]
        assert visit == {"posting": {"points": 42}, "errors": []}


class TestChangingASetting:
    @pytest.fixture
    def atrium_plugins(self) -> list[object]:
        return [("spa", Spa())]

    @pytest.fixture
    def atrium_settings(self, atrium_settings: Settings) -> Settings:
        return atrium_settings.model_copy(update={"currency": "HKD"})

    async def test_an_overridden_setting_is_the_one_the_gateway_runs_with(
        self, atrium_service: Callable[[str], GraphQLClient], atrium_member_factory: MemberFactory
    ) -> None:
        member = await atrium_member_factory()

        visit = await atrium_service("spa").mutate(
            VISIT, {"member": member.ref, "input": {"total": {"amount": "42.00", "currency": "CNY"}}}
        )

        assert visit == {"posting": None, "errors": [{"code": "UNSUPPORTED_CURRENCY", "field": "input"}]}


async def test_a_plugin_that_cannot_start_fails_opening_the_gateway_with_the_start_up_error(tmp_path: Path) -> None:
    @strawberry.input(name="SpaVisitInput")
    class AnotherVisit:
        total: MoneyInput

    class Rival(Spa):
        @hookimpl
        def atrium_register_formats(self, register: Callable[[BusinessFormat], None]) -> None:
            register(BusinessFormat(code="wellness", name="Wellness"))

        @hookimpl
        def atrium_register_activity_kinds(self, register: Callable[[ActivityKind], None]) -> None:
            register(ActivityKind(format="wellness", name="visit", input_type=AnotherVisit, to_activity=lambda data: None))

        @hookimpl
        def atrium_register_earn_rules(self, register: Callable[[EarnRule], None]) -> None:
            """No rules."""

    from gateway.testing import migrate_sqlite

    url = migrate_sqlite(tmp_path / "clash.db")
    with pytest.raises(PluginLoadError, match="'SpaVisitInput' is contributed by both 'spa' and 'wellness'"):
        async with open_gateway(database_url=url, plugins=[("spa", Spa()), ("wellness", Rival())]):
            pass


@pytest.mark.parametrize("plugins", ["retail", [("retail",)], [42]])
def test_a_plugin_choice_that_is_neither_a_name_nor_a_pair_is_refused(plugins: object) -> None:
    with pytest.raises(TypeError):
        build_test_host(plugins)  # type: ignore[arg-type]
