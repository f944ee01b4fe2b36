"""The performance goals, measured in one run on one PostgreSQL server, next to their targets.

Each figure is a ratio to what this run measures (or a rate), so that runs on other
machines compare with the goals, not with each other:

- one-by-one `FundCenter.transfer` (in process, 1 thread) vs raw single-row INSERT+commit, the two
  measured in turns (8 slices of each, --seconds in all for each), since the server's commit
  time drifts over a run; each pair's ratio is printed too
- `transfer_many`, batches of 100
- 8 threads among 50 accounts vs 1 thread (commands/s; conflicts replayed; Contention raised)
- 8 threads into ONE destination vs 8 threads among 50 accounts
- HTTP `POST /v1/transfers` from wrk, 16 connections, `fundcenter serve` in its own process
  with the projections following: requests/s, p50/p99, how long the views take to reach
  the head once wrk stops; then the same with every transfer into one hot account; with
  `--workers 1 2`, once per worker count (`serve --workers N`, each on a fresh database),
  and the ratio of each to the first; with `--split`, `serve --no-projections` (webhooks off)
  beside `fundcenter project` and `fundcenter deliver`, each its own process (its own GIL)
- projection catch-up into empty views over a log of --events events, vacuumed first as a log at rest is

    python bench/goals.py [--seconds S] [--events N] [--pg-url URL] [--json] [--skip-http]
                          [--connections C] [--wrk-threads T] [--workers N [N ...]] [--split]
                          [--only-http]

Without --pg-url it starts a throwaway PostgreSQL with durable defaults (bench/common.py).
The HTTP phases need `wrk`; when it is missing, this installs it with apt-get.
The last column is the figure as a fraction of its goal (goal / figure for an upper
bound): 1.00 or more meets it. `serve` and wrk share the machine's cores.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
from common import RawInserts, Timer, fresh_database, machine, open_system, postgres, settings

from ledger import FundCenter, LedgerError
from ledger.audit.chain_store import LOG_TABLES
from ledger.domain.errors import Contention
from tests.pgserver import free_port

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk" / "transfers.lua"
ACCOUNTS = 50  # in-process phases
HTTP_ACCOUNTS = 200
FUNDS = 10**12
THREADS = 8
BATCH = 100
SLICES = 8  # the one-by-one phase and its raw baseline, in turns


def log(message: str) -> None:
    print(f"[goals {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- in process -------------------------------------------------------------------------------


def open_funded(fc: FundCenter, business: str, count: int, prefix: str) -> list[Any]:
    ids = []
    for n in range(count):
        account = fc.open_account("institution", business, f"{prefix}{n}", "CNY")
        fc.adjust(account.id, FUNDS, "CNY", "credit", "bench funding", f"fund-{prefix}{n}")
        ids.append(account.id)
    return ids


def one_by_one(fc: FundCenter, ids: list[Any], raw: RawInserts, seconds: float, slices: int = SLICES) -> dict[str, Any]:
    """One-by-one transfers and the raw baseline in turns, `slices` slices of each (the order flips
    each pair), `seconds` in all for each: each one's rate over its slices, and each pair's ratio,
    so that the ratio compares the two under the same moment's server (its commit time drifts)."""
    rng = random.Random(1)
    for n in range(200):  # warm-up: caches, prepared statements
        a, b = rng.sample(ids, 2)
        fc.transfer(a, b, 1, "CNY", f"warm-{n}")
    made, took, ratios, n = {"transfers": 0, "raw": 0}, {"transfers": 0.0, "raw": 0.0}, [], 0

    def transfers(slice_s: float) -> tuple[int, float]:
        nonlocal n
        start, deadline = n, time.perf_counter() + slice_s
        with Timer() as timer:
            while time.perf_counter() < deadline:
                a, b = rng.sample(ids, 2)
                fc.transfer(a, b, rng.randint(1, 10_000), "CNY", f"one-{n}", memo="bench")
                n += 1
        return n - start, timer.seconds

    for s in range(slices):
        rates = {}
        for name in ("transfers", "raw") if s % 2 == 0 else ("raw", "transfers"):
            done, spent = transfers(seconds / slices) if name == "transfers" else raw.run(seconds=seconds / slices)
            made[name] += done
            took[name] += spent
            rates[name] = done / spent
        ratios.append(rates["transfers"] / rates["raw"])
    return {"transfer_per_s": made["transfers"] / took["transfers"], "raw_insert_per_s": made["raw"] / took["raw"],
            "slice_ratios": [round(r, 3) for r in ratios]}


