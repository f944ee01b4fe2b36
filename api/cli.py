"""The `fundcenter` command line for operators and auditors.

Every command takes `--db URL`; without it, FUNDCENTER_DATABASE_URL, else
sqlite:///./fundcenter.db. Failures print one line to stderr and exit 2.
"""

from __future__ import annotations

import sqlite3
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import psycopg
import pydantic
import typer
from eventsourcing.persistence import PersistenceError

from ledger import FundCenter, LedgerError
from ledger.channels.gateway import GatewayRegistry
from ledger.clock import system_clock
from ledger.domain.aggregate import Clock
from ledger.store import Database, DatabaseURLError, redact_url, resolve_url
from ledger.store import migrate as apply_migrations

from . import cli_days
from .bootstrap import System, bootstrap
from .cli_audit import audit_app
from .service_secrets import MissingSecrets
from .settings import Settings

app = typer.Typer(
    help="Fund Center: an event-sourced double-entry ledger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(audit_app, name="audit")


class BadOption(ValueError):
    """An option's value the command cannot use: one line, exit 2."""


DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL: sqlite:///path or postgresql://user@host:port/db.", show_default=False),
]


@app.command()
def migrate(db: DbOption = None) -> None:
    """Apply the database migrations this database lacks."""
    database = Database.from_url(db)
    applied = apply_migrations(database)
    typer.echo(f"applied {', '.join(applied)}" if applied else "up to date")


@app.command()
def demo(
    db: DbOption = None,
    day: Annotated[
        str | None, typer.Option("--date", help="The business day, YYYY-MM-DD (default: today in the accounting zone).")
    ] = None,
) -> None:
    """Run a day of business through two simulated channels, reconcile it, print the books."""
    from .demo import CHANNELS, DemoDay, run_demo
    from .service_secrets import load_secrets

    settings = _settings(db)
    accounting_day = settings.accounting_day
    secrets = load_secrets(settings)
    secrets.require_channels(list(CHANNELS))
    business_day = _date_option(day) if day else accounting_day.day_of(system_clock())
    demo_day = DemoDay(business_day, accounting_day, secrets)
    typer.echo(f"Fund Center demo of {business_day} on {redact_url(settings.database_url)}\n")
    run_demo(settings, demo_day, typer.echo)


def _settings(db: str | None, *, run_projections: bool = True) -> Settings:
    """The settings from the environment, on the database of `--db` if given."""
    return Settings(database_url=resolve_url(db), run_projections=run_projections)


def clock() -> Clock:
    """The clock of the commands below: the system's."""
    return system_clock


def gateways_for(ledger: FundCenter, settings: Settings) -> GatewayRegistry | None:
    """The channels' gateways the commands below reach; None: the bootstrap's default, the simulator
    playing every channel in the catalog (its statements are of what it did in this process: real
    adapters fetch the channel's file)."""
    return None


def _system(db: str | None) -> System:
    """The system the commands below run on: the one bootstrap, on `--db`, with the CLI's clock and gateways."""
    settings = _settings(db)
    return bootstrap(settings, clock=clock(), gateways=lambda ledger: gateways_for(ledger, settings))


