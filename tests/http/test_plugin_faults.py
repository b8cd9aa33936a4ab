"""Fault isolation: what a plugin's exception does to a request, over HTTP, on both databases.

A plugin that raises while the gateway computes a posting (reading the activity, an earn rule,
fulfilling a reward) fails that request with ``PLUGIN_FAILED`` naming the plugin, and writes
nothing: every table of the database is compared before and after. A plugin that raises when told
of a committed posting or tier change is logged, and the posting stands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import strawberry
from sqlalchemy import inspect, select, table, text

from gateway.app import create_app
from gateway.core import Core, build_host, open_core
from gateway.errors import PluginLoadError
from gateway.plugin_api import (
    ActivityDraft,
    ActivityKind,
    BusinessFormat,
    EarnLine,
    EarnRule,
    Fulfilment,
    MoneyInput,
    PostingEvent,
    RedemptionType,
    TierChange,
    hookimpl,
    points_for,
)
from gateway.settings import Settings
from tests.http.graphql import ENROL, PHONE, REDEEM, caller


@strawberry.input(description="A spa visit.")
class SpaVisitInput:
    total: MoneyInput


class Spa:
    """A format whose reading of a visit, earn rule or reward fulfilment raises on demand.

    ``fault`` names the step that fails: ``to_activity``, ``earn_rule``, ``bad_line`` (a rule
    returning something that is not an EarnLine) or ``fulfil``; ``None`` for none.
    """

    def __init__(self) -> None:
        self.fault: str | None = None

    def _raise_if(self, step: str) -> None:
        if self.fault == step:
            raise RuntimeError(f"spa {step} is broken")

    def to_activity(self, data: SpaVisitInput) -> ActivityDraft:
        self._raise_if("to_activity")
        return ActivityDraft(amount=data.total.to_money(field="total"))

    def one_point_per_yuan(self, activity: Any, member: Any) -> Any:
        self._raise_if("earn_rule")
        if self.fault == "bad_line":
            return {"points": 10}
        points = points_for(activity.amount, 1)
        return EarnLine(points, points, "1 pt per CN¥1")

    def fulfil(self, request: Any) -> Fulfilment:
        self._raise_if("fulfil")
        return Fulfilment("A massage")

    @hookimpl
    def atrium_register_formats(self, register: Callable[[BusinessFormat], None]) -> None:
        register(BusinessFormat(code="spa", name="Spa"))

    @hookimpl
    def atrium_register_activity_kinds(self, register: Callable[[ActivityKind], None]) -> None:
        register(ActivityKind(format="spa", name="visit", input_type=SpaVisitInput, to_activity=self.to_activity))

    @hookimpl
    def atrium_register_earn_rules(self, register: Callable[[EarnRule], None]) -> None:
        register(EarnRule(format="spa", code="per_yuan", description="1 pt per CN¥1", compute=self.one_point_per_yuan))

    @hookimpl
    def atrium_register_redemption_types(self, register: Callable[[RedemptionType], None]) -> None:
        register(
            RedemptionType(format="spa", code="massage", name="Massage", description="", points=100, fulfil=self.fulfil)
        )


class BrokenListener:
    """Raises in both notification hooks, as a plugin whose CRM is down would."""

    @hookimpl
    def atrium_posting_committed(self, event: PostingEvent) -> None:
        raise ConnectionError("crm is down")

    @hookimpl
    def atrium_tier_changed(self, change: TierChange) -> None:
        raise ConnectionError("crm is down")


class Listener:
    """Records what it is told, to show the hooks after a broken one still run."""

    def __init__(self) -> None:
        self.postings: list[PostingEvent] = []
        self.tier_changes: list[TierChange] = []

    @hookimpl
    def atrium_posting_committed(self, event: PostingEvent) -> None:
        self.postings.append(event)

    @hookimpl
    def atrium_tier_changed(self, change: TierChange) -> None:
        self.tier_changes.append(change)


@pytest.fixture
def spa() -> Spa:
    return Spa()


@pytest.fixture
def listener() -> Listener:
    return Listener()


@pytest.fixture
def extra_plugins(spa: Spa, listener: Listener) -> list[tuple[str, object]]:
    # "a-broken" sorts first: the listener after it must still be told.
    return [("a-broken", BrokenListener()), ("spa", spa), ("z-listener", listener)]


VISIT = """
mutation Visit($member: MemberRefInput!, $key: String!, $input: SpaVisitInput!) {
  recordSpaVisit(member: $member, idempotencyKey: $key, input: $input) {
    posting { id points } member { pointsBalance tier { code } } errors { code field message }
  }
}"""

BALANCE = "query Balance($identity: IdentityInput!) { member(identity: $identity) { pointsBalance tier { code } } }"


def visit(key: str, amount: str) -> dict[str, Any]:
    return {"member": {"identity": PHONE}, "key": key, "input": {"total": {"amount": amount, "currency": "CNY"}}}


async def snapshot(core: Core) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the core's database, sorted: what "writes nothing" is checked against."""
    async with core.db.read() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        rows = {}
        for name in sorted(names):
            result = await conn.execute(select(text("*")).select_from(table(name)))
            rows[name] = sorted((tuple(row) for row in result), key=repr)
    assert "posting" in rows and "member" in rows, sorted(rows)
    return rows


