"""``atrium settlement export``: the settlement of a period as CSV, for finance (the month-end run).

Heavy modules are imported inside the command, so ``atrium --help`` stays fast.
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

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
    from gateway.settlement.csv_export import settlement_csv
    from gateway.settlement.report import settlement_report

    start, end = _day(first, "--from"), _day(last, "--to")
    settings = Settings()

    async def run() -> str:
        core = await open_core(settings, build_host(settings))
        try:
            return settlement_csv(await settlement_report(core, start, end))
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
