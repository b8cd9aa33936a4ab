"""Downgrades only at evaluation, respecting grace; every change in the tier history; a rerun changes nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from typer.testing import CliRunner

from gateway.cli import app
from gateway.core import Core
from gateway.ledger.postings import MemberRef
from gateway.ledger.reverse import RefundRequest, refund_activity
from gateway.merge import merge_members
from gateway.money import Money
from gateway.persistence.models import member_table
from gateway.persistence.tier_tables import member_tier_history_table
from gateway.tier_assign import assign_tier
from gateway.tier_config import set_ladder, set_policy
from gateway.tier_evaluation import EvaluationReport, evaluate_tiers
from gateway.tiers import DowngradeMode, Outcome, TierPolicy, current_ladder
from tests.conftest import Backend
from tests.helpers import earn, enrol_phone, member_state, retail_purchase, snapshot
from tests.tier_helpers import ladder_with, restore_ladder  # noqa: F401

T0 = datetime(2027, 3, 10, 12, tzinfo=UTC)
PHONE = "13800138000"
runner = CliRunner()


def _evaluation(months_after_t0: int) -> datetime:
    """The scheduled evaluation (day 1, midnight UTC) ``months_after_t0`` months after T0's month."""
    return datetime(2027, 3, 1, tzinfo=UTC) + relativedelta(months=months_after_t0)


def _receipt(yuan: str, at: datetime = T0) -> object:
    return retail_purchase([("SKU1", "grocery", 1, yuan)], purchased_at=at)


async def _member(core: Core, phone: str = PHONE) -> int:
    return await enrol_phone(core, phone, T0 - relativedelta(months=30))


async def _evaluate(core: Core, at: datetime, **policy: Any) -> EvaluationReport:
    if policy:
        await set_policy(core, TierPolicy(**policy), actor="admin", reason=None, now=T0)
    return await evaluate_tiers(core, await current_ladder(core), at=at, batch_size=2)


async def _grace(core: Core, member_id: int) -> datetime | None:
    async with core.db.read() as conn:
        return await conn.scalar(select(member_table.c.tier_grace_until).where(member_table.c.id == member_id))


async def _history(core: Core, member_id: int) -> list[tuple[Any, ...]]:
    table = member_tier_history_table
    query = select(table.c.from_tier, table.c.to_tier, table.c.source, table.c.qualifying_growth, table.c.at)
    async with core.db.read() as conn:
        rows = (await conn.execute(query.where(table.c.member_id == member_id).order_by(table.c.id))).all()
    return [tuple(row) for row in rows]


async def test_a_member_whose_window_growth_drops_keeps_its_tier_until_the_evaluation(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("2500.00"), T0)
    a_year_later = T0 + relativedelta(months=12, days=5)

    small = await earn(core, member_id, "R-2", _receipt("100.00", a_year_later), a_year_later)
    before = await _evaluate(core, _evaluation(12))
    at = _evaluation(13)
    report = await _evaluate(core, at)

    assert small.tier_after == "silver"
    assert before.downgraded == 0  # the window ending 2028-03-01 still holds the 2,500 of 2027-03-10
    assert (report.evaluated, report.downgraded, report.upgraded) == (1, 1, 0)
    assert (await member_state(core, member_id))[2] == "member"
    assert await _history(core, member_id) == [("member", "silver", "earn", 2500, T0), ("silver", "member", "evaluation", 100, at)]


async def test_grace_keeps_the_tier_until_it_ends_then_the_member_moves_down(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("2500.00"), T0)

    first = await _evaluate(core, _evaluation(13), grace_months=2)
    grace_until = await _grace(core, member_id)
    during = await _evaluate(core, _evaluation(14))
    tier_during = (await member_state(core, member_id))[2]
    last = await _evaluate(core, _evaluation(15))

    assert (first.kept_in_grace, first.downgraded) == (1, 0)
    assert grace_until == _evaluation(15)
    assert (during.kept_in_grace, during.downgraded, tier_during) == (1, 0, "silver")
    assert (last.kept_in_grace, last.downgraded) == (0, 1)
    assert (await member_state(core, member_id))[2] == "member"
    assert await _grace(core, member_id) is None
    assert [row[2] for row in await _history(core, member_id)] == ["earn", "evaluation"]


async def test_requalifying_during_grace_clears_it(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("2500.00"), T0)
    await _evaluate(core, _evaluation(13), grace_months=2)
    back = _evaluation(13) + relativedelta(days=3)
    await earn(core, member_id, "R-2", _receipt("2000.00", back), back)

    report = await _evaluate(core, _evaluation(14))

    assert (report.outcomes[Outcome.REQUALIFIED], report.downgraded) == (1, 0)
    assert (await member_state(core, member_id))[2] == "silver"
    assert await _grace(core, member_id) is None


async def test_a_refund_that_drops_window_growth_below_the_retention_threshold_downgrades_at_evaluation(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("2500.00"), T0)
    refund = RefundRequest(format="retail", amount=Money(100000, "CNY"), idempotency_key="RF-1", original_key="R-1")
    refunded = await refund_activity(core, refund, now=T0 + relativedelta(days=2))

    report = await _evaluate(core, _evaluation(1))

    assert refunded.tier_after == "silver"
    assert report.downgraded == 1
    assert (await member_state(core, member_id))[2] == "member"


