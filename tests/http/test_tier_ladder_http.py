"""Over HTTP: upgrades in the request that crosses a threshold, progress and history, and the admins' ladder."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from gateway.core import Core
from gateway.settings import Settings
from tests.conftest import statements_of
from tests.helpers import snapshot
from tests.http.graphql import ENROL, PHONE, caller, purchase
from tests.tier_helpers import SEEDED, restore_ladder  # noqa: F401

PURCHASE = """
mutation Purchase($key: String!, $input: RetailPurchaseInput!) {
  recordRetailPurchase(member: {identity: {kind: PHONE, value: "13800138000"}}, idempotencyKey: $key, input: $input) {
    posting { points tierBefore tierAfter lines { rule points reason } }
    member {
      tier { code }
      tierProgress { growthValue growthToNext formats growthToKeep nextEvaluation graceUntil next { code } }
      tierHistory { source fromCode toCode from { name } to { name } qualifyingGrowth formats reason }
    }
    errors { code field message }
  }
}"""

SET_LADDER = """
mutation SetLadder($input: SetTierLadderInput!) {
  setTierLadder(input: $input) {
    tiers { code multiplier minFormats retentionThreshold }
    errors { code field message }
  }
}"""

SET_POLICY = """
mutation SetPolicy($input: SetTierPolicyInput!) {
  setTierPolicy(input: $input) { policy { windowMonths graceMonths downgrade schedule } errors { code field message } }
}"""

ASSIGN = """
mutation Assign($input: AssignMemberTierInput!) {
  assignMemberTier(input: $input) { member { tier { code } } errors { code field message } }
}"""

CHANGES = """
query Changes($entity: String) { configChanges(entity: $entity) { entity key actor before after reason } }"""

TIERS = "{ tiers { code threshold multiplier } }"


def _tiers(**changes: dict[str, Any]) -> list[dict[str, Any]]:
    """The seeded ladder as ``TierInput`` variables, some fields changed."""
    tiers = []
    for draft in SEEDED:
        tier = {"code": draft.code, "name": draft.name, "rank": draft.rank, "threshold": draft.threshold, "multiplier": draft.multiplier}
        tiers.append({**tier, **changes.get(draft.code, {})})
    return tiers


async def _enrol(client: httpx.AsyncClient, settings: Settings) -> int:
    retail = caller(client, settings, "service", format="retail")
    return int((await retail.mutate("enrol", ENROL, {"identity": PHONE}))["member"]["number"])


async def _buy(client: httpx.AsyncClient, settings: Settings, key: str, yuan: str) -> dict[str, Any]:
    retail = caller(client, settings, "service", format="retail")
    return await retail.mutate("recordRetailPurchase", PURCHASE, {"key": key, "input": purchase(("TEA", "grocery", 1, yuan))})


async def test_a_purchase_that_crosses_a_threshold_upgrades_the_member_in_the_same_request(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await _enrol(client, settings)

    below = await _buy(client, settings, "R-1", "1500.00")
    crossing = await _buy(client, settings, "R-2", "600.00")

    assert below["member"]["tier"] == {"code": "member"} and below["member"]["tierHistory"] == []
    assert (crossing["posting"]["tierBefore"], crossing["posting"]["tierAfter"]) == ("member", "silver")
    member = crossing["member"]
    assert member["tier"] == {"code": "silver"}
    assert member["tierHistory"] == [
        {
            "source": "EARN", "fromCode": "member", "toCode": "silver", "from": {"name": "Member"}, "to": {"name": "Silver"},
            "qualifyingGrowth": 2100, "formats": 1, "reason": "Up to Silver: 2,100 growth value in 1 format over 12 months",
        }
    ]
    progress = member["tierProgress"]
    assert (progress["growthValue"], progress["growthToNext"], progress["next"], progress["formats"]) == (2100, 3900, {"code": "gold"}, 1)
    assert (progress["growthToKeep"], progress["graceUntil"]) == (0, None)
    assert datetime.fromisoformat(progress["nextEvaluation"]).day == 1


@pytest.mark.parametrize("role", ["member", "service"])
async def test_every_tier_admin_mutation_is_forbidden_to_member_and_service_tokens(
    client: httpx.AsyncClient, settings: Settings, core: Core, role: str
) -> None:
    number = await _enrol(client, settings)
    other = caller(client, settings, role, member_id=number if role == "member" else None, format="retail" if role == "service" else None)
    before = await snapshot(core)

    ladder = await other.mutate("setTierLadder", SET_LADDER, {"input": {"tiers": _tiers(gold={"multiplier": "3"})}})
    policy = await other.mutate("setTierPolicy", SET_POLICY, {"input": {"graceMonths": 3}})
    assign = await other.mutate("assignMemberTier", ASSIGN, {"input": {"member": {"identity": PHONE}, "tier": "gold", "reason": "x"}})

    assert [p["errors"][0]["code"] for p in (ladder, policy, assign)] == ["FORBIDDEN"] * 3
    admin = caller(client, settings, "admin")
    assert (await admin.data(TIERS))["tiers"][2]["multiplier"] == "1.5"
    assert (await admin.data(CHANGES))["configChanges"] == []
    assert await snapshot(core) == before


@pytest.mark.usefixtures("restore_ladder")
async def test_each_accepted_change_is_in_the_audit_log_and_a_changed_multiplier_applies_on_the_next_earn(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await _enrol(client, settings)
    admin = caller(client, settings, "admin")
    first = await _buy(client, settings, "R-1", "2500.00")  # silver from here on
    silver_before = await _buy(client, settings, "R-2", "100.00")

    changed = await admin.mutate(
        "setTierLadder", SET_LADDER, {"input": {"tiers": _tiers(silver={"multiplier": "1.75"}), "reason": "spring promotion"}}
    )
    silver_after = await _buy(client, settings, "R-3", "100.00")
    policy = await admin.mutate("setTierPolicy", SET_POLICY, {"input": {"graceMonths": 2, "downgrade": "TO_QUALIFIED"}})

    assert first["posting"]["tierAfter"] == "silver" and changed["errors"] == []
    assert changed["tiers"][1] == {"code": "silver", "multiplier": "1.75", "minFormats": None, "retentionThreshold": 2000}
    assert (silver_before["posting"]["points"], silver_after["posting"]["points"]) == (120, 175)
    assert silver_after["posting"]["lines"][-1]["reason"] == "Silver tier ×1.75: +75 pts"
    assert policy == {
        "policy": {"windowMonths": 12, "graceMonths": 2, "downgrade": "TO_QUALIFIED", "schedule": "monthly on day 1"},
        "errors": [],
    }
    changes = (await admin.data(CHANGES))["configChanges"]
    assert [(c["entity"], c["key"], c["reason"]) for c in changes] == [("tier_policy", "policy", None), ("tier", "silver", "spring promotion")]
    assert (changes[1]["before"]["multiplier"], changes[1]["after"]["multiplier"]) == ("1.2", "1.75")
    assert changes[1]["actor"].startswith("admin")
    assert (changes[0]["before"]["graceMonths"], changes[0]["after"]["graceMonths"]) == (0, 2)


@pytest.mark.parametrize(
    ("tiers", "field", "words"),
    [
        (_tiers(member={"threshold": 100}), "input.tiers.0.threshold", "lowest tier starts at growth value 0"),
        (_tiers(gold={"threshold": 2000}), "input.tiers.2.threshold", "Thresholds increase with rank"),
        (_tiers(gold={"multiplier": "0.9"}), "input.tiers.2.multiplier", "from 1 to"),
        (_tiers(gold={"multiplier": "1.2345"}), "input.tiers.2.multiplier", "at most 3 decimals"),
        (_tiers(gold={"multiplier": "lots"}), "input.tiers.2.multiplier", "not a decimal"),
        (_tiers(gold={"rank": 1}), "input.tiers.2.rank", "appears twice"),
        (_tiers(gold={"code": "Gold!"}), "input.tiers.2.code", "lower-case"),
        (_tiers(gold={"retentionThreshold": 7000}), "input.tiers.2.retentionThreshold", "0 to the tier's threshold"),
        (_tiers(member={"minFormats": 2}), "input.tiers.0.minFormats", "no breadth rule"),
        ([], "input.tiers", "1 to 20 tiers"),
        (_tiers()[:2], "input.tiers", "member is in Gold"),
        ([t for t in _tiers() if t["code"] != "silver"], "input.tiers", "needs tier Silver"),
    ],
    ids=["lowest-not-zero", "not-increasing", "multiplier-below-1", "four-decimals", "not-a-number", "same-rank", "bad-code",
         "retention-above-threshold", "breadth-on-lowest", "empty", "members-in-a-removed-tier",
         "a-tier-a-plugin-needs"],
)
async def test_an_invalid_ladder_is_refused_with_the_field_at_fault_and_writes_nothing(
    client: httpx.AsyncClient, settings: Settings, core: Core, tiers: list[dict[str, Any]], field: str, words: str
) -> None:
    await _enrol(client, settings)
    admin = caller(client, settings, "admin")
    await admin.mutate("assignMemberTier", ASSIGN, {"input": {"member": {"identity": PHONE}, "tier": "gold", "reason": "VIP"}})
    before, ladder_before = await snapshot(core), await admin.data(TIERS)

    payload = await admin.mutate("setTierLadder", SET_LADDER, {"input": {"tiers": tiers}})

    assert payload["tiers"] is None
    [error] = payload["errors"]
    assert (error["code"], error["field"]) == ("INVALID_CONFIG", field)
    assert words in error["message"]
    assert await admin.data(TIERS) == ladder_before
    assert (await admin.data(CHANGES, {"entity": "tier"}))["configChanges"] == []
    assert await snapshot(core) == before


@pytest.mark.usefixtures("restore_ladder")
async def test_a_tier_nobody_is_in_can_be_removed_and_added_back(client: httpx.AsyncClient, settings: Settings) -> None:
    admin = caller(client, settings, "admin")

    removed = await admin.mutate("setTierLadder", SET_LADDER, {"input": {"tiers": _tiers()[:3]}})
    added = await admin.mutate("setTierLadder", SET_LADDER, {"input": {"tiers": _tiers(diamond={"minFormats": 2})}})

    assert [t["code"] for t in removed["tiers"]] == ["member", "silver", "gold"]
    assert added["tiers"][3] == {"code": "diamond", "multiplier": "2", "minFormats": 2, "retentionThreshold": 15000}
    changes = (await admin.data(CHANGES, {"entity": "tier"}))["configChanges"]
    assert [(c["key"], c["before"] is None, c["after"] is None) for c in changes] == [("diamond", True, False), ("diamond", False, True)]


async def test_an_invalid_policy_is_refused_with_the_field_at_fault(client: httpx.AsyncClient, settings: Settings) -> None:
    admin = caller(client, settings, "admin")

    payload = await admin.mutate("setTierPolicy", SET_POLICY, {"input": {"evaluationEveryMonths": 5}})

    assert payload["errors"] == [
        {"code": "INVALID_CONFIG", "field": "input.evaluationEveryMonths", "message": "Evaluations run every 1, 2, 3, 4, 6, 12 months."}
    ]
    assert (await admin.data("{ tierPolicy { evaluationEveryMonths } }"))["tierPolicy"] == {"evaluationEveryMonths": 1}


async def test_an_admin_assigns_a_tier_with_a_reason_and_the_member_sees_it_in_its_history(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    number = await _enrol(client, settings)
    admin = caller(client, settings, "admin")

    assigned = await admin.mutate("assignMemberTier", ASSIGN, {"input": {"member": {"identity": PHONE}, "tier": "gold", "reason": "VIP guest"}})
    unknown = await admin.mutate("assignMemberTier", ASSIGN, {"input": {"member": {"identity": PHONE}, "tier": "platinum", "reason": "x"}})

    assert assigned == {"member": {"tier": {"code": "gold"}}, "errors": []}
    assert (unknown["errors"][0]["code"], unknown["errors"][0]["field"]) == ("INVALID_INPUT", "input.tier")
    member = caller(client, settings, "member", member_id=number)
    history = (await member.data("{ me { tierHistory { source toCode reason } } }"))["me"]["tierHistory"]
    assert history == [{"source": "ADMIN", "toCode": "gold", "reason": "VIP guest"}]


@pytest.mark.usefixtures("restore_ladder")
async def test_the_ladder_is_read_from_the_cache_without_sql_and_read_again_after_a_change(
    client: httpx.AsyncClient, settings: Settings, core: Core
) -> None:
    member = caller(client, settings, "admin")
    await core.cache.clear()

    with statements_of(core) as cold:
        await member.data(TIERS)
    with statements_of(core) as warm:
        await member.data(TIERS)
    await member.mutate("setTierLadder", SET_LADDER, {"input": {"tiers": _tiers(diamond={"multiplier": "2.5"})}})
    with statements_of(core) as changed:
        tiers = (await member.data(TIERS))["tiers"]
    with statements_of(core) as warm_again:
        await member.data(TIERS)

    assert (len(cold), len(warm), len(changed), len(warm_again)) == (2, 0, 0, 0)  # the mutation reloaded it for everybody
    assert tiers[3]["multiplier"] == "2.5"
