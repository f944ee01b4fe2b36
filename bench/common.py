"""What the benchmarks share: a PostgreSQL server to run against, and a timer."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.pgserver import PostgresServer  # noqa: E402


@contextmanager
def postgres(url: str | None) -> Iterator[PostgresServer | None]:
    """The given server, or a throwaway one with durable defaults (fsync on)."""
    if url:
        yield None
        return
    with PostgresServer() as server:
        yield server


def fresh_database(server: PostgresServer | None, url: str | None) -> str:
    return server.create_database() if server is not None else url  # type: ignore[return-value]


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
