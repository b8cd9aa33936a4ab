"""``atrium tiers``: show the ladder, and evaluate every member's tier (schedule it daily: it acts on evaluation dates)."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from gateway.settings import Settings

tiers_app = typer.Typer(help="The tier ladder: show it, evaluate members.", no_args_is_help=True)


def evaluation_instant(value: str | None, settings: Settings, last_scheduled: datetime) -> datetime:
    """``--at DATE`` as the midnight starting that day in the group's time zone; without it, the latest scheduled evaluation."""
    if value is None:
        return last_scheduled
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date such as 2027-01-01", param_hint="--at") from None
    return datetime(day.year, day.month, day.day, tzinfo=settings.zone)


@tiers_app.command("evaluate")
def tiers_evaluate(
    at: Annotated[
        str | None,
        typer.Option(help="Evaluate as of this date (YYYY-MM-DD, midnight in the group's time zone); default: the latest scheduled evaluation."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=50_000, help="Members per transaction.")] = 2000,
) -> None:
    """Evaluate every member's tier: downgrades (respecting grace) and upgrades the earns missed. A rerun for the same date changes nothing."""
    from gateway.core import build_host, open_core
    from gateway.tier_evaluation import (
        EvaluationReport,
        evaluate_tiers,
        members_to_evaluate,
    )
    from gateway.tiers import current_ladder

    settings = Settings()
    console = Console()

    async def run() -> tuple[EvaluationReport, float]:
        core = await open_core(settings, build_host(settings))
        try:
            ladder = await current_ladder(core)
            policy = ladder.policy
            moment = evaluation_instant(at, settings, policy.last_evaluation(datetime.now(settings.zone), settings.zone))
            local = moment.astimezone(settings.zone)
            console.print(
                f"Evaluating tiers as of {local:%Y-%m-%d %H:%M} {settings.timezone} (evaluations {policy.describe()}; "
                f"window {policy.window_months} months, grace {policy.grace_months} months, downgrade {policy.downgrade.value.replace('_', ' ')})"
            )
            pending, _ = await members_to_evaluate(core, at=moment)
            started = time.perf_counter()
            columns = (TextColumn("members"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=console, transient=False) as bar:
                task = bar.add_task("evaluate", total=pending)
                report = await evaluate_tiers(core, ladder, at=moment, batch_size=batch_size, progress=lambda n: bar.advance(task, n))
            return report, time.perf_counter() - started
        finally:
            await core.close()

    report, elapsed = asyncio.run(run())
    console.print(
        f"Evaluated {report.evaluated:,} member{'' if report.evaluated == 1 else 's'} in {elapsed:.1f}s: {report.upgraded:,} upgraded, "
        f"{report.kept_in_grace:,} kept in grace, {report.downgraded:,} downgraded "
        f"({report.changed:,} changed; already evaluated for this date: {report.skipped:,})."
    )


@tiers_app.command("show")
def tiers_show() -> None:
    """Print the ladder (thresholds, retention, breadth, multipliers, members in each tier) and its policy."""
    from sqlalchemy import func, select

    from gateway.core import build_host, open_core
    from gateway.persistence.models import member_table
    from gateway.tiers import Ladder, current_ladder

    settings = Settings()

    async def run() -> tuple[Ladder, dict[str, int]]:
        core = await open_core(settings, build_host(settings))
        try:
            ladder = await current_ladder(core)
            query = (
                select(member_table.c.tier_code, func.count())
                .where(member_table.c.status.in_(("active", "frozen")))
                .group_by(member_table.c.tier_code)
            )
            async with core.db.read() as conn:
                counts = {code: int(count) for code, count in (await conn.execute(query)).all()}
            return ladder, counts
        finally:
            await core.close()

    ladder, counts = asyncio.run(run())
    policy = ladder.policy
    table = Table(title="Tier ladder")
    for column in ("rank", "code", "name", "threshold", "keeps at", "min formats", "multiplier", "members"):
        table.add_column(column, justify="left" if column in ("code", "name") else "right")
    for rule in ladder.rules:
        table.add_row(
            str(rule.rank),
            rule.code,
            rule.info.name,
            f"{rule.threshold:,}",
            f"{rule.keep_threshold:,}",
            str(rule.min_formats or "-"),
            f"×{rule.info.multiplier}",
            f"{counts.get(rule.code, 0):,}",
        )
    console = Console()
    console.print(table)
    upcoming = policy.next_evaluation(datetime.now(settings.zone), settings.zone).astimezone(settings.zone)
    console.print(
        f"Growth counts over {policy.window_months} months; evaluations {policy.describe()} ({settings.timezone}), "
        f"next {upcoming:%Y-%m-%d}; grace {policy.grace_months} months; downgrade {policy.downgrade.value.replace('_', ' ')}."
    )
