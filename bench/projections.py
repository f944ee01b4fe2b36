"""Projection catch-up rate (events per second) and `replay --verify` time on PostgreSQL.

Writes a log of at least --events events through FundCenter (transfers among
--accounts members, with a hold and release every tenth command), then times
the runner catching empty views up to the head, and a full replay-and-verify.

    python bench/projections.py [--events N] [--accounts K] [--batch-size B] [--pg-url URL] [--json]
"""

from __future__ import annotations

import argparse
import json
import random

from common import Timer, fresh_database, machine, open_system, postgres

from ledger import FundCenter
from projections import ProjectionRunner
from projections.verify import replay_and_verify


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--batch-size", type=int, default=1_000)
    parser.add_argument("--pg-url")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with postgres(args.pg_url) as server:
        system = open_system(fresh_database(server, args.pg_url))
        fc, store = system.ledger, system.views
        try:
            with Timer() as writing:
                write_log(fc, args.events, args.accounts)
            events = fc.head()
            with Timer() as catching_up:
                ProjectionRunner(fc, store, batch_size=args.batch_size).catch_up()
            with Timer() as verifying:
                report = replay_and_verify(fc, store, batch_size=args.batch_size)
            assert report.ok, report.problems
        finally:
            system.close()
    result = {
        "events": events,
        "write_events_per_s": round(events / writing.seconds),
        "catch_up_events_per_s": round(events / catching_up.seconds),
        "catch_up_s": round(catching_up.seconds, 1),
        "replay_verify_s": round(verifying.seconds, 1),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"PostgreSQL 15, durable defaults; batch size {args.batch_size}; {machine()}")
    print(f"{'events in the log':<40}{result['events']:>10,}")
    print(f"{'catch-up into empty views, events/s':<40}{result['catch_up_events_per_s']:>10,}")
    print(f"{'catch-up time, s':<40}{result['catch_up_s']:>10}")
    print(f"{'replay --verify (rebuild + compare), s':<40}{result['replay_verify_s']:>10}")


if __name__ == "__main__":
    main()
