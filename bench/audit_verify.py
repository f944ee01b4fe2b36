"""The hash chain's costs: `audit verify`'s chain check on a long log, and the chain's share of a transfer.

    python bench/audit_verify.py [--events N] [--transfers N] [--rounds R] [--store sqlite|postgresql|both]
                                 [--http [--http-rounds R] [--http-seconds S]] [--pg-url URL] [--json]
    python bench/audit_verify.py --events 0 --rounds 0 --http    # the HTTP comparison alone
    python bench/audit_verify.py --links-column --transfers 300 --rounds 40    # part 4 alone

1. Verify throughput: a log of `--events` events (default 1,000,000) is written through the
   ledger's own recorder (so through the chain's real write path: 0021's function on
   PostgreSQL, the recorder's Python on SQLite), in inserts of 1,000 events whose topics and
   states are those of a real day of transfers (each event a fresh aggregate's version 1).
   Then `verify_chain` (what `fundcenter audit verify --chain-only` runs) walks it:
   events per second, the chain check alone (no aggregate replay).
2. Write-path cost: FundCenter.transfer, one command per transfer as bench/transfers.py runs
   it, on two ledgers side by side, one chaining its events and one not (on PostgreSQL its
   insert function put back to 0009's, in 0021's signature; on SQLite the library's insert), in interleaved
   rounds of `--transfers` transfers, so that the machine's load falls on both alike. The
   cost is 1 - (with chain / without), from the totals of all rounds, and the median round's;
   on a local PostgreSQL also from the CPU time per transfer (this thread's and the database's
   server processes', from /proc), which the other processes on a shared machine move less.
   The same for `transfer_many(100)` (3 batches a side per round): one save of 300 events,
   where the chain's work per save is shared and its work per event counts.
   Then the recorder alone: inserts of three events (a transfer's save), with and without
   the chain, in 5 x `--rounds` short interleaved rounds: the median round's cost.
3. With `--http` (PostgreSQL): the same on the service's own write path, issue 11's HTTP
   benchmark: two `fundcenter serve`s, one on a database chaining its events and one on a
   database whose insert function does not, each loaded in turn (the order flips each round)
   by `wrk` with 16 connections posting transfers among 200 accounts, `--http-rounds` rounds of
   `--http-seconds` each (bench/goals.py's seeding, serve and wrk script). The cost from the
   requests per second (median rounds, all rounds, the median round's) and from the machine's
   CPU per request (both cores' busy time, wrk's included, over the requests).
4. With `--links-column` (PostgreSQL), alone: a layout the ledger does not use, to size what the
   chain's own table costs. A ledger whose insert function keeps each link in a column of the
   events table (`LINKS_COLUMN_0021`) runs part 2's one-by-one transfers against a ledger that
   does not chain, then against one on the shipped chain: the costs (1 - column / other; a
   negative cost against the table is what the column saves).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import tempfile
import time
import types
import uuid
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from common import Timer, fresh_database, machine, open_system, postgres, settings
from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder

from api.bootstrap import System
from ledger import FundCenter
from ledger.audit.verify import verify_chain
from ledger.clock import SteppingClock

INSERT_EVENTS = 1_000


def sample_events(url: str) -> list[tuple[str, bytes]]:
    """(topic, state) of the events of a small real day of transfers."""
    fc = FundCenter(url)
    try:
        ids = [fc.open_account("member", "bench", f"s{n}", "CNY").id for n in range(20)]
        for n, account in enumerate(ids):
            fc.adjust(account, 10**9, "CNY", "credit", "bench funding", f"fund-{n}")
        rng = random.Random(2)
        for n in range(300):
            a, b = rng.sample(ids, 2)
            fc.transfer(a, b, rng.randint(1, 10_000), "CNY", f"s-{n}", memo="bench")
        return [(n.topic, n.state) for n in fc.recorder.select_notifications(start=1, limit=10_000)]
    finally:
        fc.close()


def write_log(url: str, events: int, samples: list[tuple[str, bytes]]) -> None:
    fc = FundCenter(url)
    try:
        written = 0
        while written < events:
            n = min(INSERT_EVENTS, events - written)
            fc.recorder.insert_events([
                StoredEvent(uuid.uuid4(), 1, *samples[(written + i) % len(samples)]) for i in range(n)
            ])
            written += n
    finally:
        fc.close()


def verify_rate(url: str) -> tuple[float, int]:
    fc = FundCenter(url)  # migrated; the walk opens its own connections
    database = fc.database
    fc.close()
    with Timer() as timer:
        report = verify_chain(database, record=False)
    assert report.ok, report.first
    return report.events / timer.seconds, report.events


def without_chain(system: System) -> None:
    """This ledger's inserts no longer chain (for the comparison only)."""
    fc = system.ledger
    if fc.database.kind == "sqlite":
        fc.recorder._insert_events = types.MethodType(SQLiteApplicationRecorder._insert_events, fc.recorder)  # type: ignore[method-assign]
        return
    version_0009 = (resources.files("migrations") / "postgresql" / "0009_insert_events_function.sql").read_text()
    with fc.database.connect() as conn:
        conn.execute(version_0009.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
        conn.execute(NO_CHAIN_0021)


def variant_of_0021(body: str, declare: str = "") -> str:
    """0021's insert function under the name, signature and answer the recorder calls, with its lock
    and its notification, and another body (the variants below, and bench/chain_insert.py's layouts)."""
    return f"""
CREATE OR REPLACE FUNCTION fundcenter_insert_events_with_links(
    events stored_event_uuid[], lock_timeout_s integer, links bytea, links_after bigint
) RETURNS TABLE (inserted_id bigint, chain_hash bytea) LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
{declare}BEGIN
    PERFORM set_config('lock_timeout', lock_timeout_s || 's', true);
    LOCK TABLE fundcenter_events IN EXCLUSIVE MODE;
    NOTIFY fundcenter_events;
{body}
END;
$$"""


# 0021's test that the writer's links are for the positions its events take (they follow the sequence's last value).
LINKS_IN_PLACE = """pg_sequence_last_value('fundcenter_events_notification_id_seq'::regclass) = links_after
       AND octet_length(links) = 32 * cardinality(events)"""

# 0009's function (no chain) in 0021's signature, which the recorder calls: it returns no links, so
# the recorder never learns where a chain ends and hashes nothing either.
NO_CHAIN_0021 = variant_of_0021("""    RETURN QUERY
        INSERT INTO fundcenter_events (originator_id, originator_version, topic, state)
        SELECT e.originator_id, e.originator_version, e.topic, e.state FROM unnest(events) AS e
        RETURNING notification_id, NULL::bytea;""")


def links_in_a_column(system: System) -> None:
    """This ledger's inserts keep the chain's links in a column of the events table instead of in
    `event_chain` (part 4: a layout the ledger does not use, for the comparison only)."""
    with system.ledger.database.connect() as conn:
        conn.execute(LINKS_COLUMN_0021)


# 0021's function with each link stored in a new column of the events row, in the same INSERT (the
# same links from the writer and the same sequence check, without 0021's check of each row's
# position); when the writer has no links, the server chains from the column's last link, a row at
# a time. `event_chain` stays empty: `audit verify` would find nothing chained there.
LINKS_COLUMN_0021 = "ALTER TABLE fundcenter_events ADD COLUMN IF NOT EXISTS chain_link bytea;" + variant_of_0021(f"""
    IF {LINKS_IN_PLACE} THEN
        RETURN QUERY
            INSERT INTO fundcenter_events (originator_id, originator_version, topic, state, chain_link)
            SELECT u.originator_id, u.originator_version, u.topic, u.state, substr(links, u.k::integer * 32 - 31, 32)
            FROM unnest(events) WITH ORDINALITY AS u(originator_id, originator_version, topic, state, k)
            RETURNING notification_id, NULL::bytea;
        RETURN;
    END IF;
    SELECT f.chain_link INTO previous FROM fundcenter_events f WHERE f.chain_link IS NOT NULL
    ORDER BY f.notification_id DESC LIMIT 1;
    previous := coalesce(previous, decode(repeat('00', 32), 'hex'));
    FOR e IN
        INSERT INTO fundcenter_events AS f (originator_id, originator_version, topic, state)
        SELECT u.originator_id, u.originator_version, u.topic, u.state FROM unnest(events) AS u
        RETURNING f.notification_id AS id, f.originator_id, f.originator_version, f.topic, f.state
    LOOP
        previous := fundcenter_chain_link(previous, e.id, e.originator_id, e.originator_version, e.topic, e.state);
        UPDATE fundcenter_events SET chain_link = previous WHERE notification_id = e.id;
        inserted_id := e.id;
        chain_hash := previous;
        RETURN NEXT;
    END LOOP;""", declare="""DECLARE
    previous bytea;
    e record;
""")


def column_cost(server: Any, pg_url: str | None, transfers: int, rounds: int) -> dict[str, Any]:
    """Part 4: one-by-one transfers with the links in a column, against no chain and against the
    shipped table, each pair interleaved as part 2's."""
    work = one_by_one(transfers)
    against_none = interleaved(fresh_database(server, pg_url), fresh_database(server, pg_url), rounds, work,
                               prepare=(links_in_a_column, without_chain))
    against_table = interleaved(fresh_database(server, pg_url), fresh_database(server, pg_url), rounds, work,
                                prepare=(links_in_a_column, None))
    return {"column_rounds": rounds, "column_against_none": against_none, "column_against_table": against_table}


def funded(system: System, accounts: int) -> list[uuid.UUID]:
    fc = system.ledger
    ids = []
    for n in range(accounts):
        account = fc.open_account("member", "bench", f"m{n}", "CNY")
        fc.adjust(account.id, 10**12, "CNY", "credit", "bench funding", f"fund-{n}")
        ids.append(account.id)
    for n in range(200):  # warm-up: caches, prepared statements
        a, b = random.Random(n).sample(ids, 2)
        fc.transfer(a, b, 1, "CNY", f"warm-{n}")
    return ids


Work = Callable[[System, list[uuid.UUID], random.Random, str], int]  # one side's share of a round: transfers made


def cpu_seconds(system: System) -> float | None:
    """CPU time so far of this thread and of the server processes on the system's database (PostgreSQL
    on this machine: each one's /proc/PID/schedstat), or None where it cannot be read. On a shared
    machine it moves far less with the others' load than the time on the clock does."""
    if system.ledger.database.kind != "postgresql":
        return None
    with system.ledger.database.connect() as conn:
        pids = [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()]
    try:
        server = sum(int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) for pid in pids)
    except (OSError, ValueError, IndexError):
        return None  # a server elsewhere, or a process gone
    return (server + time.thread_time_ns()) / 1e9


