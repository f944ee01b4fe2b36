"""Transfers over HTTP against `fundcenter serve` on PostgreSQL: requests per second and
p50/p99 latency with 1 and 16 concurrent clients, and transfers per second through the
batch endpoint, next to the in-process figures from the same run and server.

    python bench/http_api.py [--requests N] [--batch-size B] [--pg-url URL] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from common import Timer, fresh_database, machine, open_system, postgres

from tests.pgserver import free_port

ACCOUNTS = 200
EXTRA = [a for a in sys.argv if a == "--no-projections"]


def seed(url: str) -> tuple[str, list[str]]:
    system = open_system(url)
    fc = system.ledger
    try:
        _, token = fc.create_api_key("business", "bench", name="bench")
        ids = []
        for n in range(ACCOUNTS):
            account = fc.open_account("member", "bench", f"m{n}", "CNY")
            fc.adjust(account.id, 10**12, "CNY", "credit", "bench funding", f"fund-{n}")
            ids.append(str(account.id))
        return token, ids
    finally:
        system.close()


class Client:
    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, path: str, body: dict, key: str) -> dict:
        self.conn.request("POST", path, json.dumps(body), {**self.headers, "Idempotency-Key": key})
        response = self.conn.getresponse()
        payload = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{response.status}: {payload[:300]!r}")
        return json.loads(payload)


def transfer_body(rng: random.Random, ids: list[str]) -> dict:
    a, b = rng.sample(ids, 2)
    return {"from_account": a, "to_account": b, "amount": rng.randint(1, 10_000), "currency": "CNY"}


def run_clients(port: int, token: str, ids: list[str], clients: int, requests: int, tag: str) -> dict:
    latencies: list[float] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        client, rng, mine = Client(port, token), random.Random(n), []
        for i in range(requests // clients):
            started = time.perf_counter()
            client.post("/v1/transfers", transfer_body(rng, ids), f"{tag}-{n}-{i}")
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    with Timer() as timer:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    latencies.sort()
    return {
        "requests_per_s": round(len(latencies) / timer.seconds),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


def run_batches(port: int, token: str, ids: list[str], batches: int, size: int) -> float:
    client, rng = Client(port, token), random.Random(7)
    with Timer() as timer:
        for n in range(batches):
            result = client.post("/v1/transfers/batch", {"transfers": [transfer_body(rng, ids) for _ in range(size)]}, f"batch-{n}")
            assert all(r["status"] == 201 for r in result["results"])
    return batches * size / timer.seconds


def in_process(url: str, requests: int, size: int) -> tuple[float, float]:
    system = open_system(url)
    fc = system.ledger
    try:
        ids = [fc.open_account("member", "bench", f"i{n}", "CNY").id for n in range(ACCOUNTS)]
        for n, account in enumerate(ids):
            fc.adjust(account, 10**12, "CNY", "credit", "funding", f"ifund-{n}")
        rng = random.Random(3)

        def pick() -> dict[str, Any]:
            return dict(zip(("from_account", "to_account"), rng.sample(ids, 2), strict=True))

        with Timer() as single:
            for n in range(requests):
                fc.transfer(**pick(), amount=5, currency="CNY", idempotency_key=f"is-{n}")
        batches = max(requests // size, 1)
        with Timer() as batched:
            for n in range(batches):
                fc.transfer_many([{**pick(), "amount": 5, "currency": "CNY", "idempotency_key": f"ib-{n}-{i}"} for i in range(size)])
        return requests / single.seconds, batches * size / batched.seconds
    finally:
        system.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--pg-url")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-projections", action="store_true", help="serve without following the log")
    args = parser.parse_args()
    with postgres(args.pg_url) as server:
        url = fresh_database(server, args.pg_url)
        token, ids = seed(url)
        port = free_port()
        script = Path(sys.executable).with_name("fundcenter")
        env = {**os.environ, "FUNDCENTER_CARD_TOKEN_KEY": secrets.token_hex(32)}  # production refuses to start without it
        serve = subprocess.Popen([str(script), "serve", "--db", url, "--port", str(port), *EXTRA], env=env,
                                 stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            run_clients(port, token, ids, 4, 200, "warm")
            one = run_clients(port, token, ids, 1, args.requests, "one")
            sixteen = run_clients(port, token, ids, 16, args.requests, "sixteen")
            batch = run_batches(port, token, ids, max(args.requests // args.batch_size, 1), args.batch_size)
        finally:
            serve.terminate()
            serve.wait(timeout=30)
        single_in_process, batch_in_process = in_process(fresh_database(server, args.pg_url), args.requests, args.batch_size)
    result = {
        "http_1_client": one, "http_16_clients": sixteen, "http_batch_transfers_per_s": round(batch),
        "in_process_transfers_per_s": round(single_in_process), "in_process_batch_transfers_per_s": round(batch_in_process),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"PostgreSQL 15, durable defaults; `fundcenter serve` (1 process) and the clients on {machine()}")
    print(f"{'':<34}{'per s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'HTTP transfers, 1 client':<34}{one['requests_per_s']:>10,}{one['p50_ms']:>10}{one['p99_ms']:>10}")
    print(f"{'HTTP transfers, 16 clients':<34}{sixteen['requests_per_s']:>10,}{sixteen['p50_ms']:>10}{sixteen['p99_ms']:>10}")
    print(f"{f'HTTP batch ({args.batch_size}/request), transfers':<34}{result['http_batch_transfers_per_s']:>10,}")
    print(f"{'in-process transfer()':<34}{result['in_process_transfers_per_s']:>10,}")
    print(f"{f'in-process transfer_many({args.batch_size})':<34}{result['in_process_batch_transfers_per_s']:>10,}")


if __name__ == "__main__":
    main()