def _date_option(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadOption(f"--date {text!r} is not YYYY-MM-DD") from None


keys = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(keys, name="keys")


@keys.command("create")
def keys_create(
    role: Annotated[str, typer.Option("--role", help="admin, operator, finance, auditor or business.")],
    business: Annotated[str | None, typer.Option("--business", help="The business a business key is bound to.")] = None,
    name: Annotated[str, typer.Option("--name", help="Who or what holds the key.")] = "",
    holder: Annotated[str | None, typer.Option(
        "--holder", help="The person holding it, for four-eyes approval (default: the key is its own holder).")] = None,
    db: DbOption = None,
) -> None:
    """Create an API key and print it, this once (only its hash is kept)."""
    with _system(db) as system:
        view, token = system.ledger.create_api_key(role, business, name, created_by="cli", holder=holder)
    typer.echo(token)
    typer.echo(f"key {view.id}: role {view.role}" + (f", business {view.business_id}" if view.business_id else ""), err=True)


app.add_typer(cli_days.day, name="day")  # close a day, its certificate (api/cli_days.py)

reconcile = typer.Typer(help="Reconciliation (对账).", no_args_is_help=True)
app.add_typer(reconcile, name="reconcile")


@reconcile.command("import")
def reconcile_import(
    file: Annotated[Path, typer.Argument(help="The channel's statement CSV.", exists=True, dir_okay=False)],
    channel: Annotated[str, typer.Option("--channel", help="The channel's code.")],
    date: Annotated[str, typer.Option("--date", help="The accounting day, YYYY-MM-DD.")],
    currency: Annotated[str, typer.Option(help="The statement's currency.")] = "CNY",
    db: DbOption = None,
) -> None:
    """Import a statement file for a channel, day and currency, match it, and print the summary."""
    day = _date_option(date)
    with _system(db) as system, file.open("rb") as statement:
        result = system.reconciler.import_statement(channel, day, statement, by="cli", currency=currency)
    _print_reconciliation(result)


@reconcile.command("fetch")
def reconcile_fetch(
    channel: Annotated[str, typer.Option("--channel", help="The channel's code.")],
    date: Annotated[str, typer.Option("--date", help="The accounting day, YYYY-MM-DD.")],
    currency: Annotated[str, typer.Option(help="The statement's currency.")] = "CNY",
    db: DbOption = None,
) -> None:
    """Get the day's statement from the channel's gateway, import it as if uploaded, print the summary.

    (The simulator plays every channel in the catalog: its statements are of what it did in this
    process. Real adapters fetch the channel's file.)"""
    day = _date_option(date)
    with _system(db) as system:
        result = system.reconciler.fetch(channel, day, by="cli", currency=currency)
    _print_reconciliation(result)


def _print_reconciliation(result) -> None:
    typer.echo(f"reconciliation {result.id}: {result.channel} {result.day} {result.currency}, {result.lines} lines,"
               f" {result.ours} of ours, {result.carried} carried over")
    for name, row in sorted(result.summary.items()):
        typer.echo(f"  {name:<20}{row['count']:>9}  ours {row['our_amount']:>14}  theirs {row['their_amount']:>14}")
    typer.echo(f"{result.open_differences} differences to resolve")


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    projections: Annotated[
        bool, typer.Option("--projections/--no-projections", help=(
            "Follow the log in this process; without, only its API-key events (run `fundcenter project` beside it)."))
    ] = True,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes on the one port (PostgreSQL only for more than 1).")
    ] = 1,
) -> None:
    """Serve the HTTP API (and run the projections).

    On one process, or on N worker processes (`--workers N`, PostgreSQL): each with its own
    ledger and writer; one of them, elected, applies the projections and the others follow its
    position."""
    import uvicorn

    from .app import create_app
    from .http_writes import JoinedWritesHttpTools

    url = resolve_url(db)
    database = Database.from_url(url)  # a bad URL fails here, in one line
    if workers > 1 and database.kind != "postgresql":
        raise BadOption(f"--workers {workers} needs PostgreSQL: SQLite lets one process write at a time"
                        " (the workers would only queue on its lock); use --workers 1")
    _listenable(host, port)
    settings = _settings(url, run_projections=projections).model_copy(update={"tune_gc": True})
    app = create_app(settings=settings)  # refuses production without its secrets, naming them
    if settings.environment == "production":  # and without a callback secret for a channel it has
        with bootstrap(settings) as system:
            system.secrets.require_channels(sorted(system.ledger.catalog().channels))
    typer.echo(f"Fund Center API on http://{host}:{port} ({settings.environment}, database {redact_url(url)}"
               f"{f', {workers} workers' if workers > 1 else ''}); OpenAPI at /docs", err=True)
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="warning", http=JoinedWritesHttpTools)
        return
    # Each worker process builds its own app (`create_app()`) from the settings in the environment,
    # which it inherits: the database and whether to run projections are put there; the rest
    # (secrets included) is there already, or (development) in the installation's secrets file.
    import os

    os.environ["FUNDCENTER_DATABASE_URL"] = url
    os.environ["FUNDCENTER_RUN_PROJECTIONS"] = "true" if projections else "false"
    os.environ["FUNDCENTER_TUNE_GC"] = "true"
    os.environ["FUNDCENTER_WRITER_TURNS"] = "true"  # the workers' writers take turns (ledger/writer_turns.py)
    uvicorn.run("api.app:create_app", factory=True, workers=workers, host=host, port=port, log_level="warning",
                http=JoinedWritesHttpTools)


def _listenable(host: str, port: int) -> None:
    """Refuse, in one line and before anything starts, a port another process listens on, or a host
    name that does not resolve: each address of the host bound as asyncio binds it (SO_REUSEADDR).
    Anything else, or a port taken after this look, uvicorn reports itself when it binds."""
    import errno
    import socket

    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise BadOption(f"cannot listen on {host}:{port}: {error.strerror}") from None
    for family, kind, _, _, address in addresses:
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise BadOption(f"cannot listen on {host}:{port}: {error.strerror}") from None