def interleaved(
    url_with: str, url_without: str, rounds: int, work: Work, accounts: int = 50,
    prepare: tuple[Callable[[System], None] | None, Callable[[System], None] | None] = (None, without_chain),
) -> dict[str, Any]:
    """`work` on a ledger with the chain and one without, in turns (the order flips each round):
    transfers per second of each over all rounds, the cost (1 - with / without), each round's cost;
    on a local PostgreSQL also the CPU time a transfer took (this thread and the database's server
    processes) and the chain's share of it. `prepare`: what is done to each side's ledger first (by
    default the second's inserts stop chaining)."""
    from datetime import UTC, datetime

    clock = SteppingClock(datetime(2026, 11, 26, 10, tzinfo=UTC))
    with_chain, no_chain = open_system(url_with, clock=clock), open_system(url_without, clock=clock)
    try:
        for side, change in zip((with_chain, no_chain), prepare, strict=True):
            if change is not None:
                change(side)
        ids = {"with": funded(with_chain, accounts), "without": funded(no_chain, accounts)}
        seconds, made = {"with": 0.0, "without": 0.0}, {"with": 0, "without": 0}
        cpu: dict[str, float | None] = {"with": 0.0, "without": 0.0}
        ratios, rng = [], random.Random(1)
        for r in range(rounds):
            order = [("with", with_chain), ("without", no_chain)]
            this_round = {}
            for name, system in order if r % 2 == 0 else reversed(order):
                cpu_before = cpu_seconds(system)
                with Timer() as timer:
                    made[name] += work(system, ids[name], rng, f"{r}")
                seconds[name] += timer.seconds
                this_round[name] = timer.seconds
                cpu_after = cpu_seconds(system)
                spent = cpu[name]
                cpu[name] = None if spent is None or cpu_before is None or cpu_after is None else spent + cpu_after - cpu_before
            ratios.append(this_round["without"] / this_round["with"])
    finally:
        with_chain.close()
        no_chain.close()
    rate_with, rate_without = made["with"] / seconds["with"], made["without"] / seconds["without"]
    result = {"with": round(rate_with), "without": round(rate_without), "cost": round(1 - rate_with / rate_without, 4),
              "per_round": [round(1 - r, 3) for r in ratios], "median_round": round(1 - statistics.median(ratios), 4)}
    cpu_with, cpu_without = cpu["with"], cpu["without"]
    if cpu_with is not None and cpu_without is not None:
        us_with, us_without = cpu_with / made["with"] * 1e6, cpu_without / made["without"] * 1e6
        result |= {"cpu_us_with": round(us_with, 1), "cpu_us_without": round(us_without, 1),
                   "cpu_cost": round(1 - us_without / us_with, 4)}
    return result


