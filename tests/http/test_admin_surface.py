"""Issue 4 acceptance over HTTP: every admin mutation is refused to non-admin tokens, and each accepted change is audited.

The schema's root fields are classified below, each either ADMIN or NOT_ADMIN; a field in neither
fails :func:`test_every_root_field_of_the_schema_is_classified_admin_or_not`, so a new mutation
cannot escape this file. Each ADMIN mutation has a case: well-formed input over a small world
(members, a shared benefit, a campaign, a transfer price, changed retail settings), so that the
role is the only reason to refuse it. A member token (of the member concerned), a retail service
token and no token are refused with a typed error and nothing in the database changes; the same
request with an admin token succeeds and adds exactly one audit row naming the admin, and a
configuration change shows in ``configChanges`` with its entity, key, before and after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel

import gateway.persistence.tables  # noqa: F401 - every table in SQLModel.metadata
from gateway.core import Core
from gateway.persistence.models import audit_log_table
from gateway.settings import Settings
from tests.http.graphql import ENROL, RETAIL_PURCHASE, Caller, caller, purchase
from tests.tier_helpers import restore_ladder  # noqa: F401 - requested by the ladder case

# --- the classification --------------------------------------------------------------------------

ADMIN_MUTATIONS = frozenset({
    "freezeMember", "unfreezeMember", "adjustPoints", "mergeMembers", "eraseMember", "assignMemberTier",
    "createSharedBenefit", "updateSharedBenefit", "retireSharedBenefit",
    "createCampaign", "updateCampaign", "endCampaign",
    "setTransferPrice", "removeTransferPrice",
    "updatePluginSettings", "resetPluginSettings",
    "setTierLadder", "setTierPolicy",
    "closeSettlementPeriod",
})
"""Mutations only an admin token may call."""

NOT_ADMIN_MUTATIONS = frozenset({
    "enrol", "linkIdentity", "redeem", "refundActivity", "cancelRedemption",
    "placeHold", "captureHold", "voidHold", "applyPointsOffset",
    "useCoupon", "cancelCoupon", "useBenefit", "cancelBenefitUse",
    "recordRetailPurchase", "recordDiningBill", "recordPropertyFeePayment",
    "refundRetailPurchase", "refundDiningBill",
})
"""Mutations of tills (service tokens of the format) and members; admins may call them too."""

ADMIN_QUERIES = frozenset({
    "configChanges", "plugins", "sharedBenefits", "pluginSettings", "settlement", "transferPrices", "settlementDrift",
})
"""Query fields only an admin token may read."""

NOT_ADMIN_QUERIES = frozenset({
    "node", "me", "member", "formats", "tiers", "rewards", "pointsOffsetQuote", "coupon",
    "campaigns",  # admin and service tokens: tills show running campaigns
    "previewEarn", "tierPolicy",
})
"""Query fields members or tills may read."""

ROOT_FIELDS = """
{ __schema {
    queryType { fields { name description } }
    mutationType { fields { name description } }
} }"""

SAYS_ADMIN_ONLY = re.compile(r"\(admin (only|tokens)\b")


# --- the world the cases run in ------------------------------------------------------------------

PHONE_A = {"kind": "PHONE", "value": "13800138000"}
PHONE_B = {"kind": "PHONE", "value": "13900139000"}
PHONE_F = {"kind": "PHONE", "value": "13700137000"}
REASON = "admin surface test"
NOW = datetime.now(UTC).replace(microsecond=0)


def _campaign(code: str, **changes: Any) -> dict[str, Any]:
    """A CampaignInput running from yesterday for ten days: double points at retail, budget 1000."""
    value = {
        "code": code,
        "name": "Member day",
        "startsAt": (NOW - timedelta(days=1)).isoformat(),
        "endsAt": (NOW + timedelta(days=10)).isoformat(),
        "scope": {"formats": ["retail"]},
        "reward": {"multiplier": "2"},
        "budget": 1000,
        "reason": REASON,
    }
    return value | changes


@dataclass(frozen=True)
class World:
    """Member numbers: ``a`` bought something, ``b`` is a second record (to merge or erase), ``f`` is frozen."""

    a: int
    b: int
    f: int


def _input_mutation(field_name: str, input_type: str) -> str:
    return f"mutation Admin($input: {input_type}!) {{ {field_name}(input: $input) {{ errors {{ code field message }} }} }}"


async def _ok(who: Caller, field_name: str, input_type: str, value: dict[str, Any]) -> None:
    payload = await who.mutate(field_name, _input_mutation(field_name, input_type), {"input": value})
    assert payload["errors"] == [], payload


@pytest.fixture
async def world(client: httpx.AsyncClient, settings: Settings) -> World:
    """Three members and one of each configuration an admin mutation can change, all set up by an admin."""
    retail = caller(client, settings, "service", format="retail")
    admin = caller(client, settings, "admin")
    numbers = []
    for phone in (PHONE_A, PHONE_B, PHONE_F):
        enrolled = await retail.mutate("enrol", ENROL, {"identity": phone})
        assert enrolled["errors"] == []
        numbers.append(int(enrolled["member"]["number"]))
    bought = await retail.mutate(
        "recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": PHONE_A}, "key": "R-1", "input": purchase(("A", "grocery", 1, "300.00"))}
    )
    assert bought["errors"] == []
    await _ok(admin, "freezeMember", "FreezeMemberInput", {"member": {"identity": PHONE_F}, "reason": "set-up"})
    lounge = {"code": "lounge", "name": "Lounge access", "minTier": "gold", "quota": {"count": 2, "period": "MONTH"}, "reason": "set-up"}
    await _ok(admin, "createSharedBenefit", "CreateSharedBenefitInput", lounge)
    await _ok(admin, "createCampaign", "CampaignInput", _campaign("member_day", reason="set-up"))
    price = {"issuer": "retail", "redeemer": "dining", "pricePerPoint": "0.8", "reason": "set-up"}
    await _ok(admin, "setTransferPrice", "SetTransferPriceInput", price)
    settings_change = {"format": "retail", "values": {"return_window_days": 7}, "reason": "set-up"}
    await _ok(admin, "updatePluginSettings", "UpdatePluginSettingsInput", settings_change)
    return World(*numbers)


# --- the cases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberAction:
    """The audit row a change of a member by hand writes: its action and which member (a world attribute)."""

    action: str
    member: str


@dataclass(frozen=True)
class ConfigEdit:
    """The configuration change an admin mutation logs.

    ``before`` / ``after``: ``None`` when that side must be null (a creation, a removal), else fields
    it must hold. ``changed``: exactly the fields whose values differ between before and after.
    """

    entity: str
    key: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    changed: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AdminCase:
    """One admin mutation: its input type, well-formed input over the world (the reason added), and what it must log."""

    field: str
    input_type: str
    input: dict[str, Any]
    logs: MemberAction | ConfigEdit

    @property
    def document(self) -> str:
        return _input_mutation(self.field, self.input_type)

    @property
    def variables(self) -> dict[str, Any]:
        return {"input": self.input | {"reason": REASON}}


def _tiers(**changes: dict[str, Any]) -> list[dict[str, Any]]:
    """The seeded ladder as TierInput values, some fields changed."""
    ladder = [
        {"code": "member", "name": "Member", "rank": 0, "threshold": 0, "multiplier": "1"},
        {"code": "silver", "name": "Silver", "rank": 1, "threshold": 2000, "multiplier": "1.2"},
        {"code": "gold", "name": "Gold", "rank": 2, "threshold": 6000, "multiplier": "1.5"},
        {"code": "diamond", "name": "Diamond", "rank": 3, "threshold": 15000, "multiplier": "2"},
    ]
    return [tier | changes.get(tier["code"], {}) for tier in ladder]


CASES = (
    AdminCase("freezeMember", "FreezeMemberInput", {"member": {"identity": PHONE_A}}, MemberAction("freeze_member", "a")),
    AdminCase("unfreezeMember", "UnfreezeMemberInput", {"member": {"identity": PHONE_F}}, MemberAction("unfreeze_member", "f")),
    AdminCase(
        "adjustPoints",
        "AdjustPointsInput",
        {"member": {"identity": PHONE_A}, "points": -50, "idempotencyKey": "TICKET-7"},
        MemberAction("adjust_points", "a"),
    ),
    AdminCase(
        "mergeMembers",
        "MergeMembersInput",
        {"survivor": {"identity": PHONE_A}, "merged": {"identity": PHONE_B}},
        MemberAction("merge", "a"),
    ),
    AdminCase("eraseMember", "EraseMemberInput", {"member": {"identity": PHONE_B}}, MemberAction("erase_member", "b")),
    AdminCase(
        "assignMemberTier", "AssignMemberTierInput", {"member": {"identity": PHONE_A}, "tier": "gold"}, MemberAction("tier.assign", "a")
    ),
    AdminCase(
        "createSharedBenefit",
        "CreateSharedBenefitInput",
        {"code": "birthday_dessert", "name": "A birthday dessert", "minTier": "silver", "birthdayMonth": True, "formats": ["dining"]},
        ConfigEdit("benefit", "birthday_dessert", None, {"name": "A birthday dessert", "min_tier": "silver", "formats": ["dining"], "active": True}),
    ),
    AdminCase(
        "updateSharedBenefit",
        "UpdateSharedBenefitInput",
        {"code": "lounge", "quota": {"count": 4, "period": "MONTH"}},
        ConfigEdit("benefit", "lounge", {"quota": {"count": 2, "period": "month"}}, {"quota": {"count": 4, "period": "month"}}, frozenset({"quota"})),
    ),
    AdminCase(
        "retireSharedBenefit",
        "RetireSharedBenefitInput",
        {"code": "lounge"},
        ConfigEdit("benefit", "lounge", {"active": True}, {"active": False}, frozenset({"active"})),
    ),
    AdminCase(
        "createCampaign",
        "CampaignInput",
        _campaign("flash", name="Flash sale", budget=500),
        ConfigEdit("campaign", "flash", None, {"name": "Flash sale", "budgetCap": 500}),
    ),
    AdminCase(
        "updateCampaign",
        "CampaignInput",
        _campaign("member_day", budget=2500),
        ConfigEdit("campaign", "member_day", {"budgetCap": 1000}, {"budgetCap": 2500}, frozenset({"budgetCap"})),
    ),
    AdminCase(
        "endCampaign",
        "EndCampaignInput",
        {"code": "member_day"},
        ConfigEdit("campaign", "member_day", {"code": "member_day"}, {"code": "member_day"}, frozenset({"endsAt"})),
    ),
    AdminCase(
        "setTransferPrice",
        "SetTransferPriceInput",
        {"issuer": "retail", "redeemer": "dining", "pricePerPoint": "0.75"},
        ConfigEdit("transfer_price", "retail:dining", {"pricePerPoint": "0.8"}, {"pricePerPoint": "0.75"}, frozenset({"pricePerPoint"})),
    ),
    AdminCase(
        "removeTransferPrice",
        "RemoveTransferPriceInput",
        {"issuer": "retail", "redeemer": "dining"},
        ConfigEdit(  # a dated end of the override: from today the pair settles at the default
            "transfer_price", "retail:dining", {"issuer": "retail", "redeemer": "dining", "pricePerPoint": "0.8"},
            {"issuer": "retail", "redeemer": "dining", "pricePerPoint": None}, frozenset({"pricePerPoint"}),
        ),
    ),
    AdminCase(
        "updatePluginSettings",
        "UpdatePluginSettingsInput",
        {"format": "retail", "values": {"member_price_percent": 8}},
        ConfigEdit(
            "plugin_settings", "retail", {"return_window_days": 7}, {"return_window_days": 7, "member_price_percent": 8},
            frozenset({"member_price_percent"}),
        ),
    ),
    AdminCase(
        "resetPluginSettings",
        "ResetPluginSettingsInput",
        {"format": "retail", "fields": ["return_window_days"]},
        ConfigEdit("plugin_settings", "retail", {"return_window_days": 7}, {}, frozenset({"return_window_days"})),
    ),
    AdminCase(
        "setTierLadder",
        "SetTierLadderInput",
        {"tiers": _tiers(gold={"multiplier": "1.6"})},
        ConfigEdit("tier", "gold", {"multiplier": "1.5"}, {"multiplier": "1.6"}, frozenset({"multiplier"})),
    ),
    AdminCase(
        "setTierPolicy",
        "SetTierPolicyInput",
        {"graceMonths": 3},
        ConfigEdit("tier_policy", "policy", {"graceMonths": 0}, {"graceMonths": 3}, frozenset({"graceMonths"})),
    ),
    AdminCase(
        "closeSettlementPeriod",
        "CloseSettlementPeriodInput",
        {"from": "2025-01-01", "to": "2025-01-31"},  # long over: closable whatever day the test runs
        ConfigEdit("settlement_period", "2025-01-01..2025-01-31", None, {"from": "2025-01-01", "to": "2025-01-31"}),
    ),
)
"""Every ADMIN mutation, once: the test below checks no ADMIN mutation lacks a case."""

ADMIN_QUERY_DOCUMENTS = {
    "configChanges": "{ configChanges { id } }",
    "plugins": "{ plugins { name } }",
    "sharedBenefits": "{ sharedBenefits { id } }",
    "pluginSettings": '{ pluginSettings(format: "retail") { format } }',
    "settlement": '{ settlement(period: {from: "2026-11-01", to: "2026-11-30"}) { currency } }',
    "transferPrices": "{ transferPrices { defaultPricePerPoint } }",
    "settlementDrift": "{ settlementDrift { drifted } }",
}

REFUSED = [("member", "FORBIDDEN"), ("service", "FORBIDDEN"), (None, "UNAUTHENTICATED")]
"""Callers without an admin token, and the code each gets."""


def _non_admin(client: httpx.AsyncClient, settings: Settings, role: str | None, world: World) -> Caller:
    """A member token of member ``a`` (the member concerned), the retail till's token, or no token."""
    if role is None:
        return Caller(client, None)
    return caller(client, settings, role, member_id=world.a if role == "member" else None, format="retail" if role == "service" else None)


