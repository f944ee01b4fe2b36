"""Projection catch-up rate (events per second) and `replay --verify` time on PostgreSQL.

Writes a log of at least --events events through FundCenter (transfers among
--accounts members, with a hold and release every tenth command), then times
the runner catching empty views up to the head, and a full replay-and-verify.
With `--rounds R` the catch-up runs R times, each on a fresh copy of the log's
database (CREATE DATABASE ... TEMPLATE) with empty views, and the best, median
and worst rates are shown: one log, several catch-ups, on a machine whose load varies.

    python bench/projections.py [--events N] [--accounts K] [--batch-size B] [--rounds R] [--pg-url URL] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import uuid

import psycopg
from common import Timer, fresh_database, machine, open_system, postgres

from ledger import FundCenter
from projections import ProjectionRunner
from projections.runner import BATCH_SIZE, CATCH_UP_BATCH_SIZE
from projections.verify import replay_and_verify
from tests.pgserver import PostgresServer


def write_log(fc: FundCenter, events: int, accounts: int) -> None:
    ids = []
    for n in range(accounts):
        account = fc.open_account("member", "bench", f"m{n}", "CNY")
        fc.book_recharge(account.id, 10**12, "CNY", random.choice(["alipay", "unionpay"]), f"rc-{n}")
        ids.append(account.id)
    rng, n = random.Random(1), 0
    while fc.head() < events:
        for _ in range(500):
            a, b = rng.sample(ids, 2)
            if n % 10 == 0:
                hold = fc.place_hold(a, 100, f"h-{n}")
                fc.release_hold(hold.id)
            else:
                fc.transfer(a, b, rng.randint(1, 10_000), "CNY", f"t-{n}")
            n += 1


def catch_up_once(url: str, batch_size: int | None) -> float:
    """Seconds a runner takes to catch empty views up to the head of the log at `url`."""
    system = open_system(url)
    try:
        with Timer() as catching_up:
            ProjectionRunner(system.ledger, system.views, batch_size=batch_size).catch_up()
    finally:
        system.close()
    return catching_up.seconds


def catch_up_on_a_copy(server: PostgresServer, url: str, batch_size: int | None) -> float:
    """`catch_up_once` on a copy of the database at `url` (no session may be open on it), dropped after."""
    source, name = url.rsplit("/", 1)[1], f"bench_copy_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    try:
        return catch_up_once(server.url(name), batch_size)
    finally:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--batch-size", type=int, help="events a batch (default: the runner's choice)")
    parser.add_argument("--rounds", type=int, default=1, help="catch-ups, each on a fresh copy of the log")
    parser.add_argument("--pg-url")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with postgres(args.pg_url) as server:
        url = fresh_database(server, args.pg_url)
        system = open_system(url)
        try:
            with Timer() as writing:
                write_log(system.ledger, args.events, args.accounts)
            events = system.ledger.head()
        finally:
            system.close()
        if args.rounds > 1:
            rounds = [catch_up_on_a_copy(server, url, args.batch_size) for _ in range(args.rounds)]
        else:
            rounds = [catch_up_once(url, args.batch_size)]
        system = open_system(url)
        try:
            if args.rounds > 1:
                ProjectionRunner(system.ledger, system.views, batch_size=args.batch_size).catch_up()
            with Timer() as verifying:
                report = replay_and_verify(system.ledger, system.views, batch_size=args.batch_size or 1000)
            assert report.ok, report.problems
        finally:
            system.close()
    rates = sorted(events / seconds for seconds in rounds)
    result = {
        "events": events,
        "write_events_per_s": round(events / writing.seconds),
        "catch_up_events_per_s": round(statistics.median(rates)),
        "catch_up_events_per_s_rounds": [round(r) for r in rates],
        "catch_up_s": round(statistics.median(rounds), 1),
        "replay_verify_s": round(verifying.seconds, 1),
    }
    if args.json:
        print(json.dumps(result))
        return
    batches = args.batch_size or f"{BATCH_SIZE} near the head, {CATCH_UP_BATCH_SIZE} further behind"
    print(f"PostgreSQL 15, durable defaults; batch size {batches}; {machine()}")
    print(f"{'events in the log':<40}{result['events']:>10,}")
    print(f"{'catch-up into empty views, events/s':<40}{result['catch_up_events_per_s']:>10,}")
    if args.rounds > 1:
        print(f"{'  best, median, worst of ' + str(args.rounds):<40}{rates[-1]:>10,.0f}{rates[len(rates) // 2]:>10,.0f}"
              f"{rates[0]:>10,.0f}")
    print(f"{'catch-up time, s':<40}{result['catch_up_s']:>10}")
    print(f"{'replay --verify (rebuild + compare), s':<40}{result['replay_verify_s']:>10}")


if __name__ == "__main__":
    main()
