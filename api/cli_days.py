"""`fundcenter day`: close an accounting day, print its certificate and the key that signs them;
and `verify_certificate`, which `fundcenter audit verify-certificate` runs (api/cli_audit.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ledger.audit.days import CertificateInvalid, check_against_log, verify_signature
from ledger.clock import system_clock
from ledger.domain.days import check_day
from ledger.store import resolve_url
from projections.day_closes import store_leaves

from .bootstrap import bootstrap
from .service.days import close_out, load_signer
from .settings import Settings

day = typer.Typer(help="Accounting days: close one, with a signed certificate.", no_args_is_help=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL: sqlite:///path or postgresql://user@host:port/db.", show_default=False),
]


def _settings(db: str | None) -> Settings:
    return Settings(database_url=resolve_url(db))


@day.command("close")
def close(
    date: Annotated[str, typer.Option("--date", help="The accounting day, YYYY-MM-DD: it must be over.")],
    waive: Annotated[list[str] | None, typer.Option(
        "--waive", help="A channel whose reconciliation of the day may be missing or open (repeat for more).")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why the waived channels are waived (required with --waive).")] = "",
    db: DbOption = None,
) -> None:
    """Close a day: fix its figures from the log, sign them, print the close (JSON) with its certificate."""
    settings = _settings(db)
    signer = load_signer(settings)
    with bootstrap(settings, clock=system_clock, actor="cli") as system:
        closed = system.ledger.close_day(check_day(date), signer, waive=waive or [], reason=reason,
                                         keep_leaves=lambda day, leaves: store_leaves(system.views, day, leaves))
        typer.echo(json.dumps(close_out(system.ledger, closed), indent=2))
    typer.echo(f"day {closed.day} closed at log position {closed.position}; Merkle root {closed.merkle_root}", err=True)
    if signer.throwaway:
        typer.echo("signed with this installation's development key (FUNDCENTER_SIGNING_KEY_FILE is not set):"
                   " the certificate proves nothing to anyone else", err=True)


@day.command("certificate")
def certificate(
    date: Annotated[str, typer.Option("--date", help="A closed accounting day, YYYY-MM-DD.")],
    db: DbOption = None,
) -> None:
    """Print a closed day's certificate (JSON), for `fundcenter audit verify-certificate`."""
    with bootstrap(_settings(db)) as system:
        closed = system.ledger.get_day_close(date)
        typer.echo(json.dumps(close_out(system.ledger, closed)["certificate"], indent=2))


@day.command("public-key")
def public_key(db: DbOption = None) -> None:
    """Print the public key (PEM) that certificates are signed with."""
    typer.echo(load_signer(_settings(db)).public_pem, nl=False)


def verify_certificate(
    file: Annotated[Path, typer.Argument(help="The certificate (JSON, as GET /v1/days/{date}/certificate gives it).",
                                         exists=True, dir_okay=False)],
    public_key: Annotated[Path, typer.Option("--public-key", help="The signer's public key (PEM).",
                                             exists=True, dir_okay=False)],
    db: Annotated[str | None, typer.Option(
        "--db", help="Also check that the log still hashes to it (the chain at its position, the balances).",
        show_default=False)] = None,
) -> None:
    """Check a day's certificate: its signature, offline; with --db, that the log still agrees.

    With --db, the log up to the day's position must still hash to the certificate's chain hash,
    and the balances to its Merkle root. Exit 1 if not, saying why."""
    try:
        body = verify_signature(json.loads(file.read_text()), public_key.read_bytes())
    except (CertificateInvalid, ValueError) as error:
        typer.echo(f"REFUSED {file}: {error}")
        raise typer.Exit(1) from None
    typer.echo(f"signature ok: day {body['day']}, log position {body['position']}, Merkle root {body['merkle_root']},"
               f" signed by key {body['key_id']}")
    if db is None:
        return
    with bootstrap(_settings(db)) as system:
        problems = check_against_log(system.ledger, body)
    if problems:
        for problem in problems:
            typer.echo(f"MISMATCH {problem}")
        raise typer.Exit(1)
    typer.echo(f"the log still hashes to it: the chain at position {body['position']}, {body['leaves']} balances"
               " and the trial balance recomputed from the events")