def batches(fc: FundCenter, ids: list[Any], seconds: float, size: int = BATCH) -> tuple[float, int]:
    """transfer_many of `size` transfers among the accounts; (transfers/s, refused items)."""
    rng, refused = random.Random(2), 0

    def batch(tag: str) -> list[Any]:
        items = []
        for i in range(size):
            a, b = rng.sample(ids, 2)
            items.append({"from_account": a, "to_account": b, "amount": rng.randint(1, 10_000), "currency": "CNY",
                          "idempotency_key": f"{tag}-{i}", "memo": "bench"})
        return fc.transfer_many(items)

    for n in range(3):
        batch(f"warm-batch-{n}")
    n, deadline = 0, time.perf_counter() + seconds
    with Timer() as timer:
        while time.perf_counter() < deadline:
            refused += sum(isinstance(r, LedgerError) for r in batch(f"batch-{n}"))
            n += 1
    return n * size / timer.seconds, refused


def threaded(fc: FundCenter, pick: Callable[[random.Random], tuple[Any, Any]], seconds: float, tag: str,
             threads: int = THREADS) -> dict[str, Any]:
    """`threads` threads calling fc.transfer on one FundCenter for `seconds`: commands/s,
    conflicts replayed (fc.stats.conflicts), Contention errors callers got, other errors."""
    done, contention, errors = [0] * threads, [0] * threads, [0] * threads
    samples: list[str] = []
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def work(t: int) -> None:
        rng = random.Random(t)
        start.wait()
        n = 0
        while time.perf_counter() < deadline[0]:
            a, b = pick(rng)
            try:
                fc.transfer(a, b, rng.randint(1, 100), "CNY", f"{tag}-{t}-{n}")
                done[t] += 1
            except Contention:
                contention[t] += 1
            except Exception as error:
                errors[t] += 1
                if len(samples) < 3:
                    samples.append(f"{type(error).__name__}: {error}"[:200])
            n += 1

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    conflicts_before = fc.stats.conflicts
    deadline[0] = time.perf_counter() + seconds
    with Timer() as timer:
        start.wait()
        for w in workers:
            w.join()
    return {
        "commands_per_s": sum(done) / timer.seconds, "commands": sum(done),
        "conflicts": fc.stats.conflicts - conflicts_before, "contention": sum(contention),
        "errors": sum(errors), "error_samples": samples,
    }


def in_process(url: str, raw_url: str, seconds: float) -> dict[str, Any]:
    system = open_system(url)
    fc = system.ledger
    raw = RawInserts(raw_url)
    try:
        ids = open_funded(fc, "bench", ACCOUNTS, "a")
        log(f"one-by-one transfer(), 1 thread, and raw INSERT+commit in turns: {SLICES} slices of each, {seconds:g} s in all each")
        baseline = one_by_one(fc, ids, raw, seconds)
        log(f"transfer_many({BATCH}), {seconds:g} s")
        many, refused = batches(fc, ids, seconds)
        log(f"{THREADS} threads among {ACCOUNTS} accounts, {seconds:g} s")
        spread = threaded(fc, lambda rng: tuple(rng.sample(ids, 2)), seconds, "spread")
        hot, sources = ids[0], ids[1:]
        log(f"{THREADS} threads into one destination, {seconds:g} s")
        into_one = threaded(fc, lambda rng: (rng.choice(sources), hot), seconds, "hot")
        return {**baseline, "transfer_many_per_s": many, "transfer_many_refused": refused,
                "threads_spread": spread, "threads_one_destination": into_one}
    finally:
        raw.close()
        system.close()


