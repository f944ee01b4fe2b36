"""HTTP transfers of two (or more) source trees, interleaved on one PostgreSQL: an A/B for a
loaded machine, where only figures taken side by side compare.

    python bench/ab_http.py TREE [TREE ...] [--rounds R] [--seconds S] [--mode spread|hot]
    python bench/ab_http.py TREE [TREE ...] --asgi N [--rounds R]

Each TREE is a folder holding the project's packages (say `git archive <commit>` unpacked),
optionally followed by `:`-separated folders put after it on its PYTHONPATH (a folder with an
`httptools.py` and `uvloop.py` that raise ImportError runs a tree as it ran without them).
Every tree gets its own database, seeded as `bench/goals.py` seeds it; each round runs every
tree once (in reverse order every other round): `fundcenter serve` from that tree, wrk's
warm-up, then `--seconds` of wrk with 16 connections (bench/wrk/transfers.lua). It prints each
run and, per tree, the requests/s, the requests per CPU-second of `serve` (the steadier figure
when the machine is busy) and the p99s.

With `--asgi N`, no server and no wrk: each tree's app alone (its ASGI stack, on SQLite, in a
process of its own) takes N plain-case `POST /v1/transfers` called in turn on one event loop,
their endpoint not run (the app's endpoint pool is replaced by one that answers a fixed 201), and
prints the process's CPU time per request: the HTTP layer's own cost from the access log to the
endpoint's hand-off, without uvicorn's protocol, the ledger or the projections, and without
depending much on what else the machine is doing.
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


ASGI_ALONE = """
import asyncio, concurrent.futures, logging, secrets, sys, tempfile, time, uuid
from starlette.responses import Response
from api.app import create_app
from api.bootstrap import bootstrap
from api.settings import ApprovalPolicy, Settings

requests = int(sys.argv[1])
settings = Settings(database_url=f"sqlite:///{tempfile.mkdtemp()}/ab.db", env="production",
                    card_token_key=secrets.token_hex(32), approval_policy=ApprovalPolicy.off())
with bootstrap(settings) as system:
    token = system.ledger.create_api_key("business", "mall", name="ab")[1]
app = create_app(settings=settings)
logging.getLogger("fundcenter.access").disabled = True  # its line is the same in every tree


class Answered:  # the endpoint pool, answering at once without running the endpoint
    def submit(self, fn, *args, **kwargs):
        done = concurrent.futures.Future()
        done.set_result(Response(b'{}', 201, media_type="application/json"))
        return done

    def shutdown(self, wait=True):
        pass


async def main():
    async with app.router.lifespan_context(app):
        services = app.state.services
        while not services.runner.watching:
            await asyncio.sleep(0.02)
        services.keys.authenticate(token)  # known from now on
        services.endpoints = Answered()
        body = ('{"from_account": "%s", "to_account": "%s", "amount": 1, "currency": "CNY"}'
                % (uuid.uuid4(), uuid.uuid4())).encode()
        headers = [(b"host", b"ab"), (b"content-type", b"application/json"), (b"authorization", b"Bearer " + token.encode()),
                   (b"idempotency-key", b"ab-1"), (b"content-length", str(len(body)).encode())]
        statuses = []

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        async def one():
            await app({"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                       "scheme": "http", "path": "/v1/transfers", "raw_path": b"/v1/transfers", "query_string": b"",
                       "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
                       "server": ("127.0.0.1", 80), "state": {}}, receive, send)

        for _ in range(500):
            await one()
        started = time.process_time()
        for _ in range(requests):
            await one()
        took = time.process_time() - started
        assert set(statuses) == {201}, set(statuses)
        print(took / requests * 1e6)


asyncio.run(main())
"""


def asgi_alone(trees: list[str], requests: int, rounds: int) -> None:
    """`--asgi N`: each tree's ASGI stack alone, in turns (see the module's docstring)."""
    runs: dict[str, list[float]] = {t: [] for t in trees}
    for r in range(rounds):
        for tree in trees if r % 2 == 0 else trees[::-1]:
            folder = tree.split(":")[0]
            done = subprocess.run([sys.executable, "-c", ASGI_ALONE, str(requests)], cwd=folder, capture_output=True,
                                  text=True, env={**os.environ, "PYTHONPATH": tree}, timeout=600)
            if done.returncode != 0:
                raise SystemExit(f"{tree}: {done.stderr[-2000:]}")
            runs[tree].append(float(done.stdout.split()[-1]))
            print(f"round {r} {tree}: {runs[tree][-1]:.1f} us of CPU a request", flush=True)
    for tree, done in runs.items():
        print(f"{tree}: us of CPU a request {[round(u, 1) for u in done]} (median {sorted(done)[len(done) // 2]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--mode", choices=["spread", "hot"], default="spread")
    parser.add_argument("--pg-url")
    parser.add_argument("--asgi", type=int, metavar="N", help="the app's ASGI stack alone, N requests a round")
    args = parser.parse_args()
    if args.asgi:
        asgi_alone(args.trees, args.asgi, args.rounds)
        return
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