def one_by_one(transfers: int) -> Work:
    """A side's round: `transfers` one-by-one `transfer()`s, as bench/transfers.py runs them."""

    def work(system: System, ids: list[uuid.UUID], rng: random.Random, tag: str) -> int:
        for n in range(transfers):
            a, b = rng.sample(ids, 2)
            system.ledger.transfer(a, b, rng.randint(1, 10_000), "CNY", f"t-{tag}-{n}", memo="bench")
        return transfers

    return work


def write_cost(url_with: str, url_without: str, transfers: int, rounds: int) -> dict[str, Any]:
    """One-by-one `transfer()`s, `transfers` a side per round."""
    r = interleaved(url_with, url_without, rounds, one_by_one(transfers))
    return {"transfers_per_s_with_chain": r["with"], "transfers_per_s_without_chain": r["without"],
            "chain_cost": r["cost"], "chain_cost_per_round": r["per_round"], "chain_cost_median_round": r["median_round"],
            **{f"transfer_{k}": v for k, v in r.items() if k.startswith("cpu_")}}


def batch_cost(url_with: str, url_without: str, rounds: int, size: int = 100, batches: int = 3) -> dict[str, Any]:
    """`transfer_many(size)`, `batches` a side per round: saves of 3 x `size` events, where the chain's
    work per event counts and its work per save is shared."""

    def in_batches(system: System, ids: list[uuid.UUID], rng: random.Random, tag: str) -> int:
        for b in range(batches):
            system.ledger.transfer_many([
                {"from_account": a, "to_account": z, "amount": rng.randint(1, 10_000), "currency": "CNY",
                 "idempotency_key": f"b-{tag}-{b}-{n}", "memo": "bench"}
                for n, (a, z) in enumerate(rng.sample(ids, 2) for _ in range(size))
            ])
        return size * batches

    r = interleaved(url_with, url_without, rounds, in_batches)
    return {"batch_transfers_per_s_with_chain": r["with"], "batch_transfers_per_s_without_chain": r["without"],
            "batch_chain_cost": r["cost"], "batch_chain_cost_median_round": r["median_round"],
            **{f"batch_{k}": v for k, v in r.items() if k.startswith("cpu_")}}


