"""Who wrote a posting: the caller's label, ``system`` for what the gateway does by itself, NULL when unknown."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
import typer
from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from typer.testing import CliRunner

from gateway.actor import SYSTEM, acting_as, actor_of, current_actor
from gateway.auth import Principal, Role
from gateway.cli import app, run_as_system
from gateway.core import Core
from gateway.ledger.expiry import expire_points
from gateway.ledger.holds import HoldRequest, place_hold, sweep_holds
from gateway.ledger.postings import MemberRef
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.merge import merge_members
from gateway.persistence.models import posting_table
from tests.conftest import Backend
from tests.helpers import earn, enrol_phone, retail_purchase
from tests.pending_plugin import BoutiquePlugin, BoutiqueSaleInput

TILL = "service:boutique:till-1"


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    return [("boutique", BoutiquePlugin())]


async def _actors(core: Core) -> list[tuple[str, str | None]]:
    """``(kind, actor)`` of every posting, in the order written."""
    async with core.db.read() as conn:
        rows = (await conn.execute(select(posting_table.c.kind, posting_table.c.actor).order_by(posting_table.c.id))).all()
    return [(row.kind, row.actor) for row in rows]


# --- labels ---------------------------------------------------------------------------------------


def test_an_admins_label_is_admin_and_its_subject() -> None:
    assert actor_of(Principal(role=Role.ADMIN, subject="alice")) == "admin:alice"


def test_a_development_token_subject_is_not_repeated() -> None:
    assert actor_of(Principal(role=Role.ADMIN, subject="admin")) == "admin"
    assert actor_of(Principal(role=Role.SERVICE, subject="service:retail", format="retail")) == "service:retail"


def test_a_services_label_always_starts_with_its_own_format() -> None:
    till = Principal(role=Role.SERVICE, subject="till-7", format="retail")
    posing = Principal(role=Role.SERVICE, subject="service:dining:till-1", format="retail")

    assert actor_of(till) == "service:retail:till-7"
    assert actor_of(posing) == "service:retail:service:dining:till-1"


def test_a_members_label_is_its_member_id_whatever_the_subject() -> None:
    assert actor_of(Principal(role=Role.MEMBER, subject="b3c1-uuid", member_id=42)) == "member:42"


def test_a_label_is_cut_to_the_column_width() -> None:
    assert len(actor_of(Principal(role=Role.ADMIN, subject="x" * 300))) == 128


# --- the context variable -------------------------------------------------------------------------


async def test_acting_as_restores_the_previous_actor_and_tasks_inherit_it() -> None:
    async def in_a_task() -> str | None:
        return current_actor()

    with acting_as("admin:alice"):
        with acting_as(TILL):
            inner = await asyncio.gather(in_a_task(), asyncio.create_task(in_a_task()))
        outer = current_actor()
    assert (inner, outer, current_actor()) == ([TILL, TILL], "admin:alice", None)


async def test_a_posting_written_with_no_actor_set_records_null(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, "13800138000", now)

    await earn(core, member_id, "R-1", retail_purchase(), now)

    assert await _actors(core) == [("earn", None)]


# --- the gateway's own postings are the system's --------------------------------------------------


async def test_a_release_made_on_the_way_is_the_systems_and_the_write_is_its_callers(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, "13800138000", now)
    sale = BoutiqueSaleInput(points_now=10, points_later=100, pending_days=14)
    with acting_as(TILL):
        await earn(core, member_id, "B-1", sale, now, format_code="boutique", kind="sale")

    with acting_as(f"member:{member_id}"):
        await redeem(core, RedeemRequest(MemberRef(member_id=member_id), "boutique", "gift_wrap", 1, "GW-1"), now=now + timedelta(days=15))

    assert await _actors(core) == [("earn", TILL), ("release", SYSTEM), ("redeem", f"member:{member_id}")]


async def test_the_expiry_job_is_the_systems_even_when_started_by_someone(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, "13800138000", now - relativedelta(months=30))
    with acting_as("service:retail"):
        await earn(core, member_id, "R-1", retail_purchase(purchased_at=now - relativedelta(months=25)), now)

    with acting_as("admin:alice"):
        report = await expire_points(core, now=now)

    assert report.points > 0
    assert await _actors(core) == [("earn", "service:retail"), ("expire", SYSTEM)]


async def test_a_lapsed_holds_void_is_the_systems(core: Core, now: datetime) -> None:
    member_id = await enrol_phone(core, "13800138000", now)
    with acting_as("service:retail:till-2"):
        await earn(core, member_id, "R-1", retail_purchase(), now)
        await place_hold(core, HoldRequest(MemberRef(member_id=member_id), "retail", 50, "H-1", ttl=timedelta(minutes=5)), now=now)

    sweep = await sweep_holds(core, now=now + timedelta(hours=1))

    assert len(sweep.voided) == 1
    assert [actor for _, actor in await _actors(core)] == ["service:retail:till-2", "service:retail:till-2", SYSTEM]


async def test_a_merges_sweep_is_the_systems(core: Core, now: datetime) -> None:
    survivor = await enrol_phone(core, "13800138000", now)
    merged = await enrol_phone(core, "13900139000", now)
    with acting_as("service:retail"):
        await earn(core, merged, "R-1", retail_purchase(), now)

    with acting_as("admin:alice"):
        await merge_members(core, MemberRef(member_id=survivor), MemberRef(member_id=merged), actor="alice", reason="same person", now=now)

    assert await _actors(core) == [("earn", "service:retail"), ("merge", SYSTEM)]


# --- the CLI --------------------------------------------------------------------------------------


def test_every_cli_command_runs_as_the_system_and_leaves_no_actor_behind() -> None:
    context = typer.Context(typer.main.get_command(app))

    with context:
        run_as_system(context)
        during = current_actor()

    assert (during, current_actor()) == (SYSTEM, None)


async def test_atrium_ledger_expire_records_the_system(
    backend: Backend, core: Core, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATRIUM_DATABASE_URL", backend.url)
    member_id = await enrol_phone(core, "13800138000", now - relativedelta(months=30))
    with acting_as("service:retail"):
        await earn(core, member_id, "R-1", retail_purchase(purchased_at=now - relativedelta(months=25)), now)

    result = await asyncio.to_thread(CliRunner().invoke, app, ["ledger", "expire"])

    assert result.exit_code == 0, result.output
    assert await _actors(core) == [("earn", "service:retail"), ("expire", SYSTEM)]
