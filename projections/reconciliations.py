"""Reconciliations: every import of a channel's statement (listed, filtered, paged) and the
differences waiting for a later day's file.

Table `reconciliations`: one row per Reconciliation, `open` until it closes, then `closed`;
the others of its channel, day and currency become `superseded` when one of them closes.
Table `reconciliation_waiting`: one row per difference resolved with `wait` that no later
day has matched (`WaitEnded`) nor another action resolved. The import's matching reads it
(carry-over), as do the overdue list and its /metrics gauge.
"""

from __future__ import annotations

from typing import Any

from ledger.domain.reconciliation import MATCHED, ReconciledDay, Reconciliation

from .common import Batch, Collects, dispatchmethod, iso


class ReconciliationsView(Collects):
    name = "reconciliations"
    tables = {"reconciliations": "id", "reconciliation_waiting": "reconciliation_id, seq"}

    def write(self, cur: Any, batch: Batch) -> None:
        for position, event in batch:
            self.collect(event, cur, position)

    @dispatchmethod
    def collect(self, event: Any, cur: Any, position: int) -> None:
        """Other events are not about reconciliations."""

    @collect.register
    def _(self, event: Reconciliation.Imported, cur: Any, position: int) -> None:
        differences = sum(v["count"] for k, v in event.summary.items() if k != MATCHED)
        cur.execute(
            "INSERT INTO reconciliations (id, channel, currency, day, status, starts_at, ends_at, lines, ours,"
            " differences, open_differences, waiting, carried, file_hash, imported_by, imported_at, closed_by,"
            " closed_at, moved, position) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, NULL, NULL, 0, ?)",
            (str(event.originator_id), event.channel, event.currency, event.day, event.starts_at, event.ends_at,
             event.lines, event.ours, differences, differences, event.carried, event.file_hash, event.imported_by,
             iso(event.timestamp), position),
        )

    @collect.register
    def _(self, event: Reconciliation.DifferenceResolved, cur: Any, position: int) -> None:
        rid = str(event.originator_id)
        was_waiting = cur.execute("DELETE FROM reconciliation_waiting WHERE reconciliation_id = ? AND seq = ?"
                                  " RETURNING seq", (rid, event.seq))
        if event.action == "wait":
            cur.execute(
                "INSERT INTO reconciliation_waiting (reconciliation_id, seq, channel, currency, day)"
                " SELECT id, ?, channel, currency, day FROM reconciliations WHERE id = ?", (event.seq, rid),
            )
            cur.execute("UPDATE reconciliations SET open_differences = open_differences - 1, waiting = waiting + 1"
                        " WHERE id = ?", (rid,))
        elif was_waiting:
            cur.execute("UPDATE reconciliations SET waiting = waiting - 1 WHERE id = ?", (rid,))
        else:
            cur.execute("UPDATE reconciliations SET open_differences = open_differences - 1 WHERE id = ?", (rid,))

    @collect.register
    def _(self, event: Reconciliation.WaitEnded, cur: Any, position: int) -> None:
        rid = str(event.originator_id)
        cur.execute("DELETE FROM reconciliation_waiting WHERE reconciliation_id = ? AND seq = ?", (rid, event.seq))
        cur.execute("UPDATE reconciliations SET waiting = waiting - 1 WHERE id = ?", (rid,))

    @collect.register
    def _(self, event: Reconciliation.Closed, cur: Any, position: int) -> None:
        cur.execute("UPDATE reconciliations SET status = 'closed', closed_by = ?, closed_at = ?, moved = ? WHERE id = ?",
                    (event.by, iso(event.timestamp), event.moved, str(event.originator_id)))

    @collect.register
    def _(self, event: ReconciledDay.Closed, cur: Any, position: int) -> None:
        cur.execute("UPDATE reconciliations SET status = 'superseded' WHERE channel = ? AND currency = ? AND day = ?"
                    " AND id != ?", (event.channel, event.currency, event.day, str(event.reconciliation_id)))
