"""Lines reconciled per second: a channel's statement of --lines lines (default 1,000,000)
imported, matched and classified on PostgreSQL, against as many payments of ours.

Writing a million real payments through the simulator would take hours here, so the
ledger side is the `payments` read model filled directly with matching rows (the
statement has a few injected differences). The import is the real code path: stream,
parse and validate, load in chunks (COPY) keeping the statement's blocks, check duplicate
ids, match and classify in SQL (with the carry-over and duplicate checks; rows only for
what is not a plain match), record the summary. It also reports the WAL the import wrote.

    python bench/reconciliation.py [--lines N] [--pg-url URL] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

from common import Timer, fresh_database, machine, open_system, postgres

from projections import ViewStore

DAY = date(2026, 11, 25)
WHEN = "2026-11-25T10:00:00.000000Z"


def seed_payments(views: ViewStore, lines: int) -> None:
    rows = []
    with views.transaction() as cur:
        for n in range(lines):
            rows.append((f"pay-{n:08d}", "recharge", "bench", "acct", "withholding", "icbc", "CNY", 10_000 + n % 997,
                         "succeeded", "bigpay", f"bp-{n:08d}", 60, WHEN, WHEN))
            if len(rows) == 10_000:
                cur.executemany("INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                rows = []
        cur.executemany("INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    views.query("VACUUM ANALYZE payments")  # as autovacuum would have, in a live system


def write_statement(path: Path, lines: int) -> None:
    with path.open("w") as f:
        f.write("channel_txn_id,reference,kind,amount,fee,status,time\n")
        for n in range(lines):
            amount, fee = 10_000 + n % 997, 60
            if n % 100_000 == 1:
                amount += 1  # amount_mismatch
            if n % 100_000 == 2:
                fee += 1  # fee_mismatch
            if n % 100_000 == 3:
                continue  # missing_in_channel
            f.write(f"bp-{n:08d},pay-{n:08d},recharge,{amount},{fee},succeeded,2026-11-25T10:00:00Z\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--pg-url")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with postgres(args.pg_url) as server, tempfile.TemporaryDirectory() as folder:
        system = open_system(fresh_database(server, args.pg_url), clock=lambda: datetime(2026, 11, 26, 9, tzinfo=UTC))
        fc, views = system.ledger, system.views
        fc.register_channel("bigpay", "BigPay")  # an import names a channel of the catalog
        try:
            seed_payments(views, args.lines)
            statement = Path(folder) / "statement.csv"
            write_statement(statement, args.lines)
            before = views.query("SELECT pg_current_wal_lsn() AS lsn")[0]["lsn"]
            with Timer() as timer, statement.open("rb") as f:
                result = system.reconciler.import_statement("bigpay", DAY, f, by="bench")
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            wal = views.query("SELECT pg_current_wal_lsn() - ?::pg_lsn AS n", (str(before),))[0]["n"]
        finally:
            system.close()
    counts = {k: v["count"] for k, v in result.summary.items()}
    rate = result.lines / timer.seconds
    if args.json:
        print(json.dumps({"lines": result.lines, "lines_per_s": round(rate), "seconds": round(timer.seconds, 1),
                          "peak_mib": round(peak / 2**20, 1), "wal_mib": round(wal / 2**20, 1), "classes": counts}))
        return
    print(f"PostgreSQL 15, durable defaults; {machine()}")
    print(f"{'statement lines':<44}{result.lines:>12,}")
    print(f"{'import + match + classify, s':<44}{timer.seconds:>12.1f}")
    print(f"{'lines reconciled per second':<44}{round(rate):>12,}")
    print(f"{'peak resident memory of the process, MiB':<44}{peak / 2**20:>12.1f}")
    print(f"{'WAL written during the import, MiB':<44}{wal / 2**20:>12.1f}")
    print(f"classes: {counts}")


if __name__ == "__main__":
    main()
