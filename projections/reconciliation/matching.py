"""Matching and classifying a loaded statement against the ledger, in SQL.

Three sides meet, for one channel and currency and one accounting day:

- the day's statement lines (the staging table `statement_staging`);
- our payments of that channel and currency whose outcome was booked in the day's
  window (the `payments` read model);
- the differences waiting from earlier days (carry-over: `reconciliation_waiting`,
  copied into `reconciliation_carry` for this import).

Each line is paired with a payment by our reference (the channel echoes it), else
by channel transaction id. A line that a waiting difference claims (the same payment,
or, for a line we never knew, the same channel txn id) is that difference carried over:
it is classified here, marked with the day it came from, and that day's wait ends when
this day closes. A waiting difference whose channel line we had, and whose payment has
reached its outcome since, is carried over without a line of this day.

A line is a `duplicate`, not paired, when what it names was reconciled on another
day already: its payment was claimed by an earlier day's line outside that day's own
window (a late outcome, a carried one), or was booked in the window of another day's
reconciliation; its channel txn id is another payment's; or the channel reported
that txn id, unknown to us, on another day. So a line on a later file is never booked
twice. Those checks read small sets (lines outside their day's window, lines unknown
to us: partial indexes) and run per line only where a cheap test says they might
apply. The file and the day's payments meet in one hash (full) join on our reference,
which also yields our payments no line names; so a million lines match in one pass.
(The file names each channel txn id and each reference once: `statement.duplicate_line`.)

Lines are numbered: the statement's line n is seq n - 1; then our payments the file
lacks; then the carried differences with no line of this day.

What is written is narrow. A line that matched plainly (paired by its reference with a
payment of the day, the same channel txn id, amount, status and fee, nothing carried or
claimed: nearly every line of a normal day) gets no row: the statement's own lines are
kept as the import loaded them, a text block per chunk (`reconciliation_statement_blocks`),
with the totals of the plain matches (`reconciliation_matched`); every other line (a
difference, a line carried over, one paired by channel txn id or off the day's window)
is a full row of `reconciliation_lines`. `reports` puts the two together: a statement line
with no row is a plain match, both sides the statement's figures.
"""

from __future__ import annotations

from collections.abc import Callable

from ledger.domain.reconciliation import MATCHED
from ledger.reconciliation import ClassTotals

from ..store import Cursor

STAGING = "statement_staging"
CARRY = "reconciliation_carry"
LINES, BLOCKS, PLAIN = "reconciliation_lines", "reconciliation_statement_blocks", "reconciliation_matched"
FINAL = "('succeeded', 'failed', 'returned')"
LINE_COLUMNS = (
    "reconciliation_id, seq, class, payment_id, reference, channel_txn_id, kind, our_amount, our_fee, our_status,"
    " their_amount, their_fee, their_status, their_time, carried_from, carried_seq, carried_day, note, off_window"
)


TOTALS = ("SELECT class, COUNT(*) AS count, COALESCE(SUM(our_amount), 0) AS our_amount,"
          " COALESCE(SUM(their_amount), 0) AS their_amount, COALESCE(SUM(our_fee), 0) AS our_fee,"
          " COALESCE(SUM(their_fee), 0) AS their_fee, COUNT(our_status) AS ours, COUNT(carried_from) AS carried")


# What a line means for the channel's pending_reconciliation, in SQL (ledger.domain.reconciliation.net).
NET_SQL = ("CASE WHEN {p}status = 'succeeded' THEN CASE WHEN kind = 'payout' THEN -({p}amount + {p}fee)"
           " ELSE {p}amount - {p}fee END WHEN {p}status = 'returned' THEN CASE WHEN kind = 'payout'"
           " THEN -{p}fee ELSE {p}amount - {p}fee END ELSE 0 END")


def clear(cur: Cursor, rid: str) -> None:
    """What an earlier attempt at this import left (its transaction rolled back, or the record failed)."""
    for table in (LINES, BLOCKS, PLAIN):
        cur.execute(f"DELETE FROM {table} WHERE reconciliation_id = ?", (rid,))


