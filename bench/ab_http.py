"""HTTP transfers of two (or more) source trees, interleaved on one PostgreSQL: an A/B for a
loaded machine, where only figures taken side by side compare.

    python bench/ab_http.py TREE [TREE ...] [--rounds R] [--seconds S] [--mode spread|hot]

Each TREE is a folder holding the project's packages (say `git archive <commit>` unpacked),
optionally followed by `:`-separated folders put after it on its PYTHONPATH (a folder with an
`httptools.py` and `uvloop.py` that raise ImportError runs a tree as it ran without them).
Every tree gets its own database, seeded as `bench/goals.py` seeds it; each round runs every
tree once (in reverse order every other round): `fundcenter serve` from that tree, wrk's
warm-up, then `--seconds` of wrk with 16 connections (bench/wrk/transfers.lua). It prints each
run and, per tree, the requests/s, the requests per CPU-second of `serve` (the steadier figure
when the machine is busy) and the p99s.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import fresh_database, postgres
from goals import ensure_wrk, free_port, get_json, run_wrk, seed_http, wait_caught_up

START_TIMEOUT_S = 60


def start_serve(tree: str, url: str, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port, folder = free_port(), tree.split(":")[0]
    env = {**os.environ, "FUNDCENTER_CARD_TOKEN_KEY": secrets.token_hex(32), "PYTHONPATH": tree}
    serve = subprocess.Popen(
        [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())", "serve", "--db", url,
         "--port", str(port)],
        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"),
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if serve.poll() is not None:
            raise SystemExit(f"serve from {tree} exited: {log.read_text()[-2000:]}")
        try:
            if get_json(port, "/healthz", timeout=2)[0] == 200:
                return serve, port
        except OSError:
            pass
        time.sleep(0.1)
    serve.terminate()
    raise SystemExit(f"serve from {tree} did not answer within {START_TIMEOUT_S} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--mode", choices=["spread", "hot"], default="spread")
    parser.add_argument("--pg-url")
    args = parser.parse_args()
    wrk = ensure_wrk()
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in args.trees}
    with postgres(args.pg_url) as server, tempfile.TemporaryDirectory(prefix="fundcenter-ab-") as tmp:
        folder = Path(tmp)
        seeded = {}
        for n, tree in enumerate(args.trees):
            url = fresh_database(server, args.pg_url)
            own = folder / str(n)  # each tree's account files
            own.mkdir()
            token, spread, hot = seed_http(url, own)
            seeded[tree] = (url, token, spread if args.mode == "spread" else hot, folder / f"serve-{n}.log")
        for r in range(args.rounds):
            for tree in args.trees if r % 2 == 0 else args.trees[::-1]:
                url, token, accounts, log = seeded[tree]
                serve, port = start_serve(tree, url, log)
                try:
                    run_wrk(wrk, port, token, accounts, args.mode, f"warm-{r}", 2, 16, 2, [serve.pid])
                    wait_caught_up(port)
                    run = run_wrk(wrk, port, token, accounts, args.mode, f"ab-{r}", args.seconds, 16, 2, [serve.pid])
                    wait_caught_up(port)
                finally:
                    serve.terminate()
                    serve.wait(timeout=30)
                run["per_cpu_s"] = run["requests_per_s"] / max(run["serve_cpu_cores"], 0.01)
                runs[tree].append(run)
                print(f"round {r} {tree}: {run['requests_per_s']:,.0f}/s, {run['per_cpu_s']:,.0f} per CPU-s of serve,"
                      f" p99 {run['p99_ms']:.0f} ms, {run['non_2xx']} non-2xx, machine {run['machine_busy']:.0%} busy",
                      flush=True)
    for tree, done in runs.items():
        rates = sorted(r["requests_per_s"] for r in done)
        print(f"{tree}: req/s {[round(r['requests_per_s']) for r in done]} (median {rates[len(rates) // 2]:,.0f}),"
              f" per CPU-s {[round(r['per_cpu_s']) for r in done]}, p99 ms {[round(r['p99_ms']) for r in done]}")


if __name__ == "__main__":
    main()
