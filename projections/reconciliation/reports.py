"""What a reconciliation shows: its lines and differences (paged), fund and fee reports
as CSV (summary and detail, with the currency), the list of reconciliations, and the
differences waiting too long (overdue)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, timedelta
from itertools import islice
from typing import Any
from uuid import UUID

from ledger.domain.errors import NotFound, ValidationError
from ledger.domain.reconciliation import CLASSES, MATCHED, Reconciliation
from ledger.reconciliation import CarriedLine, CloseFigures

from ..store import ViewStore
from .matching import BLOCKS, LINES, PLAIN
from .matching import NET_SQL as NET
from .statement import fields

NET_SQL = NET.format(p="their_")  # a line's net figure from the channel's side

LISTED = ("id, channel, currency, day, status, lines, ours, differences, open_differences, waiting, carried,"
          " file_hash, imported_by, imported_at, closed_by, closed_at, moved, position")
STATUSES = ("open", "closed", "superseded")


class DifferenceNotFound(NotFound):
    pass


def difference(store: ViewStore, reconciliation_id: UUID, seq: int) -> dict[str, Any]:
    rows = store.query(
        "SELECT * FROM reconciliation_lines WHERE reconciliation_id = ? AND seq = ? AND class != 'matched'",
        (str(reconciliation_id), seq),
    )
    if not rows:
        raise DifferenceNotFound(f"difference {seq} of reconciliation {reconciliation_id} not found")
    return rows[0]


def lines(store: ViewStore, reconciliation_id: UUID, *, differences_only: bool = False, after: int = 0,
          limit: int = 100) -> list[dict[str, Any]]:
    rid = str(reconciliation_id)
    sql = f"SELECT * FROM {LINES} WHERE reconciliation_id = ? AND seq > ?"
    if differences_only:  # a plain match is never a difference
        sql += " AND class != 'matched'"  # the partial index's own condition
        return store.query(sql + " ORDER BY seq LIMIT ?", (rid, after, limit))
    rows = store.query(sql + " ORDER BY seq LIMIT ?", (rid, after, limit))
    return list(islice(_merged(rid, iter(rows), _blocks(store, rid, after), after), limit))


def _blocks(store: ViewStore, rid: str, after: int) -> Iterator[str]:
    """The statement's blocks of lines holding a seq past `after`, in order, one query each."""
    while True:
        rows = store.query(f"SELECT last_seq, lines FROM {BLOCKS} WHERE reconciliation_id = ? AND last_seq > ?"
                           " ORDER BY first_seq LIMIT 1", (rid, after))
        if not rows:
            return
        after = int(rows[0]["last_seq"])
        yield rows[0]["lines"]


def _merged(rid: str, rows: Iterator[dict[str, Any]], blocks: Iterator[str], after: int) -> Iterator[dict[str, Any]]:
    """The lines in seq order: the rows, and the statement's lines that have none (plain matches)."""
    row = next(rows, None)
    for block in blocks:
        for text in block.splitlines():
            line_no, txn, reference, kind, amount, fee, status, when = fields(text)
            seq = line_no - 1
            if seq <= after:
                continue
            while row is not None and row["seq"] < seq:
                yield row
                row = next(rows, None)
            if row is not None and row["seq"] == seq:
                continue  # not a plain match: its row comes next
            yield {"reconciliation_id": rid, "seq": seq, "class": MATCHED, "payment_id": reference,
                   "reference": reference, "channel_txn_id": txn, "kind": kind, "our_amount": amount,
                   "our_fee": fee, "our_status": status, "their_amount": amount, "their_fee": fee,
                   "their_status": status, "their_time": when, "carried_from": None, "carried_seq": None,
                   "carried_day": None, "note": None, "off_window": 0}
    while row is not None:
        yield row
        row = next(rows, None)


def resolution_text(reconciliation: Reconciliation, seq: int) -> str:
    r = reconciliation.resolutions.get(str(seq))
    if r is None:
        return ""
    if r["action"] == "wait":
        matched = r.get("matched_on")
        return f"wait (matched on {matched['day']})" if matched else "wait (waiting)"
    return f"{r['action']} (after waiting)" if "waited" in r else r["action"]