def keep_block(cur: Cursor, rid: str) -> Callable[[int, int, str], None]:
    """Where `statement.load` puts each chunk of the statement's lines (line numbers: seq + 1)."""
    def keep(first: int, last: int, text: str) -> None:
        cur.execute(f"INSERT INTO {BLOCKS} (reconciliation_id, first_seq, last_seq, lines) VALUES (?, ?, ?, ?)",
                    (rid, first - 1, last - 1, text))
    return keep


def _classify(their: str, ours: str) -> str:
    return (f"CASE WHEN {their}.status IS NULL THEN 'missing_in_channel' WHEN {ours}.id IS NULL THEN 'missing_in_ledger'"
            f" WHEN {their}.amount != {ours}.amount THEN 'amount_mismatch' WHEN {their}.status != {ours}.status"
            f" THEN 'status_mismatch' WHEN {their}.fee != {ours}.fee THEN 'fee_mismatch' ELSE 'matched' END")


def create_scratch(cur: Cursor) -> None:
    """The import's own tables, gone at the end of its transaction."""
    if cur.kind == "postgresql":
        # The day's hash joins and set differences in memory; the staged file in memory too (this
        # takes on a connection's first temporary table only: a pooled connection keeps it); and no
        # JIT: compiling this plan's expressions took longer (over a second) than running them.
        cur.execute("SET LOCAL work_mem = '256MB'")
        cur.execute("SET LOCAL temp_buffers = '128MB'")
        cur.execute("SET LOCAL jit = off")
    drop = " ON COMMIT DROP" if cur.kind == "postgresql" else ""
    drop_scratch(cur)
    cur.execute(f"CREATE TEMP TABLE {STAGING} (line_no BIGINT NOT NULL, channel_txn_id TEXT NOT NULL,"
                " reference TEXT NOT NULL, kind TEXT NOT NULL, amount BIGINT NOT NULL, fee BIGINT NOT NULL,"
                f" status TEXT NOT NULL, time TEXT NOT NULL){drop}")
    cur.execute(f"CREATE TEMP TABLE {CARRY} (reconciliation_id TEXT NOT NULL, seq BIGINT NOT NULL, payment_id TEXT,"
                " channel_txn_id TEXT, reference TEXT, kind TEXT, amount BIGINT, fee BIGINT, status TEXT, time TEXT,"
                f" our_status TEXT, since TEXT NOT NULL){drop}")


def drop_scratch(cur: Cursor) -> None:
    if cur.kind == "sqlite":
        for table in (STAGING, CARRY):
            cur.execute(f"DROP TABLE IF EXISTS temp.{table}")


def collect_waiting(cur: Cursor, rid: str, channel: str, currency: str, day: str) -> None:
    """The differences of this channel and currency waiting from earlier days, except those a line
    of another reconciliation (not superseded) has carried over already, pending its close."""
    cur.execute(
        f"INSERT INTO {CARRY} SELECT w.reconciliation_id, w.seq, l.payment_id, l.channel_txn_id, l.reference, l.kind,"
        " l.their_amount, l.their_fee, l.their_status, l.their_time, l.our_status, COALESCE(l.carried_day, w.day)"
        " FROM reconciliation_waiting w JOIN reconciliation_lines l"
        " ON l.reconciliation_id = w.reconciliation_id AND l.seq = w.seq"
        " WHERE w.channel = ? AND w.currency = ? AND w.day < ? AND NOT EXISTS (SELECT 1 FROM reconciliation_lines o"
        " JOIN reconciliations r ON r.id = o.reconciliation_id WHERE o.carried_from = w.reconciliation_id"
        " AND o.carried_seq = w.seq AND r.status != 'superseded' AND r.id != ?)",
        (channel, currency, day, rid),
    )


