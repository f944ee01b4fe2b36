"""The verification runs' record (table `verify_runs`, migration 0017): what the console's Events
page and `GET /v1/verifications` show as the last `fundcenter replay` and `fundcenter audit verify`.

A run is written in one statement once it has ended, so a run that crashes leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.domain.instants import iso

from .store import ViewStore

KINDS = ("replay", "audit")
COLUMNS = "id, kind, started_at, finished_at, head_position, ok, summary, first_problem"
PROBLEM_CHARS_MAX = 2000  # characters of the first problem kept (a problem names a row; this is ample)


@dataclass(frozen=True)
class Run:
    kind: str
    started_at: datetime
    finished_at: datetime
    head_position: int
    ok: bool
    summary: str
    first_problem: str | None = None


def record(views: ViewStore, run: Run) -> int:
    """Write `run` (one transaction) and return its id: one more than the last recorded."""
    if run.kind not in KINDS:
        raise ValueError(f"unknown verification kind {run.kind!r}")
    problem = None if run.first_problem is None else run.first_problem[:PROBLEM_CHARS_MAX]
    with views.transaction() as cur:
        if cur.kind == "postgresql":  # SQLite's BEGIN IMMEDIATE already serialises writers
            cur.execute("LOCK TABLE verify_runs IN SHARE ROW EXCLUSIVE MODE")
        number = cur.execute("SELECT COALESCE(MAX(id), 0) + 1 AS n FROM verify_runs")[0]["n"]
        cur.execute(
            f"INSERT INTO verify_runs ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (number, run.kind, iso(run.started_at), iso(run.finished_at), run.head_position, run.ok,
             run.summary, problem),
        )
    return int(number)


def runs(views: ViewStore, kind: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The latest runs first, of `kind` if given."""
    where, params = ("WHERE kind = ?", [kind]) if kind else ("", [])
    rows = views.query(f"SELECT {COLUMNS} FROM verify_runs {where} ORDER BY id DESC LIMIT ?", [*params, limit])
    return [{**row, "ok": bool(row["ok"])} for row in rows]


def last_runs(views: ViewStore) -> dict[str, dict[str, Any] | None]:
    """The last run of each kind (None: never run)."""
    return {kind: next(iter(runs(views, kind, 1)), None) for kind in KINDS}
