"""``atrium settlement export``: the CSV of a period, to standard output or a file."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.core import Core
from gateway.ledger.postings import MemberRef
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.settlement.csv_export import settlement_csv
from gateway.settlement.report import settlement_report
from tests.conftest import Backend
from tests.helpers import earn, enrol_phone, retail_purchase

runner = CliRunner()


def at(day: int) -> datetime:
    return datetime(2026, 11, day, 12, tzinfo=UTC)


@pytest.fixture
async def november(backend: Backend, core: Core, monkeypatch: pytest.MonkeyPatch) -> str:
    """A month with a retail purchase redeemed at dining; the CLI reads the test's database. Returns the expected CSV."""
    monkeypatch.setenv("ATRIUM_DATABASE_URL", backend.url)
    member = await enrol_phone(core, "13800138000", at(1))
    await earn(core, member, "R-1", retail_purchase([("A", "grocery", 1, "1000.00")]), at(2))
    await redeem(core, RedeemRequest(MemberRef(member_id=member), "dining", "dessert_voucher", 1, "DES-1"), now=at(3))
    return settlement_csv(await settlement_report(core, date(2026, 11, 1), date(2026, 11, 30)))


async def test_export_prints_the_csv_of_the_period(november: str) -> None:
    result = await asyncio.to_thread(runner.invoke, app, ["settlement", "export", "--from", "2026-11-01", "--to", "2026-11-30"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == november.splitlines()
    assert "2026-11-01,2026-11-30,redemption,retail,dining,,800,,,1,800,CNY" in result.stdout.splitlines()


async def test_export_writes_the_csv_to_a_file(november: str, tmp_path: Path) -> None:
    target = tmp_path / "out" / "november.csv"

    result = await asyncio.to_thread(
        runner.invoke, app, ["settlement", "export", "--from", "2026-11-01", "--to", "2026-11-30", "--output", str(target)]
    )

    assert result.exit_code == 0, result.output
    assert f"Wrote {target}" in result.output
    assert target.read_bytes() == november.encode()


@pytest.mark.parametrize(("first", "last"), [("2026-11-31", "2026-12-01"), ("2026-11-30", "2026-11-01")])
async def test_export_refuses_a_bad_period(november: str, first: str, last: str) -> None:
    result = await asyncio.to_thread(runner.invoke, app, ["settlement", "export", "--from", first, "--to", last])

    assert result.exit_code == 2
