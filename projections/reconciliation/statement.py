"""A channel's statement file: read, checked line by line, and loaded into the import's staging table.

The file is CSV, `channel_txn_id,reference,kind,amount,fee,status,time`, UTF-8 (a byte
order mark is taken), with LF or CRLF line ends; blank lines at its end are ignored.
Anything else rejects the whole file, naming the line and the offending value
(`StatementRejected`, 422 statement-rejected): a missing or wrong header, a wrong
number of fields, an empty or unprintable id, a kind or status we do not know, an
amount or fee that is not ASCII digits or is past AMOUNT_MINOR_MAX, amounts (or fees)
adding up past STATEMENT_TOTAL_MAX (they are summed in a bigint), a time that is not
ISO 8601 with an offset or lies outside 1970..9999 in UTC, a blank line inside the
file. Two lines with one channel_txn_id (or one reference) are found in SQL once the
file is loaded (`duplicate_line`), so no set of a whole file's ids is ever held in memory.

The lines stream: read, checked and written in chunks of CHUNK_LINES (COPY on
PostgreSQL, its text format written directly), so a file of any size costs the
same memory.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import IO, Any

from ledger.domain.errors import ValidationError
from ledger.domain.inputs import moment_problem
from ledger.domain.instants import iso
from ledger.domain.money import AMOUNT_MINOR_MAX
from ledger.domain.reconciliation import STATUSES

from ..store import Cursor

HEADER = ["channel_txn_id", "reference", "kind", "amount", "fee", "status", "time"]
KINDS = ("recharge", "payout")
CHUNK_LINES = 5_000
ID_LENGTH_MAX = 128  # a channel_txn_id or reference, in characters
STATEMENT_TOTAL_MAX = 2**62  # the file's amounts (and its fees) are summed in a bigint
TIME_CACHE_SIZE_MAX = 100_000  # distinct time texts remembered while reading one file
COLUMNS = ("line_no", "channel_txn_id", "reference", "kind", "amount", "fee", "status", "time")

class StatementRejected(ValidationError):
    code = "statement-rejected"


RowOf = Callable[[int, str, str, str, int, int, str, str], Any]


def read(statement: IO[bytes], row_of: RowOf = lambda *line: line) -> Iterator[Any]:
    """Every line of the statement after its header, checked, as `row_of(line_no, txn, reference,
    kind, amount, fee, status, time)`; StatementRejected at the first flaw."""
    text = io.TextIOWrapper(statement, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, strict=True)
    number = 0  # the last line read whole
    kinds, statuses, times = frozenset(KINDS), frozenset(STATUSES), dict[str, str]()
    amounts = fees = 0
    try:
        try:
            header = next(reader)
        except StopIteration:
            raise StatementRejected("line 1: the statement is empty: expected a header line") from None
        number = 1
        if header != HEADER:
            raise StatementRejected(f"line 1: the header must be {','.join(HEADER)}, got {_shown(','.join(header))}")
        blank = 0
        for number, row in enumerate(reader, start=2):
            if len(row) != 7 or blank:
                if not row or row == [""]:
                    blank = blank or number
                    continue
                if blank:
                    raise StatementRejected(f"line {blank}: a blank line inside the statement (only its end may have them)")
                raise StatementRejected(f"line {number}: expected 7 fields, got {len(row)}")
            txn, reference, kind, amount, fee, status, when = row
            # The common case in one test; the reason for a failure is found field by field.
            if not (kind in kinds and status in statuses and 0 < len(txn) <= ID_LENGTH_MAX
                    and 0 < len(reference) <= ID_LENGTH_MAX and txn.isprintable() and reference.isprintable()
                    and amount.isascii() and amount.isdigit() and len(amount) <= 16
                    and fee.isascii() and fee.isdigit() and len(fee) <= 16):
                _reject(number, row)
            units, charged = int(amount), int(fee)
            if not 0 < units <= AMOUNT_MINOR_MAX or charged > AMOUNT_MINOR_MAX:
                _reject(number, row)
            amounts += units
            fees += charged
            if amounts > STATEMENT_TOTAL_MAX or fees > STATEMENT_TOTAL_MAX:
                which = "amounts" if amounts > STATEMENT_TOTAL_MAX else "fees"
                raise StatementRejected(f"line {number}: the file's {which} add up to more than {STATEMENT_TOTAL_MAX}")
            moment = times.get(when)
            if moment is None:
                moment = _moment(number, when)
                if len(times) >= TIME_CACHE_SIZE_MAX:
                    times.clear()
                times[when] = moment
            yield row_of(number, txn, reference, kind, units, charged, status, moment)
    except (csv.Error, UnicodeDecodeError) as error:
        raise StatementRejected(f"line {number + 1}: {error}") from None
    finally:
        text.detach()


def _reject(number: int, row: list[str]) -> None:
    """Raise the reason this line is not one we take, naming the field and its value."""
    txn, reference, kind, amount, fee, status, _ = row
    for name, value in (("channel_txn_id", txn), ("reference", reference)):
        if not value or len(value) > ID_LENGTH_MAX or not value.isprintable():
            raise StatementRejected(f"line {number}: {name} must be 1-{ID_LENGTH_MAX} printable characters,"
                                    f" got {_shown(value)}")
    if kind not in KINDS:
        raise StatementRejected(f"line {number}: kind must be recharge or payout, got {_shown(kind)}")
    if _units(number, "amount", amount) == 0:
        raise StatementRejected(f"line {number}: amount must be positive, got {_shown(amount)}")
    _units(number, "fee", fee)
    raise StatementRejected(f"line {number}: status must be one of {', '.join(STATUSES)}, got {_shown(status)}")


def _units(number: int, name: str, value: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 16 or int(value) > AMOUNT_MINOR_MAX:
        raise StatementRejected(f"line {number}: {name} must be whole minor units in ASCII digits, at most"
                                f" {AMOUNT_MINOR_MAX}, got {_shown(value)}")
    return int(value)


def _moment(number: int, when: str) -> str:
    """The time as the views' fixed-width UTC text."""
    try:
        moment = datetime.fromisoformat(when.replace("Z", "+00:00")) if len(when) <= 40 else None
    except ValueError:
        moment = None
    if moment is None:
        raise StatementRejected(f"line {number}: time {_shown(when)} is not ISO 8601")
    if (problem := moment_problem(moment)) is not None:
        raise StatementRejected(f"line {number}: time {_shown(when)} {problem}")
    return iso(moment)


