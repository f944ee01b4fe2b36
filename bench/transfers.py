"""Transfers per second through FundCenter on PostgreSQL, one command per transfer,
next to raw single-row INSERT commits per second on the same server in the same run.

    python bench/transfers.py [--transfers N] [--accounts K] [--pg-url URL] [--json]
"""

from __future__ import annotations

import argparse
import json
import random

from common import Timer, fresh_database, machine, open_system, postgres, raw_insert_rate, settings


def ledger_transfers(url: str, count: int, accounts: int) -> float:
    system = open_system(url)
    fc = system.ledger
    try:
        ids = []
        for n in range(accounts):
            account = fc.open_account("member", "bench", f"m{n}", "CNY")
            fc.adjust(account.id, 10**12, "CNY", "credit", "bench funding", f"fund-{n}")
            ids.append(account.id)
        rng = random.Random(1)
        for n in range(200):  # warm-up: caches, prepared statements
            a, b = rng.sample(ids, 2)
            fc.transfer(a, b, 1, "CNY", f"warm-{n}")
        with Timer() as timer:
            for n in range(count):
                a, b = rng.sample(ids, 2)
                fc.transfer(a, b, rng.randint(1, 10_000), "CNY", f"t-{n}", memo="bench")
        return count / timer.seconds
    finally:
        system.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=2000)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--pg-url", help="an existing server's database (default: start a throwaway one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with postgres(args.pg_url) as server:
        raw = raw_insert_rate(fresh_database(server, args.pg_url), count=args.transfers)
        ledger_url = fresh_database(server, args.pg_url)
        ledger = ledger_transfers(ledger_url, args.transfers, args.accounts)
        server_settings = settings(ledger_url)
    result = {"raw_insert_commits_per_s": round(raw), "transfers_per_s": round(ledger), "ratio": round(ledger / raw, 3)}
    if args.json:
        print(json.dumps(result | {"server": server_settings, "machine": machine()}))
        return
    print(f"{server_settings}; {machine()}")
    print(f"{'raw single-row INSERT commits/s':<36}{result['raw_insert_commits_per_s']:>10,}")
    print(f"{'FundCenter.transfer commands/s':<36}{result['transfers_per_s']:>10,}")
    print(f"{'ratio (FundCenter / raw)':<36}{result['ratio']:>10.3f}")


if __name__ == "__main__":
    main()