# -- HTTP -----------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("goals: wrk not found; installing it: apt-get update && apt-get install -y wrk", file=sys.stderr, flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    quiet = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
    subprocess.run([*sudo, "apt-get", "update"], check=True, **quiet)
    subprocess.run([*sudo, "apt-get", "install", "-y", "wrk"], check=True, **quiet)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("goals: apt-get installed wrk but it is not on the PATH")
    return found


def get_json(port: int, path: str, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def cpu_seconds(*pids: int) -> float:
    """User + system CPU time of these processes and their living descendants (`serve`'s workers; Linux /proc)."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):  # it ended meanwhile
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
    tree, total = set(pids), 0.0
    for child in sorted(stats):  # a child's pid is (nearly always) above its parent's
        if int(stats[child][1]) in tree:
            tree.add(child)
    for member in tree & stats.keys():
        total += int(stats[member][11]) + int(stats[member][12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies over all cores since boot (Linux /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def busy_now(seconds: float = 1.0) -> float:
    """The share of all cores busy over the next `seconds` (someone else's load skews every figure)."""
    busy_before, total_before = machine_busy()
    time.sleep(seconds)
    busy_after, total_after = machine_busy()
    return (busy_after - busy_before) / max(total_after - total_before, 1)


def seed_http(url: str, folder: Path) -> tuple[str, Path, Path]:
    """A business key for "bench", and two account files for the Lua script:
    the spread accounts, and the hot account followed by its sources."""
    system = open_system(url)
    fc = system.ledger
    try:
        _, token = fc.create_api_key("business", "bench", name="bench")
        ids = open_funded(fc, "bench", HTTP_ACCOUNTS, "h")
        hot = fc.open_account("institution", "bench", "hot", "CNY").id
    finally:
        system.close()
    spread, into_hot = folder / "spread.txt", folder / "hot.txt"
    spread.write_text("".join(f"{a}\n" for a in ids))
    into_hot.write_text("".join(f"{a}\n" for a in [hot, *ids]))
    return token, spread, into_hot


def wait_caught_up(port: int, timeout: float = 120.0) -> dict[str, Any]:
    """Read /healthz at once, then until the views reach the head: the lag at the end of the
    load (events), and the seconds until it was 0."""
    started = time.perf_counter()
    _, first = get_json(port, "/healthz")
    body = first
    while body.get("projection_lag", 1) > 0 or body.get("projection_position", 0) < first.get("log_head", 0):
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"the views did not reach the head within {timeout:g} s: {body}")
        time.sleep(0.02)
        _, body = get_json(port, "/healthz")
    return {"lag_events": first.get("projection_lag"), "catch_up_s": time.perf_counter() - started,
            "log_head": body.get("log_head")}


def run_wrk(wrk: str, port: int, token: str, accounts: Path, mode: str, tag: str, seconds: float,
            connections: int, threads: int, pids: list[int]) -> dict[str, Any]:
    env = {**os.environ, "FC_WRK_TOKEN": token, "FC_WRK_ACCOUNTS": str(accounts), "FC_WRK_MODE": mode,
           "FC_WRK_TAG": tag}
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
               "--latency", "-s", str(LUA), f"http://127.0.0.1:{port}/v1/transfers"]
    each_before = [cpu_seconds(pid) for pid in pids]  # serve first (then `project`, `deliver` with --split)
    cpu_before, (busy_before, total_before) = cpu_seconds(*pids), machine_busy()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 120)
    cpu_after, (busy_after, total_after) = cpu_seconds(*pids), machine_busy()
    each_after = [cpu_seconds(pid) for pid in pids]
    lines = [line for line in done.stdout.splitlines() if line.startswith("FCJSON ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-2000:]}\n{done.stdout[-2000:]}")
    result = json.loads(lines[-1][len("FCJSON "):])
    wall = result["duration_us"] / 1e6
    statuses = {int(k): v for k, v in result["statuses"].items()}
    socket_errors = sum(v for k, v in result["errors"].items() if k != "status")
    return {
        "requests_per_s": sum(v for k, v in statuses.items() if 200 <= k < 300) / wall,
        "requests": result["requests"], "p50_ms": result["p50_us"] / 1000, "p90_ms": result["p90_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000, "max_ms": result["max_us"] / 1000,
        "statuses": statuses, "non_2xx": sum(v for k, v in statuses.items() if not 200 <= k < 300),
        "socket_errors": socket_errors, "sample": result["sample"],
        "serve_cpu_cores": (cpu_after - cpu_before) / wall,
        "cpu_cores_by_process": [(after - before) / wall for before, after in zip(each_before, each_after, strict=True)],
        "machine_busy": (busy_after - busy_before) / max(total_after - total_before, 1),
    }


@contextlib.contextmanager
def serving(url: str, folder: Path, workers: int = 1, split: bool = False) -> Iterator[tuple[int, list[int]]]:
    """`fundcenter serve --db url` (with `--workers`; with `split`, `--no-projections` and webhooks off,
    and `fundcenter project` and `fundcenter deliver` beside it), run from `folder` (its log there) until
    the block ends: its port and the processes' pids (serve first), once /healthz answers 200."""
    port = free_port()
    script = Path(sys.executable).with_name("fundcenter")
    env = {**os.environ, "FUNDCENTER_CARD_TOKEN_KEY": secrets.token_hex(32)}
    errors = (folder / "serve.log").open("w")
    serve_args = ["--no-projections"] if split else []
    serve = subprocess.Popen([str(script), "serve", "--db", url, "--port", str(port), "--workers", str(workers),
                              *serve_args], cwd=folder, env={**env, "FUNDCENTER_DELIVER_WEBHOOKS": str(not split)},
                             stdout=errors, stderr=errors)
    others = [subprocess.Popen([str(script), command, "--db", url], cwd=folder, env=env, stdout=errors, stderr=errors)
              for command in (("project", "deliver") if split else ())]
    try:
        deadline = time.monotonic() + 60
        while True:
            if serve.poll() is not None:
                raise RuntimeError(f"serve exited {serve.returncode}: {(folder / 'serve.log').read_text()[-2000:]}")
            try:
                status, _ = get_json(port, "/healthz", timeout=2)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("serve did not answer /healthz within 60 s")
            time.sleep(0.1)
        yield port, [serve.pid, *(p.pid for p in others)]
    finally:
        for process in (serve, *others):
            process.terminate()
        for process in (serve, *others):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        errors.close()


def http_phases(url: str, seconds: float, connections: int, threads: int, workers: int = 1,
                split: bool = False) -> dict[str, Any]:
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="fundcenter-goals-") as tmp:
        folder = Path(tmp)
        log("seeding the HTTP accounts")
        token, spread, into_hot = seed_http(url, folder)
        started = time.perf_counter()
        with serving(url, folder, workers, split) as (port, pids):
            out = {"workers": workers, "split": split, "serve_started_s": round(time.perf_counter() - started, 1)}
            log(f"serve --workers {workers}: wrk warm-up, {connections} connections, 3 s")
            out["warmup"] = run_wrk(wrk, port, token, spread, "spread", "warm", 3, connections, threads, pids)
            wait_caught_up(port)
            for name, accounts, mode in (("spread", spread, "spread"), ("hot", into_hot, "hot")):
                log(f"wrk {mode}, {connections} connections, {seconds:g} s")
                out[name] = run_wrk(wrk, port, token, accounts, mode, name, seconds, connections, threads, pids)
                out[name]["views"] = wait_caught_up(port)
            _, health = get_json(port, "/healthz")
            out["healthz_status"] = health.get("status")
            return out


# -- projections --------------------------------------------------------------------------


def catch_up(url: str, events: int, accounts: int = 1000) -> dict[str, Any]:
    """Write a log of at least `events` events (transfers through transfer_many; every tenth
    command a hold placed and released, one by one), vacuum it as autovacuum does a log at rest
    (a catch-up into new views reads a log written long before; the first read of rows just
    written also sets their hint bits, about 1 s of the server's per 100k events here), then
    time a runner catching empty views up."""
    system = open_system(url)
    fc = system.ledger
    try:
        ids = []
        for n in range(accounts):
            account = fc.open_account("member", "bench", f"m{n}", "CNY")
            fc.book_recharge(account.id, FUNDS, "CNY", random.choice(["alipay", "unionpay"]), f"rc-{n}")
            ids.append(account.id)
        rng, n = random.Random(1), 0
        with Timer() as writing:
            while fc.head() < events:
                items = []
                for _ in range(90):
                    a, b = rng.sample(ids, 2)
                    items.append({"from_account": a, "to_account": b, "amount": rng.randint(1, 10_000),
                                  "currency": "CNY", "idempotency_key": f"t-{n}"})
                    n += 1
                assert not any(isinstance(r, LedgerError) for r in fc.transfer_many(items))
                for _ in range(10):
                    hold = fc.place_hold(rng.choice(ids), 100, f"h-{n}")
                    fc.release_hold(hold.id)
                    n += 1
        head = fc.head()
        with Timer() as vacuuming, psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"VACUUM (ANALYZE) {LOG_TABLES['postgresql'].events}")
        log(f"catch-up over {head:,} events")
        with Timer() as catching_up:
            applied = system.runner.catch_up()
        assert applied == head, (applied, head)
        return {"events": head, "write_s": writing.seconds, "vacuum_s": vacuuming.seconds, "catch_up_s": catching_up.seconds,
                "events_per_s": head / catching_up.seconds}
    finally:
        system.close()


