"""What wakes the projection runner when the log grows: on PostgreSQL a LISTEN on the channel
the event recorder NOTIFYs on every insert; on SQLite (no notifications) a plain timed wait.
Either way the runner catches up after every wait, so a missed wake-up costs only latency."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder

from ledger import FundCenter

log = logging.getLogger("projections.runner")


def waker_for(ledger: FundCenter, stop: threading.Event) -> Any:
    """A context manager giving `wait(timeout)`: returns early when the log may have grown, or on `stop`."""
    if ledger.database.kind == "postgresql":
        return PostgresWaker(ledger, stop)
    return PollingWaker(stop)


class PollingWaker:
    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def __enter__(self) -> Callable[[float], None]:
        return self.wait

    def wait(self, timeout: float) -> None:
        self.stop.wait(timeout)

    def __exit__(self, *exc: object) -> None:
        pass


class PostgresWaker:
    """LISTEN on the channel the event recorder NOTIFYs on every insert.

    A dropped or refused connection never escapes: the waker polls instead (the
    runner catches up after every wait anyway) and reconnects, at most once a second."""

    RECONNECT_EVERY_S = 1.0

    def __init__(self, ledger: FundCenter, stop: threading.Event) -> None:
        assert isinstance(ledger.recorder, PostgresApplicationRecorder), ledger.recorder  # only PostgreSQL notifies
        self.db, self.channel, self.stop = ledger.database, ledger.recorder.channel_name, stop
        self.conn: psycopg.Connection | None = None
        self._next_attempt = 0.0

    def __enter__(self) -> Callable[[float], None]:
        return self.wait

    def wait(self, timeout: float) -> None:
        conn = self._listening()
        if conn is None:
            self.stop.wait(timeout)
            return
        try:
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                pass
        except psycopg.Error as error:
            log.info("projections: the LISTEN connection dropped (%s); polling until it reconnects", error)
            self._close()

    def _listening(self) -> psycopg.Connection | None:
        if self.conn is not None and not self.conn.closed:
            return self.conn
        now = time.monotonic()
        if now < self._next_attempt:
            return None
        self._next_attempt = now + self.RECONNECT_EVERY_S
        try:
            self.conn = psycopg.connect(**self.db.connect_kwargs(), autocommit=True)
            self.conn.execute(f'LISTEN "{self.channel}"')
        except psycopg.Error:
            self._close()
            return None
        return self.conn

    def _close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):  # it is closing because it failed
                conn.close()

    def __exit__(self, *exc: object) -> None:
        self._close()