@pytest.mark.usefixtures("restore_ladder")
async def test_a_lower_retention_threshold_keeps_a_member_who_no_longer_reaches_the_threshold(core: Core) -> None:
    await set_ladder(core, ladder_with(silver={"retention_threshold": 1000}), actor="admin", reason=None, now=T0)
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("2500.00"), T0)
    refund = RefundRequest(format="retail", amount=Money(130000, "CNY"), idempotency_key="RF-1", original_key="R-1")
    await refund_activity(core, refund, now=T0)

    report = await _evaluate(core, _evaluation(1))

    assert (report.downgraded, (await member_state(core, member_id))[2]) == (0, "silver")


async def test_a_second_run_for_the_same_date_changes_nothing(core: Core) -> None:
    members = [await _member(core, f"1380013800{n}") for n in range(5)]
    for n, member_id in enumerate(members):
        await earn(core, member_id, f"R-{n}", _receipt(f"{16000 + n}.00"), T0)
    at = _evaluation(13)

    first = await _evaluate(core, at)
    after_first = await snapshot(core)
    second = await _evaluate(core, at)

    assert (first.evaluated, first.downgraded) == (5, 5)
    assert {(await member_state(core, m))[2] for m in members} == {"gold"}  # one step down from diamond, once
    assert (second.evaluated, second.changed, second.skipped) == (0, 0, 5)
    assert await snapshot(core) == after_first


async def test_a_rerun_for_a_date_leaves_a_member_upgraded_after_that_date_alone(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("2500.00"), T0)
    at = _evaluation(1)
    await _evaluate(core, at)
    later = at + relativedelta(hours=10)
    upgraded = await earn(core, member_id, "R-2", _receipt("4000.00", later), later)

    rerun = await _evaluate(core, at)

    assert upgraded.tier_after == "gold"
    assert (rerun.evaluated, rerun.changed, rerun.skipped) == (0, 0, 1)
    assert (await member_state(core, member_id))[2] == "gold"


async def test_to_qualified_mode_moves_straight_to_the_tier_the_member_keeps(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("16000.00"), T0)
    later = T0 + relativedelta(months=12, days=5)
    await earn(core, member_id, "R-2", _receipt("2500.00", later), later)

    await _evaluate(core, _evaluation(13), downgrade=DowngradeMode.TO_QUALIFIED)

    assert (await member_state(core, member_id))[2] == "silver"


@pytest.mark.usefixtures("restore_ladder")
async def test_an_evaluation_upgrades_members_a_lowered_threshold_now_qualifies(core: Core) -> None:
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("1500.00"), T0)
    await set_ladder(core, ladder_with(silver={"threshold": 1000}), actor="admin", reason="easier silver", now=T0)

    report = await _evaluate(core, _evaluation(1))

    assert report.upgraded == 1
    assert (await _history(core, member_id))[-1][:3] == ("member", "silver", "evaluation")


async def test_an_admin_assigned_tier_is_in_history_and_evaluated_like_any_other(core: Core) -> None:
    member_id = await _member(core)

    await assign_tier(core, MemberRef(member_id=member_id), "gold", actor="admin:ops", reason="VIP guest", now=T0)
    report = await _evaluate(core, _evaluation(1))

    assert [row[:3] for row in await _history(core, member_id)] == [
        ("member", "gold", "admin"),
        ("gold", "silver", "evaluation"),
    ]
    assert report.downgraded == 1


async def test_merged_and_erased_records_are_not_evaluated(core: Core) -> None:
    keep = await _member(core)
    gone = await _member(core, "13900139000")
    await earn(core, gone, "R-1", _receipt("2500.00"), T0)
    await merge_members(core, MemberRef(member_id=keep), MemberRef(member_id=gone), actor="admin", reason="one person", now=T0)

    report = await _evaluate(core, _evaluation(1))

    assert report.evaluated == 1
    assert (await member_state(core, keep))[2] == "silver"


async def test_atrium_tiers_evaluate_prints_a_summary_and_a_rerun_changes_nothing(
    backend: Backend, core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATRIUM_DATABASE_URL", backend.url)
    member_id = await _member(core)
    await earn(core, member_id, "R-1", _receipt("2500.00"), T0)
    at = f"{_evaluation(13):%Y-%m-%d}"

    first = await asyncio.to_thread(runner.invoke, app, ["tiers", "evaluate", "--at", at])
    again = await asyncio.to_thread(runner.invoke, app, ["tiers", "evaluate", "--at", at])
    shown = await asyncio.to_thread(runner.invoke, app, ["tiers", "show"])

    assert first.exit_code == 0, first.output
    assert "Evaluated 1 member " in first.output and "1 downgraded" in first.output
    assert again.exit_code == 0, again.output
    assert "Evaluated 0 members" in again.output and "already evaluated for this date: 1" in again.output
    assert shown.exit_code == 0 and "Diamond" in shown.output
    assert (await member_state(core, member_id))[2] == "member"


async def test_atrium_tiers_evaluate_refuses_a_date_it_cannot_read(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATRIUM_DATABASE_URL", backend.url)

    result = await asyncio.to_thread(runner.invoke, app, ["tiers", "evaluate", "--at", "next tuesday"])

    assert result.exit_code != 0 and "not a date" in result.output