@app.command()
def project(
    db: DbOption = None,
    once: Annotated[bool, typer.Option("--once", help="Catch up to the head of the log, then exit.")] = False,
) -> None:
    """Run the projections: build the read models from the log and follow it."""
    with _system(db) as system:
        runner = system.runner
        if once:
            applied = runner.catch_up()
            typer.echo(f"applied {applied} events; views at position {runner.position}")
            return
        typer.echo(f"following the log from position {runner.position} (Ctrl-C to stop)")
        try:
            runner.follow()
        except KeyboardInterrupt:
            typer.echo(f"stopped at position {runner.position}")


@app.command()
def deliver(
    db: DbOption = None,
    once: Annotated[bool, typer.Option("--once", help="Queue and send what is due now, then exit.")] = False,
    metrics_port: Annotated[int | None, typer.Option(
        "--metrics-port", help="Serve Prometheus metrics (attempts, backlog) at http://HOST:PORT/metrics.")] = None,
    metrics_host: Annotated[str, typer.Option("--metrics-host", help="The address --metrics-port listens on.")] = "127.0.0.1",
) -> None:
    """Send the webhooks: queue them from the log (the outbox) and deliver them, until Ctrl-C."""
    with _system(db) as system:
        deliverer = system.deliverer
        if once:
            attempts = deliverer.run_once()
            typer.echo(f"{attempts} delivery attempts; outbox at position {deliverer.outbox.position}")
            return
        if metrics_port is not None:
            from api.deliver_metrics import serve_metrics

            address = serve_metrics(system, metrics_host, metrics_port)
            typer.echo(f"metrics at http://{address}/metrics")
        typer.echo(f"delivering webhooks; outbox at position {deliverer.outbox.position} (Ctrl-C to stop)")
        try:
            deliverer.follow()
        except KeyboardInterrupt:
            typer.echo(f"stopped; outbox at position {deliverer.outbox.position}")


@app.command()
def replay(
    db: DbOption = None,
    verify: Annotated[
        bool, typer.Option("--verify", hidden=True, help="What replay does anyway; accepted for older scripts.")
    ] = True,
    catch_up: Annotated[
        bool, typer.Option("--catch-up/--no-catch-up", help="Let lagging live views catch up first.")
    ] = True,
) -> None:
    """Verify the views against a replay of the log; exit 1 on a mismatch.

    Replay the log into scratch views and compare them with the live ones; check that every
    transfer balances, the trial balance is zero per currency, and every aggregate agrees with
    the transfers. (`replay --verify` is the same.) Each run's outcome is recorded in the views'
    database (the console's Events page, /v1/verifications)."""
    from projections.verify import replay_and_verify
    from projections.verify_runs import Run, record

    now = clock()
    with _system(db) as system:
        started = now()
        head = system.ledger.head()
        with typer.progressbar(length=max(head, 1), label="replaying", file=sys.stderr) as bar:
            done = [0]

            def progress(position: int, _: int) -> None:
                bar.update(position - done[0])
                done[0] = position

            report = replay_and_verify(system.ledger, system.views, catch_up=catch_up, on_progress=progress)
        replayed = f"replayed {report.events} events ({report.transfers} transfers) up to position {report.position}"
        count = len(report.problems)
        outcome = "verified" if report.ok else f"{count} mismatch{'es' if count > 1 else ''}"
        record(system.views, Run("replay", started, now(), report.position, report.ok, f"{replayed}: {outcome}",
                                 None if report.ok else report.problems[0]))
    typer.echo(replayed)
    if report.events:
        typer.echo(
            f"checked {report.accounts} accounts and {report.holds} holds rebuilt from their own events,"
            f" and {report.snapshots} snapshots"
        )
    if not report.ok:
        for problem in report.problems:
            typer.echo(f"MISMATCH {problem}", err=True)
        raise typer.Exit(1)
    typer.echo(
        "verified: views equal a clean replay; every transfer balances; trial balance zero per currency;"
        " accounts, holds and snapshots agree with the transfers"
    )


def main() -> None:
    try:
        app()
    except (LedgerError, DatabaseURLError, MissingSecrets, BadOption) as error:
        typer.echo(f"fundcenter: {error}", err=True)
        sys.exit(2)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        name = "FUNDCENTER_" + "_".join(str(part) for part in first["loc"]).upper()
        typer.echo(f"fundcenter: setting {name}: {first['msg']}", err=True)
        sys.exit(2)
    except (PersistenceError, psycopg.Error, sqlite3.Error) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        typer.echo(f"fundcenter: database error: {message}", err=True)
        sys.exit(2)
