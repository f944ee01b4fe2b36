"""The auditor's check: rebuild every view from the log and compare.

`replay_and_verify` first brings the live views to the head of the log (or, with
`catch_up=False`, says plainly that they lag rather than calling a lag a
mismatch), then replays the log up to that same position into empty views in a
scratch place (a temporary SQLite file, or a temporary PostgreSQL schema),
compares every view table row by row, checks that every transfer balances and
that the trial balance is zero per currency, and reports the first difference.
It also checks each aggregate against the others (projections/aggregate_audit.py):
every customer Account and Hold rebuilt from its own events against what the
transfers say, and every snapshot against its events, since the commands decide
from those and not from the views.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from ledger import FundCenter
from ledger.store import Database, migrate

from .aggregate_audit import AggregateAudit
from .runner import ProjectionRunner, all_views
from .store import ViewStore
from .trial_balance import trial_balance


@dataclass
class Report:
    position: int = 0
    events: int = 0
    transfers: int = 0
    accounts: int = 0  # rebuilt from their own events and checked against the transfers
    holds: int = 0
    snapshots: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _BalanceCheck:
    """A pseudo-view for the replay: every transfer's debits equal its credits."""

    name = "balance-check"
    tables: dict[str, str] = {}

    def __init__(self, report: Report) -> None:
        self.report = report

    def apply(self, cur: Any, batch: list[tuple[int, Any]]) -> None:
        self.report.events += len(batch)
        for position, event in batch:
            if type(event).__qualname__ != "Transfer.Posted":
                continue
            self.report.transfers += 1
            debits = sum(p["amount"] for p in event.postings if p["side"] == "debit")
            credits = sum(p["amount"] for p in event.postings if p["side"] == "credit")
            if debits != credits and len(self.report.problems) < 10:
                self.report.problems.append(
                    f"transfer {event.originator_id} at position {position}: debits {debits} != credits {credits}"
                )


def replay_and_verify(
    ledger: FundCenter, live: ViewStore, *, catch_up: bool = True,
    on_progress: Callable[[int, int], None] | None = None, batch_size: int = 1000,
) -> Report:
    live_runner = ProjectionRunner(ledger, live, batch_size=batch_size)
    if catch_up:
        live_runner.catch_up()
    report = Report(position=live_runner.position)
    head = ledger.head()
    if report.position < head:
        report.problems.append(
            f"the live views lag: they are at position {report.position}, the log at {head};"
            " run `fundcenter project --once` first"
        )
        return report
    audit = AggregateAudit(ledger)
    with _scratch_views(ledger.database) as scratch:
        views = (*all_views(), _BalanceCheck(report), audit)
        ProjectionRunner(ledger, scratch, batch_size=batch_size, views=views).catch_up(
            until=report.position, on_batch=on_progress
        )
        if report.ok:
            report.problems.extend(_first_differences(live, scratch))
    report.problems.extend(audit.check(until=report.position))
    report.accounts, report.holds, report.snapshots = audit.counts.accounts, audit.counts.holds, audit.counts.snapshots
    for row in trial_balance(live):
        if not row["balanced"]:
            report.problems.append(f"trial balance {row['currency']}: debits {row['debits']} != credits {row['credits']}")
    return report


def _first_differences(live: ViewStore, replayed: ViewStore) -> Iterator[str]:
    """At most one difference per table: the first, in key order."""
    for view in all_views():
        for table, key in view.tables.items():
            query = f"SELECT * FROM {table} ORDER BY {key}"
            difference = _first_difference(table, key, live.stream(query), replayed.stream(query))
            if difference:
                yield difference


def _first_difference(table: str, key: str, live: Iterator[dict], replayed: Iterator[dict]) -> str | None:
    key_columns = [k.strip() for k in key.split(",")]
    for number, (a, b) in enumerate(_zip_longest(live, replayed), start=1):
        if a == b:
            continue
        if a is None or b is None:
            row = b if a is None else a
            assert row is not None  # two Nones are equal, passed over above
            where = "missing from the live view" if a is None else "not in the replay"
            return f"{table}: row {_key(row, key_columns)} is {where}"
        if _key(a, key_columns) != _key(b, key_columns):
            return f"{table}: row {number} differs: live {_key(a, key_columns)}, replay {_key(b, key_columns)}"
        column = next(c for c in a if a[c] != b.get(c))
        return f"{table}: row {_key(a, key_columns)} column {column}: live {a[column]!r}, replay {b[column]!r}"
    return None


def _zip_longest(a: Iterator[dict], b: Iterator[dict]) -> Iterator[tuple[dict | None, dict | None]]:
    while True:  # rows are dicts, never None
        x, y = next(a, None), next(b, None)
        if x is None and y is None:
            return
        yield x, y


def _key(row: dict, columns: list[str]) -> str:
    return "(" + ", ".join(str(row[c]) for c in columns) + ")"


@contextmanager
def _scratch_views(database: Database) -> Iterator[ViewStore]:
    """Empty views in a temporary SQLite file or PostgreSQL schema, removed afterwards."""
    if database.kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="fundcenter-replay-")
        scratch = Database.from_url(f"sqlite:///{os.path.join(folder, 'replay.db')}")
        migrate(scratch)
        store = ViewStore(scratch)
        try:
            yield store
        finally:
            store.close()
            shutil.rmtree(folder, ignore_errors=True)
        return
    schema = f"fundcenter_replay_{uuid.uuid4().hex[:12]}"
    migrate(database, schema=schema)
    store = ViewStore(database, schema=schema)
    try:
        yield store
    finally:
        store.close()
        with database.connect() as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
