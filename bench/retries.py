"""What a client's retry costs the writer: a batch holding the repeat of a transfer the aggregate
cache no longer holds, against the same batch without it.

    python bench/retries.py [--accounts N] [--growth B] [--batch K] [--rounds R] [--pg-url URL]

`--accounts` accounts (32) are given about `--growth` x 100 x 2 / N events each through
`transfer_many` (70 batches: about 430 events an account, below the first snapshot at 500, so
that reading one from the store replays all of them, the most a snapshot interval allows).
Then, `--rounds` times: a transfer is made and dropped from the cache (as 10,000 newer
aggregates drop it), and `--batch` transfers (16) are queued behind the paused writer, its
retry among them, so that they run as one batch; then the same batch without a retry. It
prints the writer's time for each (the clock and this process's CPU), medians over the rounds.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import threading
import time
from typing import Any

from common import fresh_system, transfer_batches
from goals import open_funded

from ledger import FundCenter


def transfers(fc: FundCenter, ids: list[Any], count: int, tag: str) -> list[Any]:
    """`count` transfers (functions of no arguments), each between two neighbours among the accounts."""
    n = len(ids)
    return [functools.partial(fc.transfer, ids[k % n], ids[(k + 1) % n], 1, "CNY", f"{tag}-{k}") for k in range(count)]


def one_batch(fc: FundCenter, calls: list[Any]) -> tuple[float, float, list[Any]]:
    """The calls queued behind the paused writer, so that they run as one batch: (seconds, CPU seconds, answers)."""
    answers: list[Any] = [None] * len(calls)
    threads = []
    with fc.writer.paused():
        for n, call in enumerate(calls):
            threads.append(threading.Thread(target=lambda n=n, call=call: answers.__setitem__(n, call())))
            threads[-1].start()
            while fc.writer.waiting() < n + 1:
                time.sleep(0.0005)
        started, cpu = time.perf_counter(), time.process_time()
    for t in threads:
        t.join()
    return time.perf_counter() - started, time.process_time() - cpu, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=32)
    parser.add_argument("--growth", type=int, default=70, help="batches of 100 transfers among the accounts first")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pg-url")
    args = parser.parse_args()
    with fresh_system(args.pg_url) as (system, header):
        fc = system.ledger
        ids = open_funded(fc, "bench", args.accounts, "r")
        transfer_batches(fc, ids, args.growth, "grow")
        with_retry, without = [], []
        for r in range(args.rounds):
            first = fc.transfer(ids[0], ids[1], 1, "CNY", f"old-{r}")
            fc.unit_of_work.evict([first.id])
            calls = transfers(fc, ids, args.batch - 1, f"new-{r}")
            middle = len(calls) // 2
            calls.insert(middle, functools.partial(fc.transfer, ids[0], ids[1], 1, "CNY", f"old-{r}"))
            seconds, cpu, answers = one_batch(fc, calls)
            assert answers[middle] == first, "the retry answers with the first outcome"
            with_retry.append((seconds, cpu))
            plain = transfers(fc, ids, args.batch, f"plain-{r}")
            seconds, cpu, _ = one_batch(fc, plain)
            without.append((seconds, cpu))
    print(header)
    versions = args.growth * 200 // args.accounts
    print(f"a batch of {args.batch} transfers among {args.accounts} accounts of about {versions} events, medians of {args.rounds}:")
    for name, runs in (("with the retry of an uncached transfer", with_retry), ("without", without)):
        wall, cpu = statistics.median(s for s, _ in runs) * 1e3, statistics.median(c for _, c in runs) * 1e3
        print(f"  {name:<40}{wall:8.1f} ms  ({cpu:.1f} ms of CPU)")


if __name__ == "__main__":
    main()