def match(cur: Cursor, rid: str, channel: str, currency: str, day: str, start: str, end: str, lines: int) -> None:
    """Write `reconciliation_lines` for this import (see the module's docstring)."""
    if cur.kind == "postgresql":
        cur.execute(f"ANALYZE {STAGING}")
    other_days = "r.channel = ? AND r.day != ? AND r.status != 'superseded'"
    claimed = ("SELECT DISTINCT o.payment_id FROM reconciliation_lines o JOIN reconciliations r"
               f" ON r.id = o.reconciliation_id WHERE o.off_window = 1 AND o.payment_id IS NOT NULL AND {other_days}")
    # The carry-over and the other days' claims are most often empty: then their joins (a pass over
    # every line each) are left out.
    carry = bool(cur.execute(f"SELECT 1 FROM {CARRY} LIMIT 1"))
    claims = bool(cur.execute(f"{claimed} LIMIT 1", (channel, day)))
    # A plain match: paired by reference with a payment of the day, the same txn id, amount, status
    # and fee, and nothing carried over or claimed by another day names it. It gets no row here.
    plain = (
        "s.line_no IS NOT NULL AND w.id IS NOT NULL AND (w.channel_txn_id IS NULL OR w.channel_txn_id ="
        " s.channel_txn_id) AND s.amount = w.amount AND s.status = w.status AND s.fee = w.fee" + (
            f" AND w.id NOT IN (SELECT payment_id FROM {CARRY} WHERE payment_id IS NOT NULL) AND s.channel_txn_id"
            f" NOT IN (SELECT channel_txn_id FROM {CARRY} WHERE payment_id IS NULL AND channel_txn_id IS NOT NULL)"
            if carry else "") + (f" AND w.id NOT IN ({claimed})" if claims else "")
    )
    # Every other line with its payment, and our day's payments no line names, in one hash join (a
    # full join of the file and the day's payments, on our reference); the few rows it keeps are
    # computed once (a materialized CTE). A line whose reference is not a payment of the day is
    # paired per line: with the payment its reference names (another day's), else with the one its
    # channel txn id names.
    joined = (
        "SELECT s.line_no, s.channel_txn_id, s.reference, s.kind, s.amount, s.fee, s.status, s.time, w.id AS w_id,"
        " w.channel_txn_id AS w_txn, w.kind AS w_kind, w.amount AS w_amount, w.fee AS w_fee, w.status AS w_status,"
        " w.settled_at AS w_settled, CASE WHEN s.line_no IS NULL THEN NULL WHEN w.id IS NOT NULL THEN w.id ELSE"
        " COALESCE((SELECT t.id FROM payments t WHERE t.id = s.reference AND t.channel = ? AND t.currency = ?),"
        " (SELECT MIN(t.id) FROM payments t WHERE t.channel = ? AND t.currency = ? AND t.channel_txn_id = s.channel_txn_id))"
        f" END AS pid FROM {STAGING} s FULL OUTER JOIN (SELECT id, channel_txn_id, kind, amount, fee, status, settled_at"
        f" FROM payments WHERE channel = ? AND currency = ? AND status IN {FINAL} AND settled_at >= ?"
        f" AND settled_at < ?) w ON w.id = s.reference WHERE NOT COALESCE({plain}, FALSE)"
    )

    def figure(name: str, column: str = "") -> str:
        return (f"CASE WHEN s0.w_id IS NOT NULL THEN s0.w_{name} WHEN s0.pid IS NOT NULL THEN"
                f" (SELECT t.{column or name} FROM payments t WHERE t.id = s0.pid) END AS p_{name}")

    paired = (
        "SELECT s0.*, CASE WHEN s0.w_id IS NOT NULL THEN s0.w_txn WHEN s0.pid = s0.reference THEN"
        " (SELECT t.channel_txn_id FROM payments t WHERE t.id = s0.pid) END AS ref_txn,"
        " CASE WHEN s0.w_id IS NOT NULL THEN s0.w_id WHEN s0.pid IS NOT NULL THEN (SELECT t.id FROM payments t"
        f" WHERE t.id = s0.pid AND t.status IN {FINAL}) END AS p_id, {figure('amount')}, {figure('fee')},"
        f" {figure('status')}, {figure('settled', 'settled_at')} FROM s s0 WHERE s0.line_no IS NOT NULL"
    )
    met = "SELECT s.*, " + (
        "COALESCE(cp.reconciliation_id, ct.reconciliation_id) AS carried_from, COALESCE(cp.seq, ct.seq) AS carried_seq,"
        " COALESCE(cp.since, ct.since) AS carried_day" if carry else
        "CAST(NULL AS TEXT) AS carried_from, CAST(NULL AS BIGINT) AS carried_seq, CAST(NULL AS TEXT) AS carried_day"
    ) + (", x.payment_id AS claimed" if claims else ", CAST(NULL AS TEXT) AS claimed") + f" FROM ({paired}) s" + (
        f" LEFT JOIN {CARRY} cp ON cp.payment_id = s.pid"
        f" LEFT JOIN {CARRY} ct ON ct.payment_id IS NULL AND ct.channel_txn_id = s.channel_txn_id" if carry else ""
    ) + (f" LEFT JOIN ({claimed}) x ON x.payment_id = s.pid" if claims else "")
    duplicate = (
        "CASE WHEN m.carried_from IS NOT NULL THEN NULL"
        " WHEN m.claimed IS NOT NULL THEN 'payment ' || m.pid || ' was reconciled on another day'"
        " WHEN m.pid IS NULL AND EXISTS (SELECT 1 FROM reconciliation_lines o JOIN reconciliations r"
        f" ON r.id = o.reconciliation_id WHERE o.payment_id IS NULL AND o.channel_txn_id = m.channel_txn_id"
        f" AND {other_days}) THEN 'the channel reported ' || m.channel_txn_id || ' on another day'"
        " WHEN m.p_id IS NOT NULL AND (m.p_settled < ? OR m.p_settled >= ?) AND EXISTS (SELECT 1 FROM reconciliations r"
        f" WHERE {other_days} AND r.currency = ? AND r.starts_at <= m.p_settled AND m.p_settled < r.ends_at)"
        " THEN 'payment ' || m.pid || ' was booked on another reconciled day'"
        " WHEN m.ref_txn IS NOT NULL AND m.ref_txn != m.channel_txn_id AND EXISTS (SELECT 1 FROM payments t"
        " WHERE t.channel = ? AND t.channel_txn_id = m.channel_txn_id AND t.id != m.pid)"
        " THEN 'channel_txn_id ' || m.channel_txn_id || ' is another payment''s' END"
    )
    ours = "CASE WHEN d.dup IS NULL AND d.p_id IS NOT NULL THEN d.p_{0} END"
    # One statement: the lines (seq = line number - 1), then our payments no line named (after them).
    insert = (
        f"INSERT INTO reconciliation_lines ({LINE_COLUMNS}) SELECT ?, d.line_no - 1,"
        " CASE WHEN d.dup IS NOT NULL THEN 'duplicate' WHEN d.p_id IS NULL THEN 'missing_in_ledger'"
        " WHEN d.amount != d.p_amount THEN 'amount_mismatch' WHEN d.status != d.p_status THEN 'status_mismatch'"
        " WHEN d.fee != d.p_fee THEN 'fee_mismatch' ELSE 'matched' END,"
        f" d.pid, d.reference, d.channel_txn_id, d.kind, {ours.format('amount')}, {ours.format('fee')},"
        f" {ours.format('status')}, d.amount, d.fee, d.status, d.time, d.carried_from, d.carried_seq, d.carried_day,"
        " d.dup, CASE WHEN d.dup IS NULL AND d.pid IS NOT NULL AND (d.p_id IS NULL OR d.carried_from IS NOT NULL"
        " OR d.p_settled < ? OR d.p_settled >= ?) THEN 1 ELSE 0 END FROM d"
        " UNION ALL SELECT ?, ? + ROW_NUMBER() OVER (ORDER BY o.w_id), 'missing_in_channel', o.w_id, o.w_id,"
        " o.w_txn, CASE WHEN o.w_kind = 'withdrawal' THEN 'payout' ELSE 'recharge' END, o.w_amount, o.w_fee,"
        " o.w_status, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0 FROM s o WHERE o.line_no IS NULL"
        " AND o.w_id NOT IN (SELECT pid FROM s WHERE pid IS NOT NULL AND pid != reference)"
        f" AND o.w_id NOT IN (SELECT payment_id FROM {CARRY} WHERE payment_id IS NOT NULL)"
        f" AND o.w_id NOT IN ({claimed})"
    )
    cur.execute(
        f"WITH s AS MATERIALIZED ({joined}), m AS ({met}), d AS (SELECT m.*, {duplicate} AS dup FROM m) {insert}",
        (channel, currency, channel, currency, channel, currency, start, end,  # joined
         *((channel, day) if claims else ()),  # joined: plain
         *((channel, day) if claims else ()),  # met: claimed
         channel, day, start, end, channel, day, currency, channel,  # duplicate
         rid, start, end,  # the lines
         rid, lines, channel, day),  # our payments no line named
    )
    top = cur.execute("SELECT MAX(seq) AS n FROM reconciliation_lines WHERE reconciliation_id = ?", (rid,))[0]["n"]
    top = max(int(top or 0), lines)  # the last lines of the file may be plain matches: no rows
    cur.execute(
        f"INSERT INTO reconciliation_lines ({LINE_COLUMNS}) SELECT ?, ? + ROW_NUMBER() OVER"
        f" (ORDER BY c.reconciliation_id, c.seq), {_classify('c', 'p')}, c.payment_id, c.reference, c.channel_txn_id,"
        " c.kind, p.amount, p.fee, p.status, c.amount, c.fee, c.status, c.time, c.reconciliation_id, c.seq, c.since,"
        f" NULL, 1 FROM {CARRY} c JOIN payments p ON p.id = c.payment_id AND p.status IN {FINAL}"
        " WHERE c.status IS NOT NULL AND c.our_status IS NULL AND NOT EXISTS (SELECT 1 FROM reconciliation_lines l"
        " WHERE l.reconciliation_id = ? AND l.carried_from = c.reconciliation_id AND l.carried_seq = c.seq)",
        (rid, top, rid),
    )