def insert_cost(url_with: str, url_without: str, rounds: int, inserts: int = 50) -> dict[str, float]:
    """The recorder alone: inserts of three events (a transfer's save: the transfer and two accounts),
    with and without the chain, in many short interleaved rounds; the median round's cost."""
    state = sample_events(url_with)[-1][1]
    with_chain, no_chain = open_system(url_with), open_system(url_without)
    try:
        without_chain(no_chain)
        ratios = []
        for r in range(rounds):
            took = {}
            order = [("with", with_chain), ("without", no_chain)]
            for name, system in order if r % 2 == 0 else reversed(order):
                with Timer() as timer:
                    for _ in range(inserts):
                        system.ledger.recorder.insert_events([StoredEvent(uuid.uuid4(), 1, "bench:Event", state)
                                                              for _ in range(3)])
                took[name] = timer.seconds
            ratios.append(took["without"] / took["with"])
    finally:
        with_chain.close()
        no_chain.close()
    return {"insert_chain_cost_median_round": round(1 - statistics.median(ratios), 4)}


def http_cost(server: Any, pg_url: str | None, rounds: int, seconds: float) -> dict[str, Any]:
    """Issue 11's HTTP benchmark on a `serve` with the chain and one without, in turns (part 3 above)."""
    import goals

    wrk = goals.ensure_wrk()
    rounds_of: dict[str, list[dict[str, Any]]] = {"with": [], "without": []}
    with tempfile.TemporaryDirectory(prefix="audit-bench-http-") as tmp, contextlib.ExitStack() as stack:
        sides = {}
        for name in rounds_of:
            url, folder = fresh_database(server, pg_url), Path(tmp) / name
            folder.mkdir()
            token, spread, _ = goals.seed_http(url, folder)
            if name == "without":
                system = open_system(url)
                try:
                    without_chain(system)
                finally:
                    system.close()
            port, pids = stack.enter_context(goals.serving(url, folder))
            goals.run_wrk(wrk, port, token, spread, "spread", "warm", 3, 16, 2, pids)
            goals.wait_caught_up(port)
            sides[name] = (port, pids, token, spread)
        for r in range(rounds):
            for name in rounds_of if r % 2 == 0 else reversed(rounds_of):
                port, pids, token, spread = sides[name]
                out = goals.run_wrk(wrk, port, token, spread, "spread", f"round-{r}", seconds, 16, 2, pids)
                goals.wait_caught_up(port)
                if out["non_2xx"] or out["socket_errors"]:
                    raise RuntimeError(f"{name} the chain, round {r}: {out['statuses']}, {out['socket_errors']} socket errors")
                rounds_of[name].append(out)

    def rate(name: str) -> float:
        return statistics.median(o["requests_per_s"] for o in rounds_of[name])

    def cpu_us(name: str) -> float:  # both cores' busy share over a round, per request
        return statistics.median(o["machine_busy"] * (os.cpu_count() or 1) / o["requests_per_s"] * 1e6 for o in rounds_of[name])

    totals = {name: sum(o["requests"] for o in outs) for name, outs in rounds_of.items()}
    ratios = [w["requests_per_s"] / wo["requests_per_s"] for w, wo in zip(rounds_of["with"], rounds_of["without"], strict=True)]
    return {
        "http_rounds": rounds, "http_seconds": seconds,
        "http_per_s_with_chain": round(rate("with")), "http_per_s_without_chain": round(rate("without")),
        "http_chain_cost": round(1 - rate("with") / rate("without"), 4),
        "http_chain_cost_all_rounds": round(1 - totals["with"] / totals["without"], 4),
        "http_chain_cost_median_round": round(1 - statistics.median(ratios), 4),
        "http_p99_ms_with_chain": round(statistics.median(o["p99_ms"] for o in rounds_of["with"]), 1),
        "http_p99_ms_without_chain": round(statistics.median(o["p99_ms"] for o in rounds_of["without"]), 1),
        "http_cpu_us_with": round(cpu_us("with")), "http_cpu_us_without": round(cpu_us("without")),
        "http_cpu_cost": round(1 - cpu_us("without") / cpu_us("with"), 4),
    }


