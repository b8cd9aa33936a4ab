"""Over HTTP: admins run campaigns (others are refused), every change is audited, and previewEarn answers
what a purchase would earn, equal to what recording it then earns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway.settings import Settings
from tests.http.graphql import ENROL, PHONE, RETAIL_PURCHASE, Caller, caller, purchase

CAMPAIGN_FIELDS = """
  campaign {
    code name status stacking priority
    scope { formats minTier daysOfMonth birthdayMonth minAmount }
    reward { multiplier fixedBonus crossFormatBonus }
    budget { cap issued left }
    memberLimit { points period }
  }
  errors { code field message }
"""
CREATE = f"mutation Create($input: CampaignInput!) {{ createCampaign(input: $input) {{ {CAMPAIGN_FIELDS} }} }}"
UPDATE = f"mutation Update($input: CampaignInput!) {{ updateCampaign(input: $input) {{ {CAMPAIGN_FIELDS} }} }}"
END = f"mutation End($input: EndCampaignInput!) {{ endCampaign(input: $input) {{ {CAMPAIGN_FIELDS} }} }}"
CAMPAIGNS = "query Campaigns($all: Boolean!) { campaigns(includeEnded: $all) { code status budget { issued left } } }"
CHANGES = 'query { configChanges(entity: "campaign") { actor entity key before after reason } }'
PREVIEW = """
query Preview($member: MemberRefInput, $format: String!, $kind: String!, $input: JSON!) {
  previewEarn(member: $member, format: $format, kind: $kind, input: $input) {
    points available pending growth basePoints tierBonus campaignPoints balanceAfter
    tierBefore { code } tierAfter { code }
    lines { rule points growth reason }
    campaigns { code outcome points wanted multiplierBonus fixedBonus budgetLeft memberLimitLeft }
  }
}"""


def campaign_input(code: str = "flash", **overrides: Any) -> dict[str, Any]:
    """A campaign running from yesterday for ten days: double points plus 8, budget 1000, 30 per member."""
    now = datetime.now(UTC)
    value: dict[str, Any] = {
        "code": code,
        "name": "Flash sale",
        "startsAt": (now - timedelta(days=1)).isoformat(),
        "endsAt": (now + timedelta(days=10)).isoformat(),
        "scope": {"formats": ["retail"]},
        "reward": {"multiplier": "2", "fixedBonus": 8},
        "budget": 1000,
        "memberLimit": {"points": 30, "period": "CAMPAIGN"},
        "reason": "launch week",
    }
    value.update(overrides)
    return value


async def _callers(client: httpx.AsyncClient, settings: Settings) -> tuple[Caller, Caller, Caller, Caller]:
    retail = caller(client, settings, "service", format="retail")
    number = (await retail.mutate("enrol", ENROL, {"identity": PHONE}))["member"]["number"]
    member = caller(client, settings, "member", member_id=number)
    return caller(client, settings, "admin"), retail, caller(client, settings, "service", format="dining"), member


async def test_an_admin_creates_updates_and_ends_a_campaign_and_each_change_is_audited(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    admin, *_ = await _callers(client, settings)

    created = await admin.mutate("createCampaign", CREATE, {"input": campaign_input()})
    updated = await admin.mutate(
        "updateCampaign", UPDATE, {"input": campaign_input(reward={"multiplier": "1.5"}, scope={"minAmount": {"amount": "50.00", "currency": "CNY"}})}
    )
    ended = await admin.mutate("endCampaign", END, {"input": {"code": "flash", "reason": "sold out"}})

    assert created["errors"] == updated["errors"] == ended["errors"] == []
    assert created["campaign"] == {
        "code": "flash", "name": "Flash sale", "status": "RUNNING", "stacking": "STACKABLE", "priority": 0,
        "scope": {"formats": ["retail"], "minTier": None, "daysOfMonth": [], "birthdayMonth": False, "minAmount": None},
        "reward": {"multiplier": "2", "fixedBonus": 8, "crossFormatBonus": 0},
        "budget": {"cap": 1000, "issued": 0, "left": 1000},
        "memberLimit": {"points": 30, "period": "CAMPAIGN"},
    }
    assert updated["campaign"]["reward"] == {"multiplier": "1.5", "fixedBonus": 0, "crossFormatBonus": 0}
    assert updated["campaign"]["scope"]["minAmount"] == "50.00"
    assert ended["campaign"]["status"] == "ENDED"
    assert (await admin.data(CAMPAIGNS, {"all": False}))["campaigns"] == []
    assert [c["code"] for c in (await admin.data(CAMPAIGNS, {"all": True}))["campaigns"]] == ["flash"]
    changes = (await admin.data(CHANGES))["configChanges"]
    assert [(c["actor"], c["key"], c["reason"]) for c in changes] == [
        ("admin", "flash", "sold out"), ("admin", "flash", "launch week"), ("admin", "flash", "launch week"),
    ]
    assert changes[2]["before"] is None and changes[2]["after"]["reward"]["fixedBonus"] == 8
    assert changes[1]["before"]["reward"]["multiplier"] == "2" and changes[1]["after"]["reward"]["multiplier"] == "1.5"


@pytest.mark.parametrize("role", ["member", "retail", "dining"])
async def test_campaign_mutations_are_refused_to_non_admin_tokens_and_write_nothing(
    client: httpx.AsyncClient, settings: Settings, role: str
) -> None:
    admin, retail, dining, member = await _callers(client, settings)
    await admin.mutate("createCampaign", CREATE, {"input": campaign_input()})
    intruder = {"member": member, "retail": retail, "dining": dining}[role]

    refused = [
        await intruder.mutate("createCampaign", CREATE, {"input": campaign_input("other")}),
        await intruder.mutate("updateCampaign", UPDATE, {"input": campaign_input(budget=5000)}),
        await intruder.mutate("endCampaign", END, {"input": {"code": "flash"}}),
    ]

    assert [(p["campaign"], [e["code"] for e in p["errors"]]) for p in refused] == [(None, ["FORBIDDEN"])] * 3
    assert (await admin.data(CAMPAIGNS, {"all": True}))["campaigns"] == [
        {"code": "flash", "status": "RUNNING", "budget": {"issued": 0, "left": 1000}}
    ]
    assert len((await admin.data(CHANGES))["configChanges"]) == 1


async def test_members_cannot_list_campaigns_or_read_their_audit(client: httpx.AsyncClient, settings: Settings) -> None:
    *_, member = await _callers(client, settings)

    listing = await member.raw(CAMPAIGNS, {"all": True})
    audit = await member.raw(CHANGES)

    assert listing["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert audit["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_bad_campaign_input_is_invalid_config_naming_the_field(client: httpx.AsyncClient, settings: Settings) -> None:
    admin, *_ = await _callers(client, settings)

    bad_day = await admin.mutate("createCampaign", CREATE, {"input": campaign_input(scope={"daysOfMonth": [18, 40]})})
    bad_currency = await admin.mutate(
        "createCampaign", CREATE, {"input": campaign_input(scope={"minAmount": {"amount": "50.00", "currency": "USD"}})}
    )
    unknown = await admin.mutate("updateCampaign", UPDATE, {"input": campaign_input("nope")})

    assert [(e["code"], e["field"]) for e in bad_day["errors"]] == [("INVALID_CONFIG", "input.scope.daysOfMonth.1")]
    assert [(e["code"], e["field"]) for e in bad_currency["errors"]] == [("INVALID_CONFIG", "input.scope.minAmount.currency")]
    assert [(e["code"], e["field"]) for e in unknown["errors"]] == [("CONFIG_NOT_FOUND", "input.code")]
    assert (await admin.data(CAMPAIGNS, {"all": True}))["campaigns"] == []
    assert (await admin.data(CHANGES))["configChanges"] == []


async def test_preview_earn_says_what_the_purchase_then_earns(client: httpx.AsyncClient, settings: Settings) -> None:
    admin, retail, _, member = await _callers(client, settings)
    await admin.mutate("createCampaign", CREATE, {"input": campaign_input()})
    receipt = purchase(("A", "grocery", 1, "12.00"))

    by_till = (await retail.data(PREVIEW, {"member": {"identity": PHONE}, "format": "retail", "kind": "purchase", "input": receipt}))
    by_member = await member.data(PREVIEW, {"format": "retail", "kind": "purchase", "input": receipt})
    recorded = await retail.mutate("recordRetailPurchase", RETAIL_PURCHASE, {"member": {"identity": PHONE}, "key": "R-1", "input": receipt})

    preview = by_till["previewEarn"]
    assert preview == by_member["previewEarn"]
    # 12 base + min(12 doubled + 8 bonus, 30 per member) = 12 + 20
    assert preview["campaigns"] == [
        {"code": "flash", "outcome": "AWARDED", "points": 20, "wanted": 20, "multiplierBonus": 12, "fixedBonus": 8,
         "budgetLeft": 980, "memberLimitLeft": 10}
    ]
    assert (preview["points"], preview["basePoints"], preview["tierBonus"], preview["campaignPoints"]) == (32, 12, 0, 20)
    posting = recorded["posting"]
    assert [(line["rule"], line["points"], line["reason"]) for line in posting["lines"]] == [
        (line["rule"], line["points"], line["reason"]) for line in preview["lines"]
    ]
    assert (posting["points"], posting["balanceAfter"]) == (preview["points"], preview["balanceAfter"])
    after = (await retail.data(PREVIEW, {"member": {"identity": PHONE}, "format": "retail", "kind": "purchase", "input": receipt}))
    assert after["previewEarn"]["campaigns"] == [
        {"code": "flash", "outcome": "CAPPED_BY_MEMBER_LIMIT", "points": 10, "wanted": 20, "multiplierBonus": 12,
         "fixedBonus": 8, "budgetLeft": 970, "memberLimitLeft": 0}
    ]


async def test_preview_earn_is_refused_to_other_members_and_other_formats(client: httpx.AsyncClient, settings: Settings) -> None:
    _, retail, dining, _ = await _callers(client, settings)
    other = (await retail.mutate("enrol", ENROL, {"identity": {"kind": "PHONE", "value": "13900139000"}}))["member"]["number"]
    stranger = caller(client, settings, "member", member_id=other)
    variables = {"member": {"identity": PHONE}, "format": "retail", "kind": "purchase", "input": purchase(("A", "grocery", 1, "1.00"))}

    as_stranger = await stranger.raw(PREVIEW, variables)
    as_dining = await dining.raw(PREVIEW, variables)

    assert (as_stranger["errors"][0]["extensions"]["code"], as_stranger["errors"][0]["extensions"]["field"]) == ("FORBIDDEN", "member")
    assert (as_dining["errors"][0]["extensions"]["code"], as_dining["errors"][0]["extensions"]["field"]) == ("FORBIDDEN", "format")


async def test_preview_earn_checks_its_input_against_the_activitys_own_input_type(client: httpx.AsyncClient, settings: Settings) -> None:
    _, retail, _, _ = await _callers(client, settings)
    receipt = purchase(("A", "grocery", 1, "1.00"))
    receipt["items"][0]["quantity"] = "many"
    variables = {"member": {"identity": PHONE}, "format": "retail", "kind": "purchase", "input": receipt}

    wrong_type = await retail.raw(PREVIEW, variables)
    wrong_kind = await retail.raw(PREVIEW, variables | {"kind": "refill"})
    bad_amount = await retail.raw(PREVIEW, variables | {"input": purchase(("A", "grocery", 1, "1.005"))})

    assert wrong_type["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "input.items.0.quantity"}
    assert wrong_kind["errors"][0]["extensions"] == {"code": "UNKNOWN_FORMAT", "field": "kind"}
    assert bad_amount["errors"][0]["extensions"] == {"code": "INVALID_AMOUNT", "field": "input.items.0.unitPrice"}