def record_matched(cur: Cursor, rid: str, lines: int) -> None:
    """The totals of the plain matches (the statement's lines with no row): the file's, less its
    lines' with a row."""
    net = NET_SQL.format(p="")
    file = cur.execute(f"SELECT COUNT(*) AS count, COALESCE(SUM(amount), 0) AS amount, COALESCE(SUM(fee), 0) AS fee,"
                       f" COALESCE(SUM({net}), 0) AS net FROM {STAGING}")[0]
    rows = cur.execute(
        f"SELECT COUNT(*) AS count, COALESCE(SUM(their_amount), 0) AS amount, COALESCE(SUM(their_fee), 0) AS fee,"
        f" COALESCE(SUM({NET_SQL.format(p='their_')}), 0) AS net FROM {LINES} WHERE reconciliation_id = ? AND seq <= ?",
        (rid, lines))[0]
    plain = {k: int(file[k]) - int(rows[k]) for k in ("count", "amount", "fee", "net")}
    assert plain["count"] >= 0 and int(file["count"]) == lines, (plain, file, lines)
    cur.execute(f"INSERT INTO {PLAIN} (reconciliation_id, count, amount, fee, net) VALUES (?, ?, ?, ?, ?)",
                (rid, plain["count"], plain["amount"], plain["fee"], plain["net"]))


def summary(cur: Cursor, rid: str) -> tuple[dict[str, ClassTotals], int]:
    """Per class: count, our and their amounts and fees, and how many were carried over; and the
    count of lines with our side."""
    rows = cur.execute(f"{TOTALS} FROM {LINES} WHERE reconciliation_id = ? GROUP BY class", (rid,))
    classes = {r["class"]: ClassTotals(**{k: int(v) for k, v in r.items() if k not in ("class", "ours")}) for r in rows}
    ours = sum(int(r["ours"]) for r in rows)
    for plain in cur.execute(f"SELECT count, amount, fee FROM {PLAIN} WHERE reconciliation_id = ?", (rid,)):
        count, amount, fee = int(plain["count"]), int(plain["amount"]), int(plain["fee"])
        if count:
            row = classes.get(MATCHED, ClassTotals(0, 0, 0, 0, 0))
            classes[MATCHED] = ClassTotals(row.count + count, row.our_amount + amount, row.their_amount + amount,
                                                 row.our_fee + fee, row.their_fee + fee, row.carried)
            ours += count
    return classes, ours
