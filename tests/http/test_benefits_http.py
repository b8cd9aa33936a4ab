"""Over HTTP: admins define shared benefits, tills and members use them, and the wall shows every benefit of every format."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from gateway.core import Core
from gateway.persistence.benefit_tables import benefit_use_table, shared_benefit_table
from gateway.persistence.models import audit_log_table, member_table
from gateway.settings import Settings
from tests.conftest import statements_of
from tests.http.graphql import PHONE, Caller, caller

ENROL_BORN = """
mutation Enrol($identity: IdentityInput!, $born: Date) {
  enrol(input: {identity: $identity, birthDate: $born}) { member { number } errors { code field message } }
}"""

CREATE = """
mutation Create($input: CreateSharedBenefitInput!) {
  createSharedBenefit(input: $input) {
    benefit { id format { code } minTier { code } quota { count period } usableIn { code } anyFormat birthdayMonth active }
    errors { code field message }
  }
}"""

UPDATE = """
mutation Update($input: UpdateSharedBenefitInput!) {
  updateSharedBenefit(input: $input) { benefit { id quota { count period } usableIn { code } active } errors { code field message } }
}"""

RETIRE = """
mutation Retire($input: RetireSharedBenefitInput!) {
  retireSharedBenefit(input: $input) { benefit { id active } errors { code field message } }
}"""

USE = """
mutation Use($input: UseBenefitInput!) {
  useBenefit(input: $input) {
    use { number benefit format quantity usedInPeriod remainingInPeriod resetsAt replayed }
    member { number }
    errors { code field message }
  }
}"""

CANCEL = """
mutation Cancel($input: CancelBenefitUseInput!) {
  cancelBenefitUse(input: $input) { use { number cancelledAt replayed } errors { code field message } }
}"""

WALL = """
query Wall {
  me {
    benefits {
      unlocked lockedReason lockedMessage unlockedBy { code }
      benefit { id shared format { code } }
      usage { count period used remaining resetsAt }
    }
  }
}"""

SHARED = "query Shared($retired: Boolean!) { sharedBenefits(includeRetired: $retired) { id active } }"
CHANGES = 'query { configChanges(entity: "benefit") { actor key before after reason } }'

PARKING = {"code": "parking_2h", "name": "2 free parking hours", "minTier": "gold", "quota": {"count": 2, "period": "MONTH"}, "formats": ["property"]}


async def enrol(client: httpx.AsyncClient, settings: Settings, phone: str, born: str | None = None) -> int:
    retail = caller(client, settings, "service", format="retail")
    payload = await retail.mutate("enrol", ENROL_BORN, {"identity": {"kind": "PHONE", "value": phone}, "born": born})
    assert payload["errors"] == []
    return int(payload["member"]["number"])


async def set_tier(core: Core, number: int, tier: str) -> None:
    async with core.db.write() as conn:
        await conn.execute(update(member_table).where(member_table.c.id == number).values(tier_code=tier))


def wall_entry(wall: list[dict[str, Any]], benefit_id: str) -> dict[str, Any]:
    [entry] = [item for item in wall if item["benefit"]["id"] == benefit_id]
    return entry


async def use(who: Caller, **input: Any) -> dict[str, Any]:
    return await who.mutate("useBenefit", USE, {"input": input})


def next_month_start() -> str:
    now = datetime.now(UTC)
    first = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return first.isoformat()


async def test_the_wall_lists_plugin_and_shared_benefits_locked_or_unlocked_with_usage(
    client: httpx.AsyncClient, settings: Settings, core: Core
) -> None:
    admin = caller(client, settings, "admin")
    this_month = datetime.now(UTC).month
    number = await enrol(client, settings, "13800138000", born=f"1990-{this_month:02d}-15")
    await set_tier(core, number, "silver")
    assert (await admin.mutate("createSharedBenefit", CREATE, {"input": PARKING}))["errors"] == []
    dessert = {"code": "birthday_dessert", "name": "Birthday dessert", "minTier": "member", "birthdayMonth": True, "formats": ["dining"]}
    assert (await admin.mutate("createSharedBenefit", CREATE, {"input": dessert}))["errors"] == []

    wall = (await caller(client, settings, "member", member_id=number).data(WALL))["me"]["benefits"]

    assert {item["benefit"]["id"] for item in wall} == {
        "retail.member_price", "dining.priority_queue", "dining.birthday_dessert", "property.maintenance_priority",
        "group.parking_2h", "group.birthday_dessert",
    }
    assert wall_entry(wall, "group.birthday_dessert") | {"usage": None} == {
        "unlocked": True, "lockedReason": None, "lockedMessage": None, "unlockedBy": {"code": "member"},
        "benefit": {"id": "group.birthday_dessert", "shared": True, "format": {"code": "group"}}, "usage": None,
    }
    assert wall_entry(wall, "retail.member_price")["unlocked"] is True
    parking = wall_entry(wall, "group.parking_2h")
    assert (parking["unlocked"], parking["lockedReason"], parking["unlockedBy"]) == (False, "TIER_TOO_LOW", {"code": "gold"})
    assert "needs Gold tier" in parking["lockedMessage"]
    assert parking["usage"] == {"count": 2, "period": "month", "used": 0, "remaining": 2, "resetsAt": next_month_start()}
    assert wall_entry(wall, "property.maintenance_priority")["usage"]["period"] == "year"
    assert [item["unlockedBy"]["code"] for item in wall] == ["member", "member", "silver", "gold", "gold", "gold"]


async def test_a_birthday_benefit_is_locked_on_the_wall_outside_the_birth_month(client: httpx.AsyncClient, settings: Settings) -> None:
    admin = caller(client, settings, "admin")
    other_month = datetime.now(UTC).month % 12 + 1
    number = await enrol(client, settings, "13800138000", born=f"1990-{other_month:02d}-15")
    dessert = {"code": "birthday_dessert", "name": "Birthday dessert", "minTier": "member", "birthdayMonth": True}
    await admin.mutate("createSharedBenefit", CREATE, {"input": dessert})
    wall = (await caller(client, settings, "member", member_id=number).data(WALL))["me"]["benefits"]
    assert wall_entry(wall, "group.birthday_dessert")["lockedReason"] == "NOT_BIRTHDAY_MONTH"


async def test_a_property_till_uses_parking_and_the_wall_shows_what_is_left(
    client: httpx.AsyncClient, settings: Settings, core: Core
) -> None:
    admin = caller(client, settings, "admin")
    property_till = caller(client, settings, "service", format="property")
    number = await enrol(client, settings, "13800138000")
    await set_tier(core, number, "gold")
    await admin.mutate("createSharedBenefit", CREATE, {"input": PARKING})

    first = await use(property_till, member={"identity": PHONE}, benefit="group.parking_2h", idempotencyKey="GATE-1")
    assert first["errors"] == []
    assert first["use"] | {"number": 0} == {
        "number": 0, "benefit": "group.parking_2h", "format": "property", "quantity": 1, "usedInPeriod": 1,
        "remainingInPeriod": 1, "resetsAt": next_month_start(), "replayed": False,
    }
    replay = await use(property_till, member={"identity": PHONE}, benefit="group.parking_2h", idempotencyKey="GATE-1")
    assert replay["use"]["replayed"] and replay["use"]["number"] == first["use"]["number"]
    await use(property_till, member={"identity": PHONE}, benefit="group.parking_2h", idempotencyKey="GATE-2")
    refused = await use(property_till, member={"identity": PHONE}, benefit="group.parking_2h", idempotencyKey="GATE-3")
    assert refused["use"] is None
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("QUOTA_EXCEEDED", "input.quantity")]
    assert "2 of 2 used this month, 0 left" in refused["errors"][0]["message"]

    cancelled = await property_till.mutate("cancelBenefitUse", CANCEL, {"input": {"idempotencyKey": "GATE-2"}})
    assert cancelled["errors"] == [] and cancelled["use"]["cancelledAt"] is not None
    wall = (await caller(client, settings, "member", member_id=number).data(WALL))["me"]["benefits"]
    assert wall_entry(wall, "group.parking_2h")["usage"] | {"resetsAt": None} == {
        "count": 2, "period": "month", "used": 1, "remaining": 1, "resetsAt": None
    }


async def test_a_till_cannot_use_a_benefit_outside_the_formats_it_is_valid_in(
    client: httpx.AsyncClient, settings: Settings, core: Core
) -> None:
    number = await enrol(client, settings, "13800138000")
    await set_tier(core, number, "gold")
    await caller(client, settings, "admin").mutate("createSharedBenefit", CREATE, {"input": PARKING})
    dining = caller(client, settings, "service", format="dining")

    locked = await use(dining, member={"identity": PHONE}, benefit="group.parking_2h", idempotencyKey="T-1")
    other = await use(dining, member={"identity": PHONE}, benefit="group.parking_2h", idempotencyKey="T-2", format="property")

    assert [(e["code"], e["field"]) for e in locked["errors"]] == [("BENEFIT_LOCKED", "input.format")]
    assert [(e["code"], e["field"]) for e in other["errors"]] == [("FORBIDDEN", "input.format")]


async def test_a_member_uses_its_own_benefit_but_not_another_members(
    client: httpx.AsyncClient, settings: Settings, core: Core
) -> None:
    number = await enrol(client, settings, "13800138000")
    other = await enrol(client, settings, "13900139000")
    await set_tier(core, number, "gold")
    await caller(client, settings, "admin").mutate("createSharedBenefit", CREATE, {"input": PARKING})
    member = caller(client, settings, "member", member_id=number)

    own = await use(member, benefit="group.parking_2h", idempotencyKey="APP-1")
    theirs = await use(member, member={"id": _global_id(other)}, benefit="group.parking_2h", idempotencyKey="APP-2")

    assert own["errors"] == [] and own["use"]["format"] == "property" and own["member"] == {"number": number}
    assert [e["code"] for e in theirs["errors"]] == ["FORBIDDEN"]


def _global_id(number: int) -> str:
    from strawberry.relay import to_base64

    return to_base64("Member", number)


async def test_admin_changes_are_validated_and_each_accepted_one_is_in_the_audit_log(client: httpx.AsyncClient, settings: Settings) -> None:
    admin = caller(client, settings, "admin")
    bad = await admin.mutate("createSharedBenefit", CREATE, {"input": PARKING | {"minTier": "platinum"}})
    assert bad["benefit"] is None
    assert [(e["code"], e["field"]) for e in bad["errors"]] == [("INVALID_CONFIG", "input.minTier")]

    created = await admin.mutate("createSharedBenefit", CREATE, {"input": PARKING | {"reason": "new perk"}})
    assert created["benefit"] == {
        "id": "group.parking_2h", "format": {"code": "group"}, "minTier": {"code": "gold"}, "quota": {"count": 2, "period": "month"},
        "usableIn": [{"code": "property"}], "anyFormat": False, "birthdayMonth": False, "active": True,
    }
    updated = await admin.mutate("updateSharedBenefit", UPDATE, {"input": {"code": "parking_2h", "formats": [], "quota": None}})
    assert updated["benefit"]["quota"] is None and {f["code"] for f in updated["benefit"]["usableIn"]} == {"retail", "dining", "property"}
    retired = await admin.mutate("retireSharedBenefit", RETIRE, {"input": {"code": "parking_2h", "reason": "car park closed"}})
    assert retired["benefit"] == {"id": "group.parking_2h", "active": False}
    missing = await admin.mutate("retireSharedBenefit", RETIRE, {"input": {"code": "nothing"}})
    assert [(e["code"], e["field"]) for e in missing["errors"]] == [("CONFIG_NOT_FOUND", "input.code")]

    changes = (await admin.data(CHANGES))["configChanges"]
    assert [(c["key"], c["reason"], c["before"] is None, c["after"]["active"]) for c in changes] == [
        ("parking_2h", "car park closed", False, False),
        ("parking_2h", None, False, True),
        ("parking_2h", "new perk", True, True),
    ]
    assert (await admin.data(SHARED, {"retired": False}))["sharedBenefits"] == []
    assert (await admin.data(SHARED, {"retired": True}))["sharedBenefits"] == [{"id": "group.parking_2h", "active": False}]


ADMIN_MUTATIONS = [
    ("createSharedBenefit", CREATE, {"input": PARKING}),
    ("updateSharedBenefit", UPDATE, {"input": {"code": "parking_2h", "name": "Parking"}}),
    ("retireSharedBenefit", RETIRE, {"input": {"code": "parking_2h"}}),
]


@pytest.mark.parametrize(("field", "query", "variables"), ADMIN_MUTATIONS, ids=[m[0] for m in ADMIN_MUTATIONS])
@pytest.mark.parametrize("role", ["member", "service"])
async def test_admin_benefit_mutations_are_forbidden_to_member_and_service_tokens(
    client: httpx.AsyncClient, settings: Settings, core: Core, role: str, field: str, query: str, variables: dict[str, Any]
) -> None:
    number = await enrol(client, settings, "13800138000")
    await caller(client, settings, "admin").mutate("createSharedBenefit", CREATE, {"input": PARKING | {"code": "existing"}})
    who = caller(client, settings, role, member_id=number, format="property" if role == "service" else None)
    async with core.db.read() as conn:
        audit_before = await conn.scalar(select(func.count()).select_from(audit_log_table))

    payload = await who.mutate(field, query, variables)

    assert payload["benefit"] is None and [e["code"] for e in payload["errors"]] == ["FORBIDDEN"]
    async with core.db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(shared_benefit_table)) == 1
        assert await conn.scalar(select(func.count()).select_from(audit_log_table)) == audit_before
    listing = await who.raw(SHARED, {"retired": True})
    assert listing["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_warm_wall_reads_the_member_and_its_usage_and_no_configuration(
    client: httpx.AsyncClient, settings: Settings, core: Core
) -> None:
    number = await enrol(client, settings, "13800138000")
    await caller(client, settings, "admin").mutate("createSharedBenefit", CREATE, {"input": PARKING})
    member = caller(client, settings, "member", member_id=number)
    await member.data(WALL)
    with statements_of(core) as statements:
        await member.data(WALL)
    assert len(statements) == 2, str(statements)
    assert "benefit_counter" in statements.statements[1]
    async with core.db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(benefit_use_table)) == 0