def run(store: str, args: argparse.Namespace, server: object | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as folder:  # SQLite's files, removed after the run
        def new_url(name: str) -> str:
            if store == "sqlite":
                return f"sqlite:///{folder}/{name}.db"
            return fresh_database(server, args.pg_url)  # type: ignore[arg-type]

        return measure(store, args, new_url)


def measure(store: str, args: argparse.Namespace, new_url: Callable[[str], str]) -> dict[str, object]:
    result: dict[str, object] = {"store": store}
    log_url, samples = new_url("log"), sample_events(new_url("samples"))
    with Timer() as timer:
        write_log(log_url, args.events, samples)
    result["log_written_events_per_s"] = round(args.events / timer.seconds)
    rates = [verify_rate(log_url) for _ in range(args.verify_runs)]
    result |= {"verify_events": rates[0][1], "verify_chain_events_per_s": round(max(r for r, _ in rates)),
               "verify_chain_events_per_s_runs": [round(r) for r, _ in rates]}
    if args.rounds:
        result |= write_cost(new_url("with"), new_url("without"), args.transfers, args.rounds)
        result |= batch_cost(new_url("with-b"), new_url("without-b"), args.rounds)
        result |= insert_cost(new_url("with-i"), new_url("without-i"), args.rounds * 5)
    if store == "postgresql":
        result["server"] = settings(log_url)
    return result


def http_only(args: argparse.Namespace) -> dict[str, object]:
    with postgres(args.pg_url) as server:
        result: dict[str, object] = {"store": "postgresql", **http_cost(server, args.pg_url, args.http_rounds, args.http_seconds)}
        result["server"] = settings(fresh_database(server, args.pg_url))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--transfers", type=int, default=500, help="transfers per round, per ledger")
    parser.add_argument("--rounds", type=int, default=6, help="0: no write-path comparison")
    parser.add_argument("--verify-runs", type=int, default=3, help="verify the log this many times; the best counts")
    parser.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-url", help="an existing server's database (default: start a throwaway one)")
    parser.add_argument("--http", action="store_true",
                        help="also the HTTP comparison on PostgreSQL (part 3); with --events 0 and --rounds 0 it alone")
    parser.add_argument("--http-rounds", type=int, default=8)
    parser.add_argument("--http-seconds", type=float, default=6.0)
    parser.add_argument("--links-column", action="store_true",
                        help="part 4 alone (PostgreSQL): the links in a column of the events table, a layout the ledger does not use")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    if args.links_column:
        with postgres(args.pg_url) as server:
            results.append({"store": "postgresql", **column_cost(server, args.pg_url, args.transfers, args.rounds),
                            "server": settings(fresh_database(server, args.pg_url))})
    elif args.http and not args.events and not args.rounds:
        results.append(http_only(args))
    else:
        if args.store in ("sqlite", "both"):
            results.append(run("sqlite", args, None))
        if args.store in ("postgresql", "both"):
            with postgres(args.pg_url) as server:
                results.append(run("postgresql", args, server) | (
                    http_cost(server, args.pg_url, args.http_rounds, args.http_seconds) if args.http else {}))
    for result in results:
        if args.json:
            print(json.dumps(result | {"machine": machine()}))
            continue
        print(f"{result['store']}: {result.get('server', '')} {machine()}".rstrip())
        if "http_chain_cost" in result:
            print_http(result)
        if "column_against_none" in result:
            print_column(result)
        if "verify_events" not in result:
            continue
        print(f"  log of {result['verify_events']:,} events written at {result['log_written_events_per_s']:,} events/s")
        runs = ", ".join(f"{r:,}" for r in result["verify_chain_events_per_s_runs"])  # type: ignore[attr-defined]
        print(f"  {'audit verify, chain check alone':<40}{result['verify_chain_events_per_s']:>12,} events/s (runs: {runs})")
        if "chain_cost" not in result:
            continue
        print(f"  {'FundCenter.transfer with the chain':<40}{result['transfers_per_s_with_chain']:>12,} /s")
        print(f"  {'FundCenter.transfer without it':<40}{result['transfers_per_s_without_chain']:>12,} /s")
        rounds = ", ".join(f"{c:.0%}" for c in result["chain_cost_per_round"])  # type: ignore[attr-defined]
        print(f"  {'cost of the chain on the write path':<40}{result['chain_cost']:>12.1%} (rounds: {rounds})")
        print(f"  {'  the median round':<40}{result['chain_cost_median_round']:>12.1%}")
        if "transfer_cpu_cost" in result:
            print(f"  {'  CPU per transfer, with / without':<40}{result['transfer_cpu_us_with']:>8,.0f} / "
                  f"{result['transfer_cpu_us_without']:,.0f} us: {result['transfer_cpu_cost']:.1%}")
        print(f"  {'  on a 3-event insert alone (median)':<40}{result['insert_chain_cost_median_round']:>12.1%}")
        print(f"  {'FundCenter.transfer_many(100), with':<40}{result['batch_transfers_per_s_with_chain']:>12,} transfers/s")
        print(f"  {'  without the chain':<40}{result['batch_transfers_per_s_without_chain']:>12,} transfers/s")
        print(f"  {'  cost of the chain':<40}{result['batch_chain_cost']:>12.1%}"
              f" (median round {result['batch_chain_cost_median_round']:.1%})")
        if "batch_cpu_cost" in result:
            print(f"  {'  CPU per transfer, with / without':<40}{result['batch_cpu_us_with']:>8,.0f} / "
                  f"{result['batch_cpu_us_without']:,.0f} us: {result['batch_cpu_cost']:.1%}")


def print_column(r: dict[str, Any]) -> None:
    print(f"  the links in a column of the events table, one-by-one transfer(), {r['column_rounds']} rounds a side:")
    for name, against in (("no chain", r["column_against_none"]), ("the shipped table", r["column_against_table"])):
        print(f"  {'  against ' + name:<40}{against['with']:>8,} / {against['without']:,} per s: {against['cost']:.1%}"
              f" (median round {against['median_round']:.1%})")
        if "cpu_cost" in against:
            print(f"  {'    CPU per transfer':<40}{against['cpu_us_with']:>8,.0f} / {against['cpu_us_without']:,.0f} us:"
                  f" {against['cpu_cost']:.1%}")


def print_http(r: dict[str, Any]) -> None:
    print(f"  HTTP POST /v1/transfers, 16 connections, {r['http_rounds']} rounds of {r['http_seconds']:g} s a side:")
    print(f"  {'  with the chain':<40}{r['http_per_s_with_chain']:>12,} /s (the median of its rounds; p99 {r['http_p99_ms_with_chain']} ms)")
    print(f"  {'  without it':<40}{r['http_per_s_without_chain']:>12,} /s (p99 {r['http_p99_ms_without_chain']} ms)")
    print(f"  {'  cost of the chain':<40}{r['http_chain_cost']:>12.1%} (all rounds {r['http_chain_cost_all_rounds']:.1%},"
          f" median round {r['http_chain_cost_median_round']:.1%})")
    print(f"  {'  machine CPU a request, with / without':<40}{r['http_cpu_us_with']:>8,} / {r['http_cpu_us_without']:,} us:"
          f" {r['http_cpu_cost']:.1%}")


if __name__ == "__main__":
    main()
