"""CSV exports, streamed: a header, then a line per row, in chunks."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from projections.trial_balance import ACCOUNT_FIELDS

STATEMENT_CSV = ("position", "seq", "created_at", "transfer_id", "kind", "side", "amount", "currency", "balance_after",
                 "counterparty_id", "memo")
TRIAL_BALANCE_CSV = ("line", *ACCOUNT_FIELDS, "debit", "credit")
CSV_CHUNK_CHARS = 64 * 1024
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_lines(columns: Iterable[str], rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """CSV text (a header, then a line per row) in chunks of about 64 KiB, as the rows stream in.
    A text cell a spreadsheet would take for a formula gets a leading `'` (numbers are left alone)."""
    columns = tuple(columns)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
        if out.tell() >= CSV_CHUNK_CHARS:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