def _shown(value: str) -> str:
    """A value quoted for a message, cut short."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def chunks(lines: Iterator[Any], size: int = CHUNK_LINES) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _text(n: int, txn: str, ref: str, kind: str, amount: int, fee: int, status: str, when: str) -> str:
    """A line in COPY's text format (printable values need only the backslash escaped)."""
    if "\\" in txn or "\\" in ref:
        txn, ref = txn.replace("\\", "\\\\"), ref.replace("\\", "\\\\")
    return f"{n}\t{txn}\t{ref}\t{kind}\t{amount}\t{fee}\t{status}\t{when}\n"


def fields(text: str) -> tuple[int, str, str, str, int, int, str, str]:
    """A line of `_text` back: (line_no, channel_txn_id, reference, kind, amount, fee, status, time)."""
    n, txn, ref, kind, amount, fee, status, when = text.split("\t")
    if "\\" in txn or "\\" in ref:
        txn, ref = txn.replace("\\\\", "\\"), ref.replace("\\\\", "\\")
    return int(n), txn, ref, kind, int(amount), int(fee), status, when


def load(cur: Cursor, table: str, statement: IO[bytes], keep: Callable[[int, int, str], None]) -> int:
    """Read the statement into `table` (line_no, channel_txn_id, reference, kind, amount, fee,
    status, time) inside the caller's transaction; the count of lines. Each chunk of lines, as
    text (`fields` reads a line of it back), also goes to `keep(first line_no, last line_no, text)`
    once the load is done, from a temporary file: the chunks' text is never all in memory."""
    count = 0
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spool:
        kept: list[tuple[int, int, int]] = []  # first and last line, length of text: a few per 5,000 lines
        if cur.kind == "sqlite":
            sql = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
            for chunk in chunks(read(statement, _text), CHUNK_LINES):
                cur.raw.executemany(sql, [fields(line[:-1]) for line in chunk])
                count += _spool(spool, kept, chunk)
        else:
            with cur.raw.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for chunk in chunks(read(statement, _text), CHUNK_LINES):
                    text = "".join(chunk)
                    copy.write(text)
                    count += _spool(spool, kept, chunk, text)
        spool.seek(0)
        for first, last, length in kept:
            keep(first, last, spool.read(length))
    return count


def _spool(spool: IO[str], kept: list[tuple[int, int, int]], chunk: list[str], text: str | None = None) -> int:
    text = "".join(chunk) if text is None else text
    spool.write(text)
    kept.append((int(chunk[0].split("\t", 1)[0]), int(chunk[-1].split("\t", 1)[0]), len(text)))
    return len(chunk)


def duplicate_line(cur: Cursor, table: str) -> str | None:
    """Why the loaded statement is rejected for a channel_txn_id, or a reference, on two lines
    (the first such line, by its number), or None. A reference is ours, echoed: two lines with
    one would pair one payment twice."""
    if cur.kind == "postgresql":  # both in one pass
        found = cur.execute(f"SELECT channel_txn_id, reference FROM {table} GROUP BY GROUPING SETS"
                            " ((channel_txn_id), (reference)) HAVING COUNT(*) > 1 LIMIT 1")
        columns = [c for c in ("channel_txn_id", "reference") if found and found[0][c] is not None]
    else:
        columns = ["channel_txn_id", "reference"]
    for column in columns:
        if not cur.execute(f"SELECT {column} FROM {table} GROUP BY {column} HAVING COUNT(*) > 1 LIMIT 1"):
            continue
        line = cur.execute(
            f"SELECT line_no, {column} AS value FROM (SELECT line_no, {column}, ROW_NUMBER() OVER"
            f" (PARTITION BY {column} ORDER BY line_no) AS k FROM {table}) t WHERE k = 2 ORDER BY line_no LIMIT 1"
        )[0]
        return f"line {line['line_no']}: {column} {line['value']} appears twice"
    return None
