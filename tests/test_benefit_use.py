"""Using benefits: idempotent by key, never past the quota (also when tills race), periods in the group's calendar."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from gateway.benefits.admin import SharedBenefitDraft, create_shared_benefit
from gateway.benefits.use import (
    BenefitUseResult,
    UseRequest,
    cancel_benefit_use,
    use_benefit,
)
from gateway.core import Core, build_host, open_core
from gateway.errors import AtriumError, ErrorCode
from gateway.identity import enrol
from gateway.ledger.postings import MemberRef
from gateway.member_status import freeze_member
from gateway.persistence.benefit_tables import benefit_counter_table, benefit_use_table
from gateway.persistence.models import member_table
from gateway.plugin_api import Quota
from gateway.settings import Settings
from gateway.tiers import current_ladder
from tests.conftest import Backend
from tests.helpers import phone_key

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 on 20 November in Shanghai
PARKING = "group.parking_2h"


@pytest.fixture
def settings(backend: Backend) -> Settings:
    """The group runs on Shanghai time: quota periods start at its midnight."""
    return Settings(database_url=backend.url, plugins=None, timezone="Asia/Shanghai", _env_file=None)  # type: ignore[call-arg]


def at(*parts: int) -> datetime:
    """An instant given in Shanghai time."""
    return datetime(*parts, tzinfo=SHANGHAI).astimezone(UTC)


async def member(core: Core, phone: str, *, tier: str = "member", birth_date: date | None = None) -> int:
    member_id = await enrol(
        core.db,
        identity=phone_key(phone),
        ladder=await current_ladder(core),
        enrolled_format=None,
        now=NOW - timedelta(days=400),
        birth_date=birth_date,
    )
    if tier != "member":
        async with core.db.write() as conn:
            await conn.execute(update(member_table).where(member_table.c.id == member_id).values(tier_code=tier))
    return member_id


async def shared(core: Core, code: str = "parking_2h", **fields: object) -> None:
    values: dict[str, object] = {"name": "2 free parking hours", "description": "", "min_tier": "gold", "quota": Quota(2, "month")}
    values.update(fields)
    await create_shared_benefit(core, SharedBenefitDraft(code=code, **values), actor="admin", now=NOW - timedelta(days=60))  # type: ignore[arg-type]


def request(member_id: int, key: str, benefit: str = PARKING, *, quantity: int = 1, scope: str = "service:property", where: str | None = "property") -> UseRequest:
    return UseRequest(
        member=MemberRef(member_id=member_id), benefit=benefit, quantity=quantity, idempotency_key=key, scope=scope, actor="till", where=where
    )


async def refusal(core: Core, req: UseRequest, now: datetime = NOW) -> AtriumError:
    with pytest.raises(AtriumError) as caught:
        await use_benefit(core, req, now=now)
    return caught.value


async def uses_and_counter(core: Core, member_id: int, benefit: str = PARKING) -> tuple[int, int]:
    async with core.db.read() as conn:
        uses = await conn.scalar(
            select(func.count()).select_from(benefit_use_table).where(
                (benefit_use_table.c.member_id == member_id) & (benefit_use_table.c.benefit == benefit)
            )
        )
        used = await conn.scalar(
            select(func.coalesce(func.sum(benefit_counter_table.c.used), 0)).where(
                (benefit_counter_table.c.member_id == member_id) & (benefit_counter_table.c.benefit == benefit)
            )
        )
    return int(uses), int(used)


# --- quota under concurrency ---------------------------------------------------------------------


async def test_twenty_concurrent_uses_of_a_quota_of_two_succeed_exactly_twice(core: Core) -> None:
    await shared(core)
    gold = await member(core, "13800138000", tier="gold")

    outcomes = await asyncio.gather(
        *(use_benefit(core, request(gold, f"TICKET-{n}"), now=NOW) for n in range(20)), return_exceptions=True
    )

    succeeded = [o for o in outcomes if isinstance(o, BenefitUseResult)]
    refused = [o for o in outcomes if isinstance(o, AtriumError)]
    assert len(succeeded) == 2 and len(refused) == 18
    assert {error.code for error in refused} == {ErrorCode.QUOTA_EXCEEDED}
    assert sorted(use.used_in_period for use in succeeded) == [1, 2]  # type: ignore[type-var]
    assert await uses_and_counter(core, gold) == (2, 2)


async def test_two_gateway_processes_racing_on_one_database_still_stop_at_the_quota(core: Core, settings: Settings) -> None:
    await shared(core, quota=Quota(3, "month"))
    gold = await member(core, "13800138000", tier="gold")
    other = await open_core(settings, build_host(settings))
    try:
        outcomes = await asyncio.gather(
            *(use_benefit(core if n % 2 else other, request(gold, f"TICKET-{n}"), now=NOW) for n in range(16)),
            return_exceptions=True,
        )
    finally:
        await other.close()
    assert sum(isinstance(o, BenefitUseResult) for o in outcomes) == 3
    assert all(o.code is ErrorCode.QUOTA_EXCEEDED for o in outcomes if isinstance(o, AtriumError))
    assert await uses_and_counter(core, gold) == (3, 3)


async def test_the_same_key_sent_concurrently_uses_the_benefit_once(core: Core) -> None:
    await shared(core)
    gold = await member(core, "13800138000", tier="gold")
    outcomes = await asyncio.gather(*(use_benefit(core, request(gold, "TICKET-1"), now=NOW) for _ in range(8)))
    assert len({use.id for use in outcomes}) == 1
    assert sum(not use.replayed for use in outcomes) == 1
    assert await uses_and_counter(core, gold) == (1, 1)


# --- idempotency ---------------------------------------------------------------------------------


async def test_a_replayed_key_returns_the_original_use_and_takes_nothing_more(core: Core) -> None:
    await shared(core)
    gold = await member(core, "13800138000", tier="gold")
    first = await use_benefit(core, request(gold, "TICKET-1"), now=NOW)
    again = await use_benefit(core, request(gold, "TICKET-1"), now=NOW + timedelta(minutes=5))
    assert again.replayed and not first.replayed
    assert (again.id, again.used_at, again.used_in_period, again.remaining_in_period) == (first.id, first.used_at, 1, 1)
    assert await uses_and_counter(core, gold) == (1, 1)


async def test_a_replay_is_answered_even_after_the_member_was_frozen_and_the_quota_used_up(core: Core) -> None:
    await shared(core, quota=Quota(1, "month"))
    gold = await member(core, "13800138000", tier="gold")
    first = await use_benefit(core, request(gold, "TICKET-1"), now=NOW)
    await freeze_member(core.db, MemberRef(member_id=gold), actor="admin", reason="card reported stolen", now=NOW)
    again = await use_benefit(core, request(gold, "TICKET-1"), now=NOW)
    assert again.replayed and again.id == first.id


async def test_the_same_key_with_another_quantity_or_member_is_refused_as_reused(core: Core) -> None:
    await shared(core)
    gold = await member(core, "13800138000", tier="gold")
    other = await member(core, "13900139000", tier="gold")
    await use_benefit(core, request(gold, "TICKET-1"), now=NOW)
    assert (await refusal(core, request(gold, "TICKET-1", quantity=2))).code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert (await refusal(core, request(other, "TICKET-1"))).code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert await uses_and_counter(core, other) == (0, 0)


async def test_keys_of_different_callers_do_not_collide(core: Core) -> None:
    await shared(core, formats=("property", "dining"))
    gold = await member(core, "13800138000", tier="gold")
    property_use = await use_benefit(core, request(gold, "0001"), now=NOW)
    dining_use = await use_benefit(core, request(gold, "0001", scope="service:dining", where="dining"), now=NOW)
    assert property_use.id != dining_use.id and not dining_use.replayed
    assert dining_use.used_in_period == 2


# --- quota periods -------------------------------------------------------------------------------


async def test_the_monthly_quota_comes_back_at_midnight_of_the_first_in_the_group_zone(core: Core) -> None:
    await shared(core, quota=Quota(1, "month"))
    gold = await member(core, "13800138000", tier="gold")
    await use_benefit(core, request(gold, "NOV-1"), now=at(2026, 11, 30, 23, 0))
    refused = await refusal(core, request(gold, "NOV-2"), now=at(2026, 11, 30, 23, 59))
    assert refused.code is ErrorCode.QUOTA_EXCEEDED
    assert "1 of 1 used this month, 0 left" in refused.message and "2026-12-01 00:00" in refused.message

    december = await use_benefit(core, request(gold, "DEC-1"), now=at(2026, 12, 1, 0, 0))  # still 30 Nov in UTC
    assert december.period_start == at(2026, 12, 1) and december.period_end == at(2027, 1, 1)
    assert december.used_in_period == 1


async def test_a_quarterly_quota_spans_three_months_and_resets_with_the_quarter(core: Core) -> None:
    await shared(core, quota=Quota(2, "quarter"))
    gold = await member(core, "13800138000", tier="gold")
    await use_benefit(core, request(gold, "OCT"), now=at(2026, 10, 2, 9))
    await use_benefit(core, request(gold, "NOV"), now=at(2026, 11, 15, 9))
    assert (await refusal(core, request(gold, "DEC"), now=at(2026, 12, 31, 23, 30))).code is ErrorCode.QUOTA_EXCEEDED
    january = await use_benefit(core, request(gold, "JAN"), now=at(2027, 1, 1, 0, 10))
    assert january.period_start == at(2027, 1, 1) and january.period_end == at(2027, 4, 1)


async def test_a_yearly_quota_resets_on_january_first(core: Core) -> None:
    await shared(core, quota=Quota(1, "year"))
    gold = await member(core, "13800138000", tier="gold")
    await use_benefit(core, request(gold, "Y26"), now=at(2026, 1, 1, 0, 0))
    assert (await refusal(core, request(gold, "Y26-B"), now=at(2026, 12, 31, 23, 59))).code is ErrorCode.QUOTA_EXCEEDED
    assert (await use_benefit(core, request(gold, "Y27"), now=at(2027, 1, 1, 0, 0))).used_in_period == 1


async def test_quota_exceeded_says_what_is_left_when_asking_for_more_than_remains(core: Core) -> None:
    await shared(core, quota=Quota(3, "month"))
    gold = await member(core, "13800138000", tier="gold")
    await use_benefit(core, request(gold, "T-1", quantity=2), now=NOW)
    refused = await refusal(core, request(gold, "T-2", quantity=2))
    assert (refused.code, refused.field) == (ErrorCode.QUOTA_EXCEEDED, "quantity")
    assert "2 of 3 used this month, 1 left" in refused.message
    assert (await use_benefit(core, request(gold, "T-3"), now=NOW)).remaining_in_period == 0


async def test_a_plugin_benefit_with_a_quota_is_tracked_the_same_way(core: Core) -> None:
    gold = await member(core, "13800138000", tier="gold")
    priority = "property.maintenance_priority"  # 4 a year, from gold
    for n in range(4):
        await use_benefit(core, request(gold, f"REPAIR-{n}", priority, where=None), now=NOW)
    refused = await refusal(core, request(gold, "REPAIR-5", priority, where=None))
    assert refused.code is ErrorCode.QUOTA_EXCEEDED and "4 of 4 used this year" in refused.message
    assert await uses_and_counter(core, gold, priority) == (4, 4)


async def test_a_benefit_without_quota_can_be_used_again_and_again(core: Core) -> None:
    gold = await member(core, "13800138000", tier="gold")
    uses = [await use_benefit(core, request(gold, f"Q-{n}", "dining.priority_queue", scope="service:dining", where="dining"), now=NOW) for n in range(3)]
    assert [use.used_in_period for use in uses] == [None, None, None]
    assert all(use.remaining_in_period is None and use.period_start is None for use in uses)


# --- cancelling ----------------------------------------------------------------------------------


async def test_cancelling_a_use_gives_the_quota_back_and_cancelling_again_is_safe(core: Core) -> None:
    await shared(core, quota=Quota(1, "month"))
    gold = await member(core, "13800138000", tier="gold")
    used = await use_benefit(core, request(gold, "T-1"), now=NOW)
    cancelled = await cancel_benefit_use(core, scope="service:property", idempotency_key="T-1", now=NOW)
    again = await cancel_benefit_use(core, scope="service:property", idempotency_key="T-1", now=NOW + timedelta(hours=1))
    assert cancelled.id == used.id and cancelled.cancelled_at == NOW and not cancelled.replayed
    assert again.replayed and again.cancelled_at == NOW
    assert await uses_and_counter(core, gold) == (1, 0)
    assert (await use_benefit(core, request(gold, "T-2"), now=NOW)).used_in_period == 1


async def test_a_caller_cannot_cancel_a_use_it_did_not_make(core: Core) -> None:
    await shared(core)
    gold = await member(core, "13800138000", tier="gold")
    await use_benefit(core, request(gold, "T-1"), now=NOW)
    with pytest.raises(AtriumError) as caught:
        await cancel_benefit_use(core, scope="service:dining", idempotency_key="T-1", now=NOW)
    assert caught.value.code is ErrorCode.BENEFIT_NOT_FOUND
    assert await uses_and_counter(core, gold) == (1, 1)


# --- refusals ------------------------------------------------------------------------------------


async def test_a_member_below_the_tier_is_refused_with_benefit_locked_naming_the_tier(core: Core) -> None:
    await shared(core)
    silver = await member(core, "13800138000", tier="silver")
    refused = await refusal(core, request(silver, "T-1"))
    assert (refused.code, refused.field) == (ErrorCode.BENEFIT_LOCKED, "benefit")
    assert "needs Gold tier or above" in refused.message
    assert await uses_and_counter(core, silver) == (0, 0)


async def test_a_benefit_is_locked_before_its_validity_and_from_its_end(core: Core) -> None:
    await shared(core, valid_from=at(2026, 12, 1), valid_until=at(2027, 1, 1))
    gold = await member(core, "13800138000", tier="gold")
    early = await refusal(core, request(gold, "T-1"), now=at(2026, 11, 30, 23, 59))
    late = await refusal(core, request(gold, "T-2"), now=at(2027, 1, 1))
    assert early.code is late.code is ErrorCode.BENEFIT_LOCKED
    assert "from 2026-12-01" in early.message and "until 2027-01-01" in late.message
    assert (await use_benefit(core, request(gold, "T-3"), now=at(2026, 12, 1))).used_in_period == 1


async def test_a_birthday_benefit_opens_only_in_the_birth_month_in_the_group_zone(core: Core) -> None:
    await shared(core, "birthday_dessert", name="Birthday dessert", min_tier="member", quota=Quota(1, "year"), birthday_month=True)
    born_in_december = await member(core, "13800138000", birth_date=date(1990, 12, 5))
    dessert = "group.birthday_dessert"
    november = await refusal(core, request(born_in_december, "T-1", dessert, where=None), now=at(2026, 11, 30, 23, 59))
    assert november.code is ErrorCode.BENEFIT_LOCKED and "birthday month" in november.message
    used = await use_benefit(core, request(born_in_december, "T-2", dessert, where=None), now=at(2026, 12, 1, 0, 0))
    assert used.used_in_period == 1


async def test_a_birthday_benefit_is_locked_for_a_member_without_a_birth_date(core: Core) -> None:
    await shared(core, "birthday_dessert", name="Birthday dessert", min_tier="member", quota=None, birthday_month=True)
    unknown = await member(core, "13800138000")
    refused = await refusal(core, request(unknown, "T-1", "group.birthday_dessert", where=None))
    assert refused.code is ErrorCode.BENEFIT_LOCKED and "no birth date" in refused.message


async def test_a_benefit_is_locked_in_a_format_it_is_not_valid_in(core: Core) -> None:
    await shared(core, formats=("property",))
    gold = await member(core, "13800138000", tier="gold")
    refused = await refusal(core, request(gold, "T-1", scope="service:dining", where="dining"))
    assert (refused.code, refused.field) == (ErrorCode.BENEFIT_LOCKED, "format")
    assert "only in: property" in refused.message
    plugin = await refusal(core, request(gold, "T-2", "property.maintenance_priority", where="retail"))
    assert plugin.code is ErrorCode.BENEFIT_LOCKED


async def test_a_frozen_member_cannot_use_a_benefit(core: Core) -> None:
    await shared(core)
    gold = await member(core, "13800138000", tier="gold")
    await freeze_member(core.db, MemberRef(member_id=gold), actor="admin", reason="card reported stolen", now=NOW)
    assert (await refusal(core, request(gold, "T-1"))).code is ErrorCode.MEMBER_FROZEN
    assert await uses_and_counter(core, gold) == (0, 0)


@pytest.mark.parametrize("benefit", ["group.nothing", "retail.nothing", "parking_2h", "nowhere.member_price"])
async def test_an_unknown_benefit_is_benefit_not_found(core: Core, benefit: str) -> None:
    await shared(core)
    gold = await member(core, "13800138000", tier="gold")
    refused = await refusal(core, request(gold, "T-1", benefit))
    assert (refused.code, refused.field) == (ErrorCode.BENEFIT_NOT_FOUND, "benefit")


@pytest.mark.parametrize("quantity", [0, -1, 3])
async def test_a_quantity_outside_one_to_the_quota_is_refused(core: Core, quantity: int) -> None:
    await shared(core)
    gold = await member(core, "13800138000", tier="gold")
    assert (await refusal(core, request(gold, "T-1", quantity=quantity))).code is ErrorCode.INVALID_QUANTITY


async def test_a_benefit_usable_in_several_formats_needs_to_know_where_when_the_caller_does_not_say(core: Core) -> None:
    await shared(core, formats=("property", "dining"))
    gold = await member(core, "13800138000", tier="gold")
    refused = await refusal(core, request(gold, "T-1", scope="admin", where=None))
    assert (refused.code, refused.field) == (ErrorCode.INVALID_INPUT, "format")