@pytest.mark.parametrize("fault", ["to_activity", "earn_rule", "bad_line"])
async def test_a_plugin_failing_while_computing_points_fails_the_request_naming_it_and_writes_nothing(
    client: httpx.AsyncClient, settings: Settings, core: Core, spa: Spa, fault: str
) -> None:
    till = caller(client, settings, "service", format="spa")
    await till.mutate("enrol", ENROL, {"identity": PHONE})
    earned = await till.mutate("recordSpaVisit", VISIT, visit("V-1", "50.00"))
    assert earned["errors"] == [] and earned["posting"]["points"] == 50
    before = await snapshot(core)

    spa.fault = fault
    failed = await till.mutate("recordSpaVisit", VISIT, visit("V-2", "80.00"))

    assert failed["posting"] is None and failed["member"] is None
    [error] = failed["errors"]
    assert error["code"] == "PLUGIN_FAILED"
    assert "'spa'" in error["message"]
    assert await snapshot(core) == before


async def test_a_plugin_failing_while_computing_points_can_be_retried_with_the_same_key(
    client: httpx.AsyncClient, settings: Settings, spa: Spa
) -> None:
    till = caller(client, settings, "service", format="spa")
    await till.mutate("enrol", ENROL, {"identity": PHONE})
    spa.fault = "earn_rule"
    assert (await till.mutate("recordSpaVisit", VISIT, visit("V-1", "80.00")))["errors"][0]["code"] == "PLUGIN_FAILED"

    spa.fault = None
    retried = await till.mutate("recordSpaVisit", VISIT, visit("V-1", "80.00"))

    assert retried["errors"] == [] and retried["member"]["pointsBalance"] == 80


async def test_a_plugin_failing_to_fulfil_a_reward_fails_the_redemption_naming_it_and_writes_nothing(
    client: httpx.AsyncClient, settings: Settings, core: Core, spa: Spa
) -> None:
    till = caller(client, settings, "service", format="spa")
    await till.mutate("enrol", ENROL, {"identity": PHONE})
    await till.mutate("recordSpaVisit", VISIT, visit("V-1", "500.00"))
    before = await snapshot(core)

    spa.fault = "fulfil"
    failed = await till.mutate(
        "redeem", REDEEM, {"input": {"member": {"identity": PHONE}, "format": "spa", "reward": "massage", "idempotencyKey": "M-1"}}
    )

    assert failed["posting"] is None
    [error] = failed["errors"]
    assert error["code"] == "PLUGIN_FAILED" and "'spa'" in error["message"]
    assert await snapshot(core) == before


async def test_a_plugin_raising_when_told_of_a_posting_is_logged_and_the_posting_stands(
    client: httpx.AsyncClient, settings: Settings, listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    till = caller(client, settings, "service", format="spa")
    await till.mutate("enrol", ENROL, {"identity": PHONE})

    earned = await till.mutate("recordSpaVisit", VISIT, visit("V-1", "120.00"))

    assert earned["errors"] == [] and earned["member"]["pointsBalance"] == 120
    assert (await till.data(BALANCE, {"identity": PHONE}))["member"]["pointsBalance"] == 120
    assert "plugin 'a-broken' raised in atrium_posting_committed; the posting stands" in caplog.text
    assert "crm is down" in caplog.text
    assert [(event.kind, event.format, event.points) for event in listener.postings] == [("earn", "spa", 120)]


async def test_a_plugin_raising_when_told_of_a_tier_change_is_logged_and_the_upgrade_stands(
    client: httpx.AsyncClient, settings: Settings, listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    till = caller(client, settings, "service", format="spa")
    await till.mutate("enrol", ENROL, {"identity": PHONE})

    earned = await till.mutate("recordSpaVisit", VISIT, visit("V-1", "2500.00"))

    assert earned["errors"] == [] and earned["member"]["tier"] == {"code": "silver"}
    assert (await till.data(BALANCE, {"identity": PHONE}))["member"]["tier"] == {"code": "silver"}
    assert "plugin 'a-broken' raised in atrium_tier_changed" in caplog.text
    assert [(change.previous.code, change.current.code) for change in listener.tier_changes] == [("member", "silver")]


# --- one GraphQL name from two plugins -----------------------------------------------------------


@strawberry.type(name="WellnessDetails", description="The spa's view of a visit.")
class SpaWellnessDetails:
    summary: str


@strawberry.type(name="WellnessDetails", description="The gym's view of a visit.")
class GymWellnessDetails:
    summary: str
    minutes: int


class Contributes:
    """A format that contributes one GraphQL type through ``atrium_register_graphql_types``."""

    def __init__(self, code: str, graphql_type: type) -> None:
        self.code = code
        self.graphql_type = graphql_type

    @hookimpl
    def atrium_register_formats(self, register: Callable[[BusinessFormat], None]) -> None:
        register(BusinessFormat(code=self.code, name=self.code.title()))

    @hookimpl
    def atrium_register_graphql_types(self, register: Callable[[type], None]) -> None:
        register(self.graphql_type)


@pytest.mark.parametrize(
    ("plugins", "message"),
    [
        (
            [("spa", Contributes("spa", SpaWellnessDetails)), ("gym", Contributes("gym", GymWellnessDetails))],
            "GraphQL type 'WellnessDetails' is contributed by both 'gym' and 'spa'",
        ),
        (
            [("spa", Spa()), ("spa-copy", Contributes("sauna", SpaVisitInput))],
            "GraphQL type 'SpaVisitInput' is contributed by both 'spa' and 'spa-copy'",
        ),
    ],
    ids=["registered-types", "activity-input-and-registered-type"],
)
async def test_two_plugins_contributing_one_graphql_name_fail_start_up_naming_both(
    settings: Settings, plugins: list[tuple[str, object]], message: str
) -> None:
    core = await open_core(settings, build_host(settings, plugins, load_entry_points=False))
    try:
        with pytest.raises(PluginLoadError) as raised:
            create_app(core)
    finally:
        await core.close()

    assert str(raised.value) == message