# --- reading the database ------------------------------------------------------------------------


async def every_row(core: Core) -> dict[str, list[str]]:
    """Every row of every table of the gateway, each table's rows in a stable order."""
    async with core.db.read() as conn:
        return {
            table.name: sorted(repr(tuple(row)) for row in (await conn.execute(select(table))).all())
            for table in SQLModel.metadata.sorted_tables
        }


async def last_audit_id(core: Core) -> int:
    async with core.db.read() as conn:
        return int(await conn.scalar(select(func.coalesce(func.max(audit_log_table.c.id), 0))))


async def audit_rows_after(core: Core, after_id: int) -> list[dict[str, Any]]:
    async with core.db.read() as conn:
        query = select(audit_log_table).where(audit_log_table.c.id > after_id).order_by(audit_log_table.c.id)
        return [dict(row) for row in (await conn.execute(query)).mappings().all()]


CHANGES = """
query Changes($entity: String) { configChanges(entity: $entity, first: 200) { id actor entity key before after reason } }"""


def _differing(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {name for name in set(before) | set(after) if before.get(name, ...) != after.get(name, ...)}


@pytest.fixture
def admin_changes_the_ladder(request: pytest.FixtureRequest) -> None:
    """Put the seeded ladder back after the case that changes it (the PostgreSQL ``tier`` table is shared)."""
    if "setTierLadder" in request.node.name:
        request.getfixturevalue("restore_ladder")


# --- the tests -----------------------------------------------------------------------------------


async def test_every_root_field_of_the_schema_is_classified_admin_or_not(client: httpx.AsyncClient) -> None:
    schema = (await Caller(client, None).data(ROOT_FIELDS))["__schema"]
    mutations = {item["name"]: item["description"] or "" for item in schema["mutationType"]["fields"]}
    queries = {item["name"]: item["description"] or "" for item in schema["queryType"]["fields"]}

    assert set(mutations) - ADMIN_MUTATIONS - NOT_ADMIN_MUTATIONS == set(), "classify every new mutation in this file"
    assert set(queries) - ADMIN_QUERIES - NOT_ADMIN_QUERIES == set(), "classify every new query field in this file"
    assert ADMIN_MUTATIONS & NOT_ADMIN_MUTATIONS == set() and ADMIN_QUERIES & NOT_ADMIN_QUERIES == set()
    assert (ADMIN_MUTATIONS | NOT_ADMIN_MUTATIONS) - set(mutations) == set(), "a classified mutation left the schema"
    assert (ADMIN_QUERIES | NOT_ADMIN_QUERIES) - set(queries) == set(), "a classified query field left the schema"
    assert {name for name, text in mutations.items() if SAYS_ADMIN_ONLY.search(text)} <= ADMIN_MUTATIONS
    assert {name for name, text in queries.items() if SAYS_ADMIN_ONLY.search(text)} <= ADMIN_QUERIES


def test_every_admin_mutation_has_a_case_and_every_admin_query_a_request() -> None:
    assert sorted(case.field for case in CASES) == sorted(ADMIN_MUTATIONS)
    assert set(ADMIN_QUERY_DOCUMENTS) == ADMIN_QUERIES


@pytest.mark.parametrize("case", CASES, ids=[case.field for case in CASES])
async def test_an_admin_mutation_is_refused_to_member_service_and_anonymous_callers_and_writes_nothing(
    client: httpx.AsyncClient, settings: Settings, core: Core, world: World, case: AdminCase
) -> None:
    before = await every_row(core)

    for role, code in REFUSED:
        payload = await _non_admin(client, settings, role, world).mutate(case.field, case.document, case.variables)
        assert [error["code"] for error in payload["errors"]] == [code], (role, payload)
        assert payload["errors"][0]["message"]

    assert await every_row(core) == before


@pytest.mark.parametrize("query", sorted(ADMIN_QUERIES))
async def test_an_admin_query_is_refused_to_member_service_and_anonymous_callers(
    client: httpx.AsyncClient, settings: Settings, world: World, query: str
) -> None:
    document = ADMIN_QUERY_DOCUMENTS[query]

    for role, code in REFUSED:
        body = await _non_admin(client, settings, role, world).raw(document)
        assert body["data"] is None, (role, body)
        assert [(error["extensions"]["code"], error["path"]) for error in body["errors"]] == [(code, [query])], role

    answered = await caller(client, settings, "admin").data(document)
    assert answered[query], "an admin gets an answer to the same request"


@pytest.mark.usefixtures("admin_changes_the_ladder")
@pytest.mark.parametrize("case", CASES, ids=[case.field for case in CASES])
async def test_an_admin_mutation_by_an_admin_is_in_the_audit_log_with_its_actor_and_reason(
    client: httpx.AsyncClient, settings: Settings, core: Core, world: World, case: AdminCase
) -> None:
    admin = caller(client, settings, "admin")
    last = await last_audit_id(core)

    payload = await admin.mutate(case.field, case.document, case.variables)

    assert payload["errors"] == []
    [row] = await audit_rows_after(core, last)
    assert (row["actor"], row["reason"]) == ("admin", REASON)
    if isinstance(case.logs, MemberAction):
        assert (row["action"], row["member_id"]) == (case.logs.action, getattr(world, case.logs.member))
    else:
        assert (row["action"], row["member_id"]) == (f"config.{case.logs.entity}", None)


@pytest.mark.usefixtures("admin_changes_the_ladder")
@pytest.mark.parametrize("case", [case for case in CASES if isinstance(case.logs, ConfigEdit)], ids=lambda case: case.field)
async def test_a_configuration_change_shows_in_config_changes_with_its_before_and_after(
    client: httpx.AsyncClient, settings: Settings, world: World, case: AdminCase
) -> None:
    admin = caller(client, settings, "admin")
    expected = case.logs
    assert isinstance(expected, ConfigEdit)
    earlier = (await admin.data(CHANGES, {"entity": expected.entity}))["configChanges"]

    assert (await admin.mutate(case.field, case.document, case.variables))["errors"] == []

    [change, *older] = (await admin.data(CHANGES, {"entity": expected.entity}))["configChanges"]
    assert older == earlier
    assert (change["entity"], change["key"], change["actor"], change["reason"]) == (expected.entity, expected.key, "admin", REASON)
    for side, wanted in (("before", expected.before), ("after", expected.after)):
        if wanted is None:
            assert change[side] is None, side
        else:
            assert change[side] == change[side] | wanted, side
    if change["before"] is not None and change["after"] is not None:
        assert _differing(change["before"], change["after"]) == expected.changed
    previous = [item for item in earlier if item["key"] == expected.key]
    if previous:
        assert change["before"] == previous[0]["after"], "the log is a continuous history of the key"
