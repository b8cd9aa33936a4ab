"""The atrium command: migrations, development tokens and the ledger check."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.settings import Settings

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
