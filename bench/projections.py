"""Projection catch-up rate (events per second) and `replay --verify` time on PostgreSQL.

Writes a log of at least --events events through FundCenter (transfers among
--accounts members, with a hold and release every tenth command), then times
the runner catching empty views up to the head, and a full replay-and-verify.
With `--rounds R` the catch-up runs R times, each on a fresh copy of the log's
database (CREATE DATABASE ... TEMPLATE) with empty views, and the best, median
and worst rates are shown: one log, several catch-ups, on a machine whose load varies.

With `--trees BEFORE AFTER` (two source trees, e.g. a `git worktree` or `git archive` of
each commit) the catch-ups alternate between the trees, each in a process of its own run
from that tree, on copies of one log, in pairs whose order alternates (A B, B A, ...):
an A/B on a busy machine. Each line gives the rate, the client's CPU seconds (the
catch-up's process, every thread) and the server's (every PostgreSQL process of the
server, so give it a server nothing else uses). `--log-database NAME` keeps the log in
that database of the `--pg-url` server, writing it only if it is not there yet, so that
several A/Bs run over one log.

    python bench/projections.py [--events N] [--accounts K] [--batch-size B] [--rounds R] [--pg-url URL] [--json]
    python bench/projections.py --trees BEFORE AFTER --rounds R --pg-url URL [--log-database NAME]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

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


# Run in a process of its own from a tree (PYTHONPATH and the working directory): a catch-up into
# the empty views at argv[1], with what it took as JSON. Only what every tree has: bench/common.py's
# open_system and the runner's catch_up().
CATCH_UP_IN_TREE = """
import json, sys, time
sys.path.insert(0, "bench")
from common import open_system
from projections import ProjectionRunner
system = open_system(sys.argv[1])
try:
    wall, cpu = time.perf_counter(), time.process_time()
    applied = ProjectionRunner(system.ledger, system.views).catch_up()
    print(json.dumps({"s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu, "applied": applied}))
finally:
    system.close()
"""


def server_cpu_s(url: str) -> float:
    """CPU seconds of the server so far: the postmaster's children, those alive and those it has
    reaped (NaN for a server on another machine: its processes are not in this /proc)."""
    with psycopg.connect(url, autocommit=True) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        try:
            postmaster = int(_stat(backend)[3])
        except OSError:
            return math.nan
    tick = os.sysconf("SC_CLK_TCK")
    reaped = sum(int(x) for x in _stat(postmaster)[15:17])  # cutime, cstime
    alive = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(backend):
            try:
                fields = _stat(int(entry.name))
            except OSError:
                continue
            if int(fields[3]) == postmaster:
                alive += int(fields[13]) + int(fields[14])  # utime, stime
    return (reaped + alive) / tick


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields, from the state on (the command's name may hold spaces): index 0 is field 3."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return ["", "", *text[text.rindex(")") + 2 :].split()]


def catch_up_in_tree(server: PostgresServer, url: str, tree: str) -> dict[str, float]:
    """A catch-up by `tree`'s code, in a process of its own, on a copy of the log at `url`."""
    source, name = url.rsplit("/", 1)[1], f"bench_copy_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    try:
        time.sleep(1)  # the copy's writes settle
        before = server_cpu_s(server.url())
        env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve())}
        done = subprocess.run([sys.executable, "-c", CATCH_UP_IN_TREE, server.url(name)], cwd=tree, env=env,
                              capture_output=True, text=True, check=True)
        time.sleep(0.5)  # the backends exit and are reaped
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["server_cpu_s"] = server_cpu_s(server.url()) - before
        return result
    finally:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}"')


def compare_trees(server: PostgresServer, url: str, events: int, trees: list[str], rounds: int) -> None:
    """`rounds` pairs of catch-ups, one by each tree, the order alternating; a line each, then medians."""
    results: dict[str, list[dict[str, float]]] = {tree: [] for tree in trees}
    print(f"{events:,} events; {machine()}; pairs in alternating order")
    for n in range(rounds):
        for tree in trees if n % 2 == 0 else trees[::-1]:
            result = catch_up_in_tree(server, url, tree)
            results[tree].append(result)
            print(f"pair {n + 1} {tree:<30} {events / result['s']:>8,.0f} events/s  client {result['cpu_s']:5.2f} s"
                  f"  server {result['server_cpu_s']:5.2f} s", flush=True)
    for tree, runs in results.items():
        rates = [events / r["s"] for r in runs]
        print(f"median {tree:<28} {statistics.median(rates):>8,.0f} events/s  client"
              f" {statistics.median(r['cpu_s'] for r in runs):5.2f} s  server"
              f" {statistics.median(r['server_cpu_s'] for r in runs):5.2f} s  (rates {min(rates):,.0f}-{max(rates):,.0f})")


def log_database(server: PostgresServer, name: str, events: int, accounts: int) -> str:
    """The log kept in database `name`, written first if that database does not exist."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if exists:
        return server.url(name)
    url = server.create_database(name)
    system = open_system(url)
    try:
        write_log(system.ledger, events, accounts)
    finally:
        system.close()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--batch-size", type=int, help="events a batch (default: the runner's choice)")
    parser.add_argument("--rounds", type=int, default=1, help="catch-ups, each on a fresh copy of the log")
    parser.add_argument("--pg-url")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--trees", nargs=2, metavar=("BEFORE", "AFTER"), help="A/B two source trees' catch-ups")
    parser.add_argument("--log-database", help="keep the log in this database of --pg-url (written if missing)")
    args = parser.parse_args()
    if args.trees:
        with postgres(args.pg_url) as server:
            if args.log_database:
                url = log_database(server, args.log_database, args.events, args.accounts)
            else:
                url = fresh_database(server, args.pg_url)
                system = open_system(url)
                try:
                    write_log(system.ledger, args.events, args.accounts)
                finally:
                    system.close()
            system = open_system(url)
            try:
                events = system.ledger.head()
            finally:
                system.close()
            compare_trees(server, url, events, args.trees, args.rounds)
        return
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
