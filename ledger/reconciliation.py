"""Reconciliation: import a channel's statement for a day, match it, resolve, close.

The statement streams into `statement_lines` in chunks, inside one transaction
(a malformed line rejects the whole file, naming the line and why; nothing is
imported). Matching and classifying are SQL over that table and the `payments`
read model, so a statement of any size is reconciled in bounded memory. The
`Reconciliation` aggregate records the import's summary, each resolution (who,
which action, why, which transfers) and the close.

The accounting day (日切) is [cut-off on `day`, cut-off on the next day) in the
configured time zone; a payment belongs to the day its outcome was booked.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import IO, Any
from uuid import UUID

from .application import FundCenter
from .domain import ids
from .domain.accounting_day import AccountingDay
from .domain.errors import NotFound, ValidationError
from .domain.inputs import check_code, check_text
from .domain.money import check_currency
from .domain.reconciliation import CLASSES, MATCHED, STATUSES, DayClosed, Reconciliation, net

HEADER = ["channel_txn_id", "reference", "kind", "amount", "fee", "status", "time"]
CHUNK_LINES = 5_000


class StatementRejected(ValidationError):
    code = "statement-rejected"


class DifferenceNotFound(NotFound):
    pass


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Reconciler:
    def __init__(self, ledger: FundCenter, store: Any, accounting_day: AccountingDay | None = None,
                 catch_up: Callable[[], Any] | None = None) -> None:
        self.ledger, self.store = ledger, store
        self.accounting_day = accounting_day or AccountingDay()
        self.catch_up = catch_up or (lambda: None)

    # -- import and match -------------------------------------------------------------------

    def import_statement(self, channel: str, day: date, statement: IO[bytes], by: str, currency: str = "CNY") -> Reconciliation:
        check_code(channel, "channel")
        check_currency(currency)
        digest = hashlib.sha256()
        for chunk in iter(lambda: statement.read(1 << 20), b""):
            digest.update(chunk)
        statement.seek(0)
        file_hash = digest.hexdigest()
        reconciliation_id = ids.command_id("reconciliation", f"{channel}/{day.isoformat()}/{file_hash}")
        try:
            return self.ledger.get_reconciliation(reconciliation_id)  # the same file again: nothing changes
        except NotFound:
            pass
        closed = self.ledger.reconciled_day(channel, day.isoformat())
        if closed is not None:
            raise DayClosed(f"{channel} {day.isoformat()} was already reconciled and closed by reconciliation"
                            f" {closed.reconciliation_id}")
        self.catch_up()  # match against the ledger as it is now
        start, end = self.accounting_day.window(day)
        rid = str(reconciliation_id)
        with self.store.transaction() as cur:
            cur.execute("DELETE FROM statement_lines WHERE reconciliation_id = ?", (rid,))
            cur.execute("DELETE FROM reconciliation_lines WHERE reconciliation_id = ?", (rid,))
            lines = 0
            for chunk in _chunks(_parse(statement), CHUNK_LINES):
                cur.copy("statement_lines", ("reconciliation_id", "line_no", "channel_txn_id", "reference", "kind",
                                             "amount", "fee", "status", "time"), [(rid, *row) for row in chunk])
                lines += len(chunk)
            _match(cur, rid, channel, start, end)
            summary = _summary(cur, rid)
            ours = cur.execute(
                "SELECT COUNT(*) AS n FROM reconciliation_lines WHERE reconciliation_id = ? AND our_status IS NOT NULL",
                (rid,),
            )[0]["n"]
        return self.ledger.record_import(reconciliation_id, channel, day.isoformat(), file_hash, lines, int(ours), summary, by)

    # -- resolve and close --------------------------------------------------------------------

    def resolve(self, reconciliation_id: UUID, seq: int, action: str, by: str, reason: str, currency: str = "CNY") -> Reconciliation:
        check_text(reason, "reason", required=True)
        reconciliation = self.ledger.get_reconciliation(reconciliation_id)
        line = self.difference(reconciliation_id, seq)
        reconciliation.check_resolvable(seq, line["class"], action)
        key = f"{reconciliation_id}/{seq}/{action}"
        transfers: list[UUID] = []
        if action == "complete":
            transfers = self._complete(line, reason)
        elif action == "reverse":
            transfers = [t.id for t in self._reverse(line, reason, key)]
        elif action in ("book_difference", "write_off"):
            delta = net(line["kind"], line["their_amount"], line["their_fee"], line["their_status"]) - net(
                line["kind"], line["our_amount"], line["our_fee"], line["our_status"])
            if delta:
                transfer = self.ledger.post_difference(
                    key, reconciliation.channel, currency, delta, f"{action}: {reason}",
                    {"reconciliation": str(reconciliation_id), "difference": str(seq), "day": reconciliation.day},
                )
                transfers = [transfer.id]
        return self.ledger.record_resolution(reconciliation_id, seq, line["class"], action, by, reason, transfers)

    def close(self, reconciliation_id: UUID, by: str, currency: str = "CNY") -> Reconciliation:
        reconciliation = self.ledger.get_reconciliation(reconciliation_id)
        reconciliation.check_can_close()
        waiting = {int(seq) for seq, r in reconciliation.resolutions.items() if r["action"] == "wait"}
        moved = 0
        for row in self.store.stream(
            "SELECT seq, kind, their_amount, their_fee, their_status FROM reconciliation_lines"
            " WHERE reconciliation_id = ? ORDER BY seq", (str(reconciliation_id),),
        ):
            if row["seq"] not in waiting:
                moved += net(row["kind"], row["their_amount"], row["their_fee"], row["their_status"])
        return self.ledger.close_reconciliation(reconciliation_id, currency, moved, by)

    # -- reports -------------------------------------------------------------------------------

    def difference(self, reconciliation_id: UUID, seq: int) -> dict[str, Any]:
        rows = self.store.query(
            "SELECT * FROM reconciliation_lines WHERE reconciliation_id = ? AND seq = ? AND class != ?",
            (str(reconciliation_id), seq, MATCHED),
        )
        if not rows:
            raise DifferenceNotFound(f"difference {seq} of reconciliation {reconciliation_id} not found")
        return rows[0]

    def lines(self, reconciliation_id: UUID, *, differences_only: bool = False, after: int = 0,
              limit: int = 100) -> list[dict[str, Any]]:
        sql = "SELECT * FROM reconciliation_lines WHERE reconciliation_id = ? AND seq > ?"
        params: list[Any] = [str(reconciliation_id), after]
        if differences_only:
            sql += " AND class != ?"
            params.append(MATCHED)
        return self.store.query(sql + " ORDER BY seq LIMIT ?", (*params, limit))

    def csv_report(self, reconciliation_id: UUID, kind: str, part: str) -> Iterator[str]:
        """Fund or fee reconciliation, summary or detail, as CSV text, a row at a time."""
        reconciliation = self.ledger.get_reconciliation(reconciliation_id)
        field = "amount" if kind == "fund" else "fee"
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")

        def flush() -> str:
            text = out.getvalue()
            out.seek(0)
            out.truncate()
            return text

        if part == "summary":
            writer.writerow(["class", "count", f"our_{field}", f"their_{field}"])
            for name in (MATCHED, *CLASSES):
                row = reconciliation.summary.get(name, {})
                writer.writerow([name, row.get("count", 0), row.get(f"our_{field}", 0), row.get(f"their_{field}", 0)])
            yield flush()
            return
        writer.writerow(["seq", "class", "channel_txn_id", "reference", "kind", f"our_{field}", f"their_{field}",
                         "our_status", "their_status", "resolution"])
        yield flush()
        for row in self.store.stream(
            "SELECT * FROM reconciliation_lines WHERE reconciliation_id = ? ORDER BY seq", (str(reconciliation_id),)
        ):
            resolution = reconciliation.resolutions.get(str(row["seq"]), {}).get("action", "")
            writer.writerow([row["seq"], row["class"], row["channel_txn_id"], row["reference"], row["kind"],
                             row[f"our_{field}"], row[f"their_{field}"], row["our_status"], row["their_status"], resolution])
            yield flush()

    # -- the actions that post -------------------------------------------------------------------

    def _complete(self, line: dict[str, Any], reason: str) -> list[UUID]:
        if line["payment_id"] is None:
            raise ValidationError("this line names no payment of ours: book it to difference or write it off")
        payment = self.ledger.get_payment(UUID(line["payment_id"]))
        if payment.is_final:
            raise ValidationError(f"payment {payment.id} is already {payment.status}: book the difference or write it off")
        settled = self.ledger.settle_payment(
            payment.id, line["their_status"], channel_txn_id=line["channel_txn_id"], fee=line["their_fee"] or 0,
            reason=f"completed from the statement: {reason}",
        )
        return list(settled.transfer_ids)

    def _reverse(self, line: dict[str, Any], reason: str, key: str) -> list[Any]:
        if line["payment_id"] is None or line["kind"] != "recharge" or line["our_status"] != "succeeded":
            raise ValidationError("only a recharge we booked as succeeded can be reversed")
        return self.ledger.reverse_payment(UUID(line["payment_id"]), f"reconciliation: {reason}", key)


# -- parsing and matching ------------------------------------------------------------------------


def _parse(statement: IO[bytes]) -> Iterator[tuple[Any, ...]]:
    text = io.TextIOWrapper(statement, encoding="utf-8", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise StatementRejected("the statement is empty: expected a header line") from None
    except (csv.Error, UnicodeDecodeError) as error:
        raise StatementRejected(f"line 1: {error}") from None
    if header != HEADER:
        raise StatementRejected(f"line 1: the header must be {','.join(HEADER)}")
    seen: set[str] = set()
    number = 1
    try:
        for number, row in enumerate(reader, start=2):
            yield _line(number, row, seen)
    except (csv.Error, UnicodeDecodeError) as error:
        raise StatementRejected(f"line {number + 1}: {error}") from None
    finally:
        text.detach()


def _line(number: int, row: list[str], seen: set[str]) -> tuple[Any, ...]:
    def bad(why: str) -> StatementRejected:
        return StatementRejected(f"line {number}: {why}")

    if len(row) != len(HEADER):
        raise bad(f"expected {len(HEADER)} fields, got {len(row)}")
    txn, reference, kind, amount, fee, status, when = row
    if not txn or not reference:
        raise bad("channel_txn_id and reference are required")
    if txn in seen:
        raise bad(f"channel_txn_id {txn} appears twice")
    if len(seen) < 5_000_000:
        seen.add(txn)
    if kind not in ("recharge", "payout"):
        raise bad(f"kind must be recharge or payout, got {kind!r}")
    if not amount.isdigit() or int(amount) <= 0 or not fee.isdigit():
        raise bad("amount must be a positive integer and fee a non-negative integer of minor units")
    if status not in STATUSES:
        raise bad(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    try:
        moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        raise bad(f"time {when!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        raise bad("time needs a time zone")
    return number, txn, reference, kind, int(amount), int(fee), status, _iso(moment.astimezone(UTC))


def _chunks(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _match(cur: Any, rid: str, channel: str, start: str, end: str) -> None:
    """Pair each line with our payment (by channel transaction id, else by our reference),
    then classify every line of either side."""
    cur.execute(
        "UPDATE statement_lines SET payment_id = (SELECT p.id FROM payments p WHERE p.channel = ?"
        " AND p.channel_txn_id = statement_lines.channel_txn_id) WHERE reconciliation_id = ?",
        (channel, rid),
    )
    cur.execute(
        "UPDATE statement_lines SET payment_id = reference WHERE reconciliation_id = ? AND payment_id IS NULL"
        " AND EXISTS (SELECT 1 FROM payments p WHERE p.id = statement_lines.reference AND p.channel = ?)",
        (rid, channel),
    )
    ours = (
        "SELECT id, channel_txn_id, CASE WHEN kind = 'withdrawal' THEN 'payout' ELSE 'recharge' END AS kind,"
        " amount, fee, status FROM payments WHERE channel = ? AND status IN ('succeeded', 'failed', 'returned')"
        " AND settled_at >= ? AND settled_at < ?"
    )
    cur.execute(
        "INSERT INTO reconciliation_lines (reconciliation_id, seq, class, payment_id, reference, channel_txn_id, kind,"
        " our_amount, our_fee, our_status, their_amount, their_fee, their_status)"
        " SELECT ?, ROW_NUMBER() OVER (ORDER BY s.line_no, p.id), CASE"
        "  WHEN s.line_no IS NULL THEN 'missing_in_channel'"
        "  WHEN p.id IS NULL THEN 'missing_in_ledger'"
        "  WHEN s.amount != p.amount THEN 'amount_mismatch'"
        "  WHEN s.status != p.status THEN 'status_mismatch'"
        "  WHEN s.fee != p.fee THEN 'fee_mismatch'"
        "  ELSE 'matched' END,"
        " COALESCE(p.id, s.payment_id), COALESCE(s.reference, p.id), COALESCE(s.channel_txn_id, p.channel_txn_id),"
        " COALESCE(s.kind, p.kind), p.amount, p.fee, p.status, s.amount, s.fee, s.status"
        f" FROM (SELECT * FROM statement_lines WHERE reconciliation_id = ?) s FULL OUTER JOIN ({ours}) p"
        " ON s.payment_id = p.id",
        (rid, rid, channel, start, end),
    )


def _summary(cur: Any, rid: str) -> dict[str, dict[str, int]]:
    rows = cur.execute(
        "SELECT class, COUNT(*) AS count, COALESCE(SUM(our_amount), 0) AS our_amount,"
        " COALESCE(SUM(their_amount), 0) AS their_amount, COALESCE(SUM(our_fee), 0) AS our_fee,"
        " COALESCE(SUM(their_fee), 0) AS their_fee FROM reconciliation_lines WHERE reconciliation_id = ? GROUP BY class",
        (rid,),
    )
    return {r["class"]: {k: int(v) for k, v in r.items() if k != "class"} for r in rows}