def csv_report(store: ViewStore, reconciliation: Reconciliation, kind: str, part: str) -> Iterator[str]:
    """Fund or fee reconciliation, summary or detail, as CSV text, a row at a time."""
    field = "amount" if kind == "fund" else "fee"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")

    def flush() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    currency = reconciliation.currency
    if part == "summary":
        writer.writerow(["class", "currency", "count", "carried", f"our_{field}", f"their_{field}"])
        for name in (MATCHED, *CLASSES):
            row = reconciliation.summary.get(name, {})
            writer.writerow([name, currency, row.get("count", 0), row.get("carried", 0), row.get(f"our_{field}", 0),
                             row.get(f"their_{field}", 0)])
        writer.writerow(["waiting", currency, len(reconciliation.waiting), "", "", ""])
        yield flush()
        return
    writer.writerow(["seq", "class", "currency", "channel_txn_id", "reference", "kind", f"our_{field}",
                     f"their_{field}", "our_status", "their_status", "carried_from", "resolution"])
    yield flush()
    rid = str(reconciliation.id)
    rows = store.stream(f"SELECT * FROM {LINES} WHERE reconciliation_id = ? ORDER BY seq", (rid,))
    for row in _merged(rid, rows, _blocks(store, rid, 0), 0):
        writer.writerow([row["seq"], row["class"], currency, row["channel_txn_id"], row["reference"], row["kind"],
                         row[f"our_{field}"], row[f"their_{field}"], row["our_status"], row["their_status"],
                         row["carried_day"] or "", resolution_text(reconciliation, row["seq"])])
        yield flush()


def close_figures(store: ViewStore, reconciliation: Reconciliation) -> CloseFigures:
    """What the close moves for the day's own lines (the channel's net figures, less what waits
    and what was dismissed), and the lines carried over from earlier days, each with its net."""
    rid = str(reconciliation.id)
    total = store.query(
        f"SELECT COALESCE(SUM({NET_SQL}), 0) AS n FROM {LINES} WHERE reconciliation_id = ?"
        " AND carried_from IS NULL", (rid,))[0]["n"]
    moved = int(total) + sum(int(r["net"]) for r in store.query(
        f"SELECT net FROM {PLAIN} WHERE reconciliation_id = ?", (rid,)))  # the plain matches
    left_out = [int(seq) for seq, r in reconciliation.resolutions.items() if r["action"] in ("wait", "dismiss")]
    carried = []
    for row in store.query(
        f"SELECT seq, carried_from, carried_seq, {NET_SQL} AS net FROM {LINES}"
        " WHERE reconciliation_id = ? AND (carried_from IS NOT NULL OR seq IN"
        f" ({', '.join('?' * len(left_out)) or 'NULL'}))", (rid, *left_out),
    ):
        waits = row["seq"] in left_out
        if row["carried_from"] is None:
            moved -= int(row["net"])  # a difference of this day left waiting (or a repeat dismissed)
        else:
            carried.append(CarriedLine(UUID(row["carried_from"]), int(row["carried_seq"]), int(row["seq"]),
                                       0 if waits else int(row["net"])))
    return CloseFigures(moved, tuple(carried))


def listing(store: ViewStore, *, channel: str | None = None, currency: str | None = None, status: str | None = None,
            start: date | None = None, end: date | None = None, after: tuple[str, str] | None = None,
            limit: int = 100) -> list[dict[str, Any]]:
    """Reconciliations by day (then id), filtered; `after` is the last (day, id) of the page before."""
    if status is not None and status not in STATUSES:
        raise ValidationError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    sql, params = f"SELECT {LISTED} FROM reconciliations WHERE 1 = 1", []
    for column, value in (("channel", channel), ("currency", currency), ("status", status)):
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
    if start is not None:
        sql += " AND day >= ?"
        params.append(start.isoformat())
    if end is not None:
        sql += " AND day <= ?"
        params.append(end.isoformat())
    if after is not None:
        sql += " AND (day > ? OR (day = ? AND id > ?))"
        params += [after[0], after[0], after[1]]
    return store.query(sql + " ORDER BY day, id LIMIT ?", (*params, limit))


def overdue(store: ViewStore, today: date, wait_max_days: int, *, channel: str | None = None,
            currency: str | None = None) -> list[dict[str, Any]]:
    """The differences waiting since before `today - wait_max_days` (the oldest first), with their age."""
    cutoff = (today - timedelta(days=wait_max_days)).isoformat()
    sql = ("SELECT w.reconciliation_id, w.seq, w.channel, w.currency, w.day, COALESCE(l.carried_day, w.day) AS since,"
           " l.class, l.reference, l.channel_txn_id, l.kind, l.our_amount, l.their_amount"
           " FROM reconciliation_waiting w JOIN reconciliation_lines l"
           " ON l.reconciliation_id = w.reconciliation_id AND l.seq = w.seq WHERE COALESCE(l.carried_day, w.day) < ?")
    params: list[Any] = [cutoff]
    for column, value in (("w.channel", channel), ("w.currency", currency)):
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
    rows = store.query(sql + " ORDER BY since, w.reconciliation_id, w.seq", params)
    for row in rows:
        row["age_days"] = (today - date.fromisoformat(row["since"])).days
    return rows
