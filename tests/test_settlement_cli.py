"""``atrium settlement export`` (the CSV of a period, to standard output or a file) and ``atrium settlement drift``."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from gateway.cli import app
from gateway.core import Core
from gateway.ledger.postings import MemberRef
from gateway.ledger.redeem import RedeemRequest, redeem
from gateway.persistence.models import lot_consumption_table
from gateway.settlement.closing import close_settlement_period
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
    assert "2026-11-01,2026-11-30,redemption,retail,dining,,800,,,1,800,CNY," in result.stdout.splitlines()


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


async def _close_november(core: Core) -> None:
    await close_settlement_period(
        core, first=date(2026, 11, 1), last=date(2026, 11, 30), actor="admin", reason="November paid", now=datetime(2026, 12, 2, tzinfo=UTC)
    )


async def test_export_of_a_closed_month_prints_its_stored_figures(november: str, core: Core) -> None:
    await _close_november(core)

    result = await asyncio.to_thread(runner.invoke, app, ["settlement", "export", "--from", "2026-11-01", "--to", "2026-11-30"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1:] == [f"{line}2026-12-02T00:00:00+00:00" for line in november.splitlines()[1:]]


async def test_drift_reports_a_closed_month_that_still_matches(november: str, core: Core) -> None:
    await _close_november(core)

    result = await asyncio.to_thread(runner.invoke, app, ["settlement", "drift"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["2026-11-01 to 2026-11-30: matches"]


async def test_drift_names_each_changed_figure_and_exits_1(november: str, core: Core) -> None:
    await _close_november(core)
    async with core.db.write() as conn:  # the dessert's draw rewritten behind the gateway
        await conn.execute(update(lot_consumption_table).where(lot_consumption_table.c.points == 800).values(points=750))

    result = await asyncio.to_thread(runner.invoke, app, ["settlement", "drift", "--from", "2026-11-15"])

    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "2026-11-01 to 2026-11-30: 10 figure(s) differ"
    assert lines[1:3] == [
        "  redemption retail -> dining @ 1 points: closed 800, now 750",
        "  redemption retail -> dining @ 1 value: closed 800, now 750",
    ]
    assert "  liability retail 2028-11 available: closed 200, now 250" in lines
