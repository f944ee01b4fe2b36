"""One-by-one transfers among many accounts, against the same among a few: what reading accounts the
aggregate cache does not hold costs (ledger/aggregate_cache.py).

    python bench/many_accounts.py [--accounts N] [--events E] [--seconds S] [--pg-url URL]

Opens `--accounts` member accounts (12,000), funds each, then gives them about `--events` more
events each (20) through `transfer_many`; then `--seconds` (6) of one-by-one `transfer()`s among
the first 50 accounts, and as long among all of them, each pair drawn at random. It prints how
long the set-up took and, for each, transfers per second and the caller's CPU per transfer.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from common import Timer, fresh_system, transfer_batches

from ledger import FundCenter


def transfers_for(fc: FundCenter, accounts: list[Any], seconds: float, tag: str) -> tuple[float, float]:
    """(transfers/s, CPU us a transfer) of one-by-one transfers among `accounts` for `seconds`."""
    rng, n = random.Random(2), 0
    cpu, deadline = time.process_time(), time.perf_counter() + seconds
    with Timer() as timer:
        while time.perf_counter() < deadline:
            a, b = rng.sample(accounts, 2)
            fc.transfer(a, b, 1, "CNY", f"{tag}-{n}")
            n += 1
    return n / timer.seconds, (time.process_time() - cpu) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=12_000)
    parser.add_argument("--events", type=int, default=20, help="events each account gets before the measure")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--pg-url")
    args = parser.parse_args()
    with fresh_system(args.pg_url) as (system, header):
        fc = system.ledger
        with Timer() as setup:
            ids = [fc.open_account("member", "bench", f"u{n}", "CNY").id for n in range(args.accounts)]
            for n, account in enumerate(ids):
                fc.adjust(account, 10**9, "CNY", "credit", "bench funding", f"fund-{n}")
            transfer_batches(fc, ids, args.accounts * args.events // 200, "grow")
        few = transfers_for(fc, ids[:50], args.seconds, "few")
        many = transfers_for(fc, ids, args.seconds, "many")
    print(header)
    print(f"set-up ({args.accounts:,} accounts, about {args.events + 2} events each): {setup.seconds:.0f} s")
    for name, (rate, cpu) in (("among 50 accounts", few), (f"among all {args.accounts:,}", many)):
        print(f"  one-by-one transfer() {name:<24}{rate:8,.0f} /s  {cpu:6.0f} us of CPU a transfer")


if __name__ == "__main__":
    main()
