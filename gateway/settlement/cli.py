"""``atrium settlement export`` (a period as CSV, for finance's month-end run) and ``atrium settlement drift``.

Heavy modules are imported inside the command, so ``atrium --help`` stays fast.
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from gateway.settlement.drift import Difference

settlement_app = typer.Typer(help="Settlement between business units.", no_args_is_help=True)


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date such as 2026-11-30", param_hint=option) from None


@settlement_app.command("export")
def export(
    first: Annotated[str, typer.Option("--from", help="First day of the period (YYYY-MM-DD, group time zone).")],
    last: Annotated[str, typer.Option("--to", help="Last day of the period, included.")],
    output: Annotated[Path | None, typer.Option(help="CSV file to write; standard output when omitted.")] = None,
) -> None:
    """Write the settlement of a period as CSV: the matrices, each format's net and the liability at its end."""
    from gateway.core import build_host, open_core
    from gateway.errors import AtriumError
    from gateway.settings import Settings
    from gateway.settlement.closing import period_settlement
    from gateway.settlement.csv_export import settlement_csv

    start, end = _day(first, "--from"), _day(last, "--to")
    settings = Settings()

    async def run() -> str:
        core = await open_core(settings, build_host(settings))
        try:
            return settlement_csv(await period_settlement(core, start, end))
        finally:
            await core.close()

    try:
        text = asyncio.run(run())
    except AtriumError as exc:
        raise typer.BadParameter(exc.message, param_hint="--to") from None
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8", newline="")
    typer.echo(f"Wrote {output}")


@settlement_app.command("drift")
def drift(
    first: Annotated[str | None, typer.Option("--from", help="Check closed periods from this day (YYYY-MM-DD); all when omitted.")] = None,
    last: Annotated[str | None, typer.Option("--to", help="Check closed periods up to this day.")] = None,
) -> None:
    """Recompute every closed period and print each figure that differs from what was stored; exit 1 on any difference."""
    from gateway.core import build_host, open_core
    from gateway.settings import Settings
    from gateway.settlement.drift import PeriodDrift, settlement_drift

    start = _day(first, "--from") if first else None
    end = _day(last, "--to") if last else None
    settings = Settings()

    async def run() -> list[PeriodDrift]:
        core = await open_core(settings, build_host(settings))
        try:
            return await settlement_drift(core, start, end)
        finally:
            await core.close()

    checked = asyncio.run(run())
    for period in checked:
        span = f"{period.closed.period.first} to {period.closed.period.last}"
        typer.echo(f"{span}: {'matches' if period.matches else f'{len(period.differences)} figure(s) differ'}")
        for item in period.differences:
            typer.echo(f"  {_where(item)} {item.figure}: closed {item.closed}, now {item.recomputed}")
    if not checked:
        typer.echo("No closed period to check.")
    if any(not period.matches for period in checked):
        raise typer.Exit(1)


def _where(item: Difference) -> str:
    """Where a difference sits: ``redemption retail -> dining @ 0.8``, ``party retail``, ``liability retail 2027-11``."""
    parts = [item.section, item.format or ""]
    if item.counterparty:
        parts.append(f"-> {item.counterparty}")
    if item.price is not None:
        parts.append(f"@ {item.price}")
    parts.append(item.month or "")
    return " ".join(part for part in parts if part)