# -- the table --------------------------------------------------------------------------------


def rows_of(r: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per goal: the figure, what this run measured (with what it is made of), the
    goal, and `of_goal`: the measured figure as a fraction of the goal (goal / measured for
    an upper bound), so that 1.00 or more means the goal is met."""
    rows = []

    def row(figure: str, measured: str, goal: str, of_goal: float | None, ok: bool) -> None:
        rows.append({"figure": figure, "measured": measured, "goal": goal,
                     "of_goal": None if of_goal is None else round(of_goal, 3), "ok": ok})

    if "in_process" in r:
        in_process_rows(r, row)
    runs = r.get("http_by_workers") or ([r["http"]] if "http" in r else [])
    for run in runs:
        label = f" [{run['workers']} worker{'s' if run['workers'] > 1 else ''}{', split' if run.get('split') else ''}]"
        label = label if len(runs) > 1 or run.get("split") else ""
        w = run["spread"]
        views = w["views"]
        row(f"HTTP POST /v1/transfers, 16 conns, per s{label}", f"{w['requests_per_s']:,.0f} ({w['non_2xx']} non-2xx)",
            ">= 1,500, no non-2xx", w["requests_per_s"] / 1500, w["requests_per_s"] >= 1500 and w["non_2xx"] == 0)
        row("  p99 latency", f"{w['p99_ms']:.1f} ms (p50 {w['p50_ms']:.1f} ms)", "<= 50 ms",
            50 / w["p99_ms"], w["p99_ms"] <= 50)
        row("  views reach the head after wrk ends", f"{views['catch_up_s']:.2f} s (lag {views['lag_events']:,} events)",
            "<= 1 s", 1 / max(views["catch_up_s"], 0.001), views["catch_up_s"] <= 1.0)
        x = run["hot"]
        ratio = x["requests_per_s"] / w["requests_per_s"]
        row(f"HTTP, all into 1 hot account / spread{label}",
            f"{ratio:.3f} ({x['requests_per_s']:,.0f} / {w['requests_per_s']:,.0f} per s; {x['non_2xx']} non-2xx)",
            ">= 0.7, no non-2xx", ratio / 0.7, ratio >= 0.7 and x["non_2xx"] == 0)
        row("  hot p99 latency", f"{x['p99_ms']:.1f} ms (p50 {x['p50_ms']:.1f} ms)", "<= 50 ms",
            50 / x["p99_ms"], x["p99_ms"] <= 50)
        row("  hot: views reach the head after wrk ends",
            f"{x['views']['catch_up_s']:.2f} s (lag {x['views']['lag_events']:,} events)", "<= 1 s",
            1 / max(x["views"]["catch_up_s"], 0.001), x["views"]["catch_up_s"] <= 1.0)
    for run in runs[1:]:  # no goal: how the worker count scales the same load, in this run
        for name in ("spread", "hot"):
            more, first = run[name]["requests_per_s"], runs[0][name]["requests_per_s"]
            row(f"HTTP {name}: {run['workers']} workers / {runs[0]['workers']}",
                f"{more / first:.3f} ({more:,.0f} / {first:,.0f} per s)", "(measured)", None, True)
    if "catch_up" in r:
        c = r["catch_up"]
        row(f"projection catch-up, events/s ({c['events']:,} events)", f"{c['events_per_s']:,.0f}", ">= 40,000",
            c["events_per_s"] / 40_000, c["events_per_s"] >= 40_000)
    return rows


def in_process_rows(r: dict[str, Any], row: Callable[[str, str, str, float | None, bool], None]) -> None:
    p = r["in_process"]
    single, raw = p["transfer_per_s"], p["raw_insert_per_s"]
    slices = ", ".join(f"{x:.2f}" for x in p["slice_ratios"])
    row("transfer(), 1 thread / raw INSERT+commit", f"{single / raw:.3f} ({single:,.0f} / {raw:,.0f} per s; slices {slices})",
        ">= 0.45", single / raw / 0.45, single / raw >= 0.45)
    many = p["transfer_many_per_s"]
    row(f"transfer_many({BATCH}), transfers/s", f"{many:,.0f}", ">= 15,000", many / 15_000, many >= 15_000)
    spread, hot = p["threads_spread"], p["threads_one_destination"]
    s = spread["commands_per_s"]
    row(f"{THREADS} threads / 1 thread, {ACCOUNTS} accounts",
        f"{s / single:.3f} ({s:,.0f} / {single:,.0f} per s; {spread['conflicts']:,} conflicts,"
        f" {spread['contention']} Contention)", ">= 1.0", s / single, s / single >= 1.0)
    h = hot["commands_per_s"]
    row(f"{THREADS} threads into 1 account / {ACCOUNTS} accounts",
        f"{h / s:.3f} ({h:,.0f} / {s:,.0f} per s; {hot['conflicts']:,} conflicts, {hot['contention']} Contention)",
        ">= 0.7, no Contention", h / s / 0.7, h / s >= 0.7 and hot["contention"] == 0 and hot["errors"] == 0)


def print_table(r: dict[str, Any]) -> None:
    widths = [max(len(row[k]) for row in r["rows"]) + 2 for k in ("figure", "measured", "goal")]
    print(r["server"])
    print(r["machine"])
    print(f"{'figure':<{widths[0]}}{'measured':<{widths[1]}}{'goal':<{widths[2]}}of goal")
    for row in r["rows"]:
        if row["of_goal"] is None:
            print(f"{row['figure']:<{widths[0]}}{row['measured']:<{widths[1]}}{row['goal']}")
            continue
        of_goal = min(row["of_goal"], 99.99)
        print(f"{row['figure']:<{widths[0]}}{row['measured']:<{widths[1]}}{row['goal']:<{widths[2]}}"
              f"{of_goal:>5.2f} {'ok' if row['ok'] else 'MISS'}")
    notes = []
    p = r.get("in_process") or {"transfer_many_refused": 0}
    for name in ("threads_spread", "threads_one_destination"):
        if name in p and p[name]["errors"]:
            notes.append(f"{name}: {p[name]['errors']} other errors, e.g. {p[name]['error_samples'][0]}")
    if p["transfer_many_refused"]:
        notes.append(f"transfer_many refused {p['transfer_many_refused']} items")
    for run in r.get("http_by_workers") or ([r["http"]] if "http" in r else []):
        for name in ("spread", "hot"):
            w = run[name]
            notes.append(f"HTTP {name}, {run['workers']} worker(s){' split' if run.get('split') else ''}: statuses {w['statuses']}, socket errors {w['socket_errors']}, "
                         f"serve used {w['serve_cpu_cores']:.2f} cores"
                         + (" (serve, project, deliver: " + ", ".join(f"{c:.2f}" for c in w["cpu_cores_by_process"]) + ")"
                            if run.get("split") else "")
                         + f", machine {w['machine_busy']:.0%} busy"
                         + (f"; first non-2xx: {w['sample'][:160]}" if w["sample"] else ""))
    notes.append((f"catch-up log written in {r['catch_up']['write_s']:.0f} s, vacuumed in {r['catch_up']['vacuum_s']:.1f} s; "
                  if "catch_up" in r else "")
                 + f"this run took {r['took_s']:.0f} s; the machine was {r['busy_before']:.0%} busy before it")
    for note in notes:
        print(f"  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per measured phase (default 8)")
    parser.add_argument("--events", type=int, default=100_000, help="the catch-up log's size (default 100,000)")
    parser.add_argument("--pg-url", help="an existing server's database (default: start a throwaway one)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--skip-http", action="store_true", help="leave out the wrk phases")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1], metavar="N",
                        help="serve's worker processes for the HTTP phases; several (e.g. 1 2) run them once each"
                             " (default 1)")
    parser.add_argument("--split", action="store_true",
                        help="HTTP phases with `serve --no-projections` (webhooks off), `fundcenter project` and"
                             " `fundcenter deliver` in processes of their own")
    parser.add_argument("--only-http", action="store_true", help="the HTTP phases alone (no in-process, no catch-up)")
    args = parser.parse_args()
    started = time.perf_counter()
    result: dict[str, Any] = {"busy_before": busy_now()}
    if result["busy_before"] > 0.1:
        log(f"the machine is not idle ({result['busy_before']:.0%} of its CPU busy before the run): figures will be lower")
    if not args.skip_http:
        ensure_wrk()  # before anything else, so that a failed install costs nothing
    with postgres(args.pg_url) as server:
        url = fresh_database(server, args.pg_url)
        result["server"] = settings(url)
        if not args.only_http:
            result["in_process"] = in_process(url, fresh_database(server, args.pg_url), args.seconds)
        if not args.skip_http:
            result["http_by_workers"] = [
                http_phases(fresh_database(server, args.pg_url), args.seconds, args.connections, args.wrk_threads, n,
                            args.split)
                for n in args.workers
            ]
            result["http"] = result["http_by_workers"][0]
        if not args.only_http:
            log(f"writing a log of {args.events:,} events for the catch-up")
            result["catch_up"] = catch_up(fresh_database(server, args.pg_url), args.events)
    result["machine"] = machine()
    result["took_s"] = time.perf_counter() - started
    result["rows"] = rows_of(result)
    if args.json:
        print(json.dumps(result, default=str))
        return
    print_table(result)


if __name__ == "__main__":
    main()
