"""`fundcenter audit`: what an auditor runs to prove the log (registered by api/cli.py).

`audit verify [--db URL] [--from POSITION] [--chain-only] [--progress]` walks the log in
position order, recomputing the hash chain and checking every snapshot's seal
(ledger/audit/verify.py), and replays every aggregate from its own events against
the transfers and its snapshots (projections/aggregate_audit.py, as `replay` does).
It exits 0 with a one-line summary, or 1 naming the first broken position and why.
A verified chain is recorded as a checkpoint; `--from POSITION` resumes after the
latest checkpoint at or before POSITION - 1 (the chain only: the aggregates need the
whole log), and refuses when there is none. Each run that ends (verified or broken) is
recorded in `verify_runs` as kind 'audit' (projections/verify_runs.py).
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from typing import Annotated, Any

import typer

from ledger import FundCenter
from ledger.audit.verify import NoCheckpoint, verify_chain
from ledger.clock import system_clock
from ledger.domain.aggregate import Clock
from ledger.store import Database
from projections.aggregate_audit import AggregateAudit
from projections.store import ViewStore
from projections.verify_runs import Run, record

from .cli_days import verify_certificate

audit_app = typer.Typer(help="Audit: prove the log.", no_args_is_help=True)
audit_app.command("verify-certificate")(verify_certificate)  # a day's certificate (api/cli_days.py)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL: sqlite:///path or postgresql://user@host:port/db.", show_default=False),
]


def clock() -> Clock:
    """The clock of the runs `audit verify` records: the system's (as api/cli.py's `clock`)."""
    return system_clock


@audit_app.command("verify")
def verify(
    db: DbOption = None,
    from_position: Annotated[
        int | None,
        typer.Option("--from", min=1, help="Resume at POSITION, after a checkpoint an earlier verify recorded."),
    ] = None,
    chain_only: Annotated[
        bool, typer.Option("--chain-only", help="The hash chain and snapshot seals only; no aggregate replay.")
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress", help="A progress bar on stderr even when it is not a terminal.")
    ] = False,
) -> None:
    """Prove the log: recompute its hash chain, check the snapshots' seals, rebuild every aggregate.

    Every aggregate is rebuilt from its own events. Exit 1 naming the first broken position."""
    now = clock()
    started = now()
    database = Database.from_url(db)
    ledger = FundCenter(database.url)  # migrates: an older log gets its chain first
    with ExitStack() as stack:
        stack.callback(ledger.close)
        replay = not chain_only and from_position is None
        audit = AggregateAudit(ledger) if replay else None
        on_progress = None
        if progress or sys.stderr.isatty():
            bar: Any = stack.enter_context(
                typer.progressbar(length=max(ledger.head(), 1), label="verifying", file=sys.stderr)
            )
            done = [0 if from_position is None else from_position - 1]

            def on_progress(position: int) -> None:
                bar.update(position - done[0])
                done[0] = position

        try:
            report = verify_chain(
                database, resume_after=None if from_position is None else from_position - 1,
                on_rows=audit.fold_stored if audit else None, on_progress=on_progress,
            )
        except NoCheckpoint as error:
            typer.echo(f"fundcenter: {error}", err=True)
            raise typer.Exit(2) from None
        first = report.first
        if first is not None:
            more = len(report.breaks) - 1
            also = f" ({more} more problem{'s' if more > 1 else ''} after it)" if more else ""
            broken = f"position {first.position}: {first.why}"
            _record(database, Run("audit", started, now(), report.last_position, False,
                                  f"audit verify: BROKEN at {broken}{also}", broken))
            typer.echo(f"audit verify: BROKEN at {broken}{also}", err=True)
            raise typer.Exit(1)
        problems = audit.check(report.last_position) if audit else []
        if problems:
            _record(database, Run("audit", started, now(), report.last_position, False,
                                  "audit verify: chain whole, but an aggregate disagrees", problems[0]))
            typer.echo(f"audit verify: chain whole, but an aggregate disagrees: {problems[0]}", err=True)
            raise typer.Exit(1)
    start = 1 if report.resumed_after is None else report.resumed_after + 1
    span = f"positions {start}..{report.last_position}" if report.events else f"no events from position {start}"
    resumed = " (resumed after a verified checkpoint)" if report.resumed_after is not None else ""
    aggregates = (f"; {_n(audit.counts.accounts, 'account')}, {_n(audit.counts.holds, 'hold')} and"
                  f" {_n(audit.counts.snapshots, 'snapshot')} rebuilt from their own events" if audit
                  else "; aggregates not replayed")
    summary = (f"verified: {_n(report.events, 'event')} chained, {span}{resumed}; {_n(report.snapshots, 'snapshot')}"
               f" sealed{aggregates}; checkpoint at position {report.checkpoint or 0}")
    _record(database, Run("audit", started, now(), report.last_position, True, summary))
    typer.echo(summary)


def _record(database: Database, run: Run) -> None:
    """The run's outcome in `verify_runs` (projections/verify_runs.py), where the console shows it."""
    views = ViewStore(database, pool_size=1)
    try:
        record(views, run)
    finally:
        views.close()


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
