"""The ``atrium`` command: serve, migrate, mint development tokens, export the SDL, check and expire the ledger."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from gateway.auth import Role, mint_token
from gateway.settings import DEVELOPMENT_SECRET, Settings
from gateway.settlement.cli import settlement_app
from gateway.tiers_cli import tiers_app

FIRST_PARTY_PLUGINS = ["dining", "property", "retail"]
"""Entry-point names of the first-party plugins: the committed SDL is generated from these only."""

app = typer.Typer(help="Atrium, the group-wide loyalty gateway.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
schema_app = typer.Typer(help="The GraphQL schema contract.", no_args_is_help=True)
ledger_app = typer.Typer(help="Ledger maintenance.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data for trying Atrium out.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(schema_app, name="schema")
app.add_typer(ledger_app, name="ledger")
app.add_typer(demo_app, name="demo")
app.add_typer(tiers_app, name="tiers")
app.add_typer(settlement_app, name="settlement")


@app.callback()
def run_as_system(ctx: typer.Context) -> None:
    """Run every command as the actor ``system``: the postings and failures a CLI job writes record it.

    Set before the command's ``asyncio.run`` (whose task copies the context) and reset when the
    command ends (gateway.actor), so nothing leaks into a process that embeds the CLI.
    """
    from gateway.actor import SYSTEM, acting_as

    ctx.with_resource(acting_as(SYSTEM))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve GraphQL (GraphiQL in a browser) at http://HOST:PORT/graphql."""
    import uvicorn

    typer.echo(f"Atrium GraphiQL: http://{host}:{port}/graphql")
    uvicorn.run("gateway.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision (heads: every branch at its latest).")] = "heads") -> None:
    """Apply migrations to the configured database (ATRIUM_DATABASE_URL)."""
    from gateway.persistence.migrate import upgrade

    settings = Settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"Database at {settings.database_url} is at {revision}.")


@app.command()
def token(
    role: Annotated[Role, typer.Option(help="member, service or admin.")],
    member: Annotated[int | None, typer.Option(help="Member number, for a member token.")] = None,
    format: Annotated[str | None, typer.Option("--format", help="Format code, for a service token.")] = None,
    days: Annotated[int, typer.Option(help="Days until it expires.")] = 30,
    subject: Annotated[str | None, typer.Option(help="Who the token stands for (alice, till-7): postings record it.")] = None,
) -> None:
    """Mint a signed development token (the group's identity provider issues production ones)."""
    settings = Settings()
    try:
        value = mint_token(settings, role=role, member_id=member, format_code=format, ttl=timedelta(days=days), subject=subject)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if settings.jwt_secret == DEVELOPMENT_SECRET:
        typer.echo("warning: signed with the development secret; set ATRIUM_JWT_SECRET in production", err=True)
    typer.echo(value)


@schema_app.command("export")
def schema_export(
    output: Annotated[Path | None, typer.Option(help="File to write; standard output when omitted.")] = None,
    installed: Annotated[
        bool,
        typer.Option(
            "--installed",
            help="Compose every installed plugin (as `atrium serve` would, ATRIUM_PLUGINS applies) "
            "instead of the first-party ones: a business unit's view of its own plugin in the schema.",
        ),
    ] = False,
) -> None:
    """Print or write the SDL composed from the first-party plugins only (the committed contract), or with --installed from every installed plugin."""
    from gateway.core import build_host
    from gateway.graphql.schema import build_schema

    settings = Settings() if installed else Settings(plugins=FIRST_PARTY_PLUGINS)
    sdl = build_schema(build_host(settings).registry, settings).as_str() + "\n"
    if output is None:
        typer.echo(sdl, nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(sdl)
        typer.echo(f"Wrote {output}")


@ledger_app.command("verify")
def ledger_verify() -> None:
    """Recompute every balance from entries and lots, and check postings, coupons and counters; exit 1
    naming each member (or campaign) that differs."""
    from gateway.ledger.verify import verify_ledger
    from gateway.persistence.database import Database

    async def run() -> list[str]:
        settings = Settings()
        db = Database(settings.database_url)
        try:
            async with db.read() as conn:
                return [f"{d.subject}: {d.problem}" for d in await verify_ledger(conn)]
        finally:
            await db.dispose()

    problems = asyncio.run(run())
    for line in problems:
        typer.echo(line, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(
        "Ledger verified: every posting balances, every stored balance matches its entries and lots, and every "
        "balance after, coupon, benefit counter and campaign budget agrees."
    )


def _as_of(value: str | None, settings: Settings) -> datetime:
    """``--now`` as an aware datetime: ISO 8601; without an offset it is the group's local time."""
    if value is None:
        return datetime.now(settings.zone)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time such as 2027-01-01T00:00:00+08:00") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=settings.zone)


@ledger_app.command("expire")
def ledger_expire(
    now: Annotated[
        str | None,
        typer.Option(help="Expire as of this ISO 8601 time (default: now); without an offset, in the group's time zone."),
    ] = None,
) -> None:
    """Void holds past their time, expire every lot and unused coupon past its expiry date, and print what was done. Safe to rerun, or to run twice at once."""
    from gateway.core import build_host, open_core
    from gateway.coupons import expire_coupons
    from gateway.ledger.expiry import ExpiryReport, expire_points
    from gateway.ledger.holds import HoldSweep, sweep_holds

    settings = Settings()
    as_of = _as_of(now, settings)

    async def run() -> tuple[HoldSweep, ExpiryReport, int]:
        core = await open_core(settings, build_host(settings))
        try:
            sweep = await sweep_holds(core, now=as_of)
            return sweep, await expire_points(core, now=as_of), await expire_coupons(core, now=as_of)
        finally:
            await core.close()

    sweep, report, coupons = asyncio.run(run())
    if coupons:
        typer.echo(f"Marked {coupons} unused coupon{'' if coupons == 1 else 's'} expired (no points return).")
    for voided in sweep.voided:
        hold = voided.hold
        typer.echo(f"member {hold.member_id}: {hold.format} hold {hold.idempotency_key!r} of {hold.points} pts lapsed and was voided, posting {voided.posting.id}")
    if sweep.voided:
        count = len(sweep.voided)
        typer.echo(f"Voided {count} lapsed hold{'' if count == 1 else 's'} of {sweep.points} pts.")
    for member in report.members:
        pending = f" ({member.pending_points} of them pending)" if member.pending_points else ""
        lots = "lot" if member.lots == 1 else "lots"
        typer.echo(f"member {member.member_id}: {member.total} pts expired{pending} from {member.lots} {lots}, posting {member.posting_id}")
    if report.members:
        count = len(report.members)
        typer.echo(f"Expired {report.points} pts of {count} member{'' if count == 1 else 's'} as of {report.now.isoformat()}.")
    else:
        typer.echo(f"Nothing to expire as of {report.now.isoformat()}.")


@demo_app.command("load")
def demo_load(
    members: Annotated[int, typer.Option(help="How many members to create.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed, for the same data every time.")] = 7,
) -> None:
    """Load the demo group's first four months through GraphQL, each step on its own day, and print a summary (skipped if already loaded)."""
    from gateway.demo import load_demo

    typer.echo(asyncio.run(load_demo(Settings(), members=members, seed=seed)))


@demo_app.command("tokens")
def demo_tokens() -> None:
    """Print ready-to-paste bearer tokens for a demo member, each format's service account and an admin."""
    from gateway.demo import demo_tokens as tokens

    for label, value in asyncio.run(tokens(Settings())):
        typer.echo(f"{label}:\n  Authorization: Bearer {value}\n")


if __name__ == "__main__":  # pragma: no cover
    app()
