"""The atrium command: migrations, development tokens, the ledger check and the expiry job."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import jwt
import pytest
from dateutil.relativedelta import relativedelta
from typer.testing import CliRunner

from gateway.cli import app
from gateway.core import Core
from gateway.settings import Settings
from tests.conftest import Backend
from tests.helpers import earn, enrol_phone, retail_purchase

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("ATRIUM_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    return path


def test_db_upgrade_creates_the_schema_and_the_default_ladder(database: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"])

    assert result.exit_code == 0, result.output
    tiers = sqlite3.connect(database).execute("SELECT code FROM tier ORDER BY rank").fetchall()
    assert [code for (code,) in tiers] == ["member", "silver", "gold", "diamond"]


def test_token_mints_a_signed_service_token() -> None:
    result = runner.invoke(app, ["token", "--role", "service", "--format", "dining"])

    assert result.exit_code == 0, result.output
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    token = result.stdout.strip().splitlines()[-1]
    claims = jwt.decode(token, settings.jwt_secret, algorithms=["HS256"], audience=settings.jwt_audience)
    assert (claims["role"], claims["format"]) == ("service", "dining")


def test_token_for_a_member_needs_the_member_number() -> None:
    result = runner.invoke(app, ["token", "--role", "member"])

    assert result.exit_code != 0
    assert "member_id" in result.output


def test_ledger_verify_passes_on_a_fresh_database(database: Path) -> None:
    runner.invoke(app, ["db", "upgrade"])

    result = runner.invoke(app, ["ledger", "verify"])

    assert result.exit_code == 0, result.output


def test_ledger_verify_fails_naming_the_member_whose_balance_is_off(database: Path) -> None:
    runner.invoke(app, ["db", "upgrade"])
    with sqlite3.connect(database) as conn:
        conn.execute(
            "INSERT INTO member (id, status, tier_code, growth_value, points_balance, enrolled_at) "
            "VALUES (42, 'active', 'member', 0, 500, '2026-01-01 00:00:00')"
        )

    result = runner.invoke(app, ["ledger", "verify"])

    assert result.exit_code == 1
    assert "member 42: stored balance 500, entries say 0, lots hold 0" in result.output


async def test_ledger_expire_prints_what_it_expired_and_a_rerun_expires_nothing(
    backend: Backend, core: Core, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATRIUM_DATABASE_URL", backend.url)
    member_id = await enrol_phone(core, "13800138000", now)
    await earn(core, member_id, "R-1", retail_purchase(purchased_at=now - relativedelta(months=25)), now)

    first = await asyncio.to_thread(runner.invoke, app, ["ledger", "expire"])
    again = await asyncio.to_thread(runner.invoke, app, ["ledger", "expire"])

    assert first.exit_code == 0, first.output
    assert f"member {member_id}: 120 pts expired from 1 lot" in first.output
    assert "Expired 120 pts of 1 member" in first.output
    assert again.exit_code == 0 and "Nothing to expire" in again.output


async def test_ledger_expire_as_of_an_earlier_time_expires_nothing_yet(
    backend: Backend, core: Core, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATRIUM_DATABASE_URL", backend.url)
    member_id = await enrol_phone(core, "13800138000", now)
    earned = now - relativedelta(months=25)
    await earn(core, member_id, "R-1", retail_purchase(purchased_at=earned), now)
    before_expiry = (earned + relativedelta(months=24) - timedelta(days=1)).isoformat()

    result = await asyncio.to_thread(runner.invoke, app, ["ledger", "expire", "--now", before_expiry])

    assert result.exit_code == 0, result.output
    assert "Nothing to expire" in result.output
