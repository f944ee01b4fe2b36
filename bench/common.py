"""What the benchmarks share: a PostgreSQL server to run against, and a timer."""

from __future__ import annotations

import os
import random
import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.bootstrap import System, bootstrap
from api.service_secrets import ServiceSecrets
from api.settings import Settings
from tests.pgserver import PostgresServer


@contextmanager
def postgres(url: str | None) -> Iterator[PostgresServer]:
    """The server of the given URL, or a throwaway one with durable defaults (fsync on)."""
    with PostgresServer(url=url) as server:
        yield server


def fresh_database(server: PostgresServer, url: str | None = None) -> str:
    """A new database on the server, so that runs never see each other's data."""
    return server.create_database(f"bench_{uuid.uuid4().hex[:12]}")


def settings(url: str) -> str:
    names = ("fsync", "synchronous_commit", "full_page_writes", "wal_level", "shared_buffers", "max_connections")
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        values = [f"{n}={conn.execute(f'SHOW {n}').fetchone()[0]}" for n in names]
    return f"PostgreSQL {version.split()[0]}: " + ", ".join(values)


class RawInserts:
    """The baseline: single-row INSERT + commit (autocommit) on one connection of its own, into a
    table of its own, warmed up; `run` does them for a while, so that a benchmark can measure the
    baseline in slices between its own (the server's commit time drifts over a run)."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute(
            "CREATE TABLE bench_raw (id bigserial PRIMARY KEY, account uuid, amount bigint,"
            " created_at timestamptz DEFAULT now())"
        )
        self.made = 0
        self.run(count=200)  # warm-up

    def run(self, *, count: int | None = None, seconds: float | None = None) -> tuple[int, float]:
        """`count` inserts, or as many as `seconds` allow: (how many, the seconds they took)."""
        assert (count is None) != (seconds is None), "give count or seconds"
        n, deadline = 0, time.perf_counter() + (seconds or 0)
        with Timer() as timer:
            while (n < count) if count is not None else (time.perf_counter() < deadline):
                self.conn.execute("INSERT INTO bench_raw (account, amount) VALUES (gen_random_uuid(), %s)", (self.made,))
                n += 1
                self.made += 1
        return n, timer.seconds

    def close(self) -> None:
        self.conn.close()


def raw_insert_rate(url: str, *, count: int | None = None, seconds: float | None = None) -> float:
    """The baseline's rate (`RawInserts`), over `count` rows or for `seconds`."""
    raw = RawInserts(url)
    try:
        n, took = raw.run(count=count, seconds=seconds)
    finally:
        raw.close()
    return n / took


def open_system(url: str, **options: Any) -> System:
    """The system on `url`, built as the app builds it (api/bootstrap.py), with secrets made up
    for this run; `options` go to `bootstrap` (a clock, gateways)."""
    made_up = ServiceSecrets("production", secrets.token_bytes(32))
    return bootstrap(Settings(database_url=url), secrets=made_up, **options)


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"


def transfer_batches(fc: Any, ids: list[Any], count: int, tag: str) -> None:
    """`count` calls of `transfer_many` with 100 transfers of 1 among the accounts `ids`, in a fixed order."""
    rng = random.Random(1)
    for b in range(count):
        items = []
        for n in range(100):
            a, c = rng.sample(ids, 2)
            items.append({"from_account": a, "to_account": c, "amount": 1, "currency": "CNY",
                          "idempotency_key": f"{tag}-{b}-{n}"})
        fc.transfer_many(items)


@contextmanager
def fresh_system(pg_url: str | None, **options: Any) -> Iterator[tuple[System, str]]:
    """The system on a fresh database of the server at `pg_url` (or of a throwaway one), and the line
    describing the server and the machine; closed after the block."""
    with postgres(pg_url) as server:
        url = fresh_database(server)
        system = open_system(url, **options)
        try:
            yield system, f"{settings(url)} {machine()}"
        finally:
            system.close()
