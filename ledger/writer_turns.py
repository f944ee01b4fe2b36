"""Writers of several processes on one PostgreSQL database, taking turns.

One process's writer (ledger/writer.py) never conflicts with itself, but two processes'
writers (`serve --workers N`) each decide on their own cached accounts: a batch decided
on an account the other process has moved since fails its save (optimistic concurrency),
is refreshed and decided again, and on a hot account the two keep spoiling each other's
attempts. Measured with `bench/goals.py --only-http --workers 1 2`: two workers did 0.48 of
one worker's rate, and with every transfer into one account some requests gave up after 50
attempts (`503 contention`) and the p99 was 1.6 s.

With turns, a writer runs each of its batches (or commands run alone) holding a PostgreSQL
advisory lock of the database, `pg_advisory_lock(TURN_KEY)`, taken on a connection of its
own, and before deciding anything it brings its cache up to date with what the others wrote
since its last turn: it reads the log after the last position it knows (one query, a page at
a time) and applies to each cached aggregate the events it has not seen; an aggregate whose
events do not follow on from its version is evicted (read again when next needed). So its
decisions are made on current state and its save meets no other turn-taking writer's:
conflicts between them do not happen. What a writer saved itself during its turn is known
without reading it back: the last position it wrote becomes the position it knows.

The lock only orders the turn-taking writers. Optimistic concurrency stays the safety net
for everything else (a `fundcenter` command run beside the server, a writer whose turn
connection was lost): such a writer's events are found by the save they make fail, as
before. A turn waits for the lock at most `TURN_WAIT_S`; past it the command fails with
the database's lock timeout (`503 database-unavailable` over HTTP). A process that dies
holding the lock releases it with its session.

Off unless `FUNDCENTER_WRITER_TURNS` is true: `serve --workers N` (N > 1) turns it on for its
workers. One process alone gains nothing from it and would pay two round trips a batch.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application

from .aggregate_cache import AggregateCache
from .pools import DatabaseUnavailable

TURN_KEY = 0x46756E6443656E74  # the advisory lock's key ("FundCent"): one per database
TURN_WAIT_S = 10  # the longest a writer waits for its turn
CATCH_UP_PAGE = 1000  # log events read at a time when catching up
CATCH_UP_PAGES_MAX = 20  # further behind than this many pages, the cache is cleared instead


class WriterTurns:
    """`taken()`: a writer's turn (see the module's docstring)."""

    def __init__(self, app: Application[UUID], connect_kwargs: dict[str, Any]) -> None:
        self.app, self._connect_kwargs = app, connect_kwargs
        self._conn: psycopg.Connection[Any] | None = None
        self.known: int | None = None  # the log position up to which the cache has seen every event
        self.written: int | None = None  # the last position this process wrote in the turn under way
        self.turns = self.applied = self.evicted = self.cleared = 0  # counters: tests, benchmarks, /metrics
        self.waited_s = 0.0  # time spent waiting for the lock, all turns together
        self._lock = threading.Lock()  # one turn at a time in this process (the writer's own lock already is)

    @contextlib.contextmanager
    def taken(self) -> Iterator[None]:
        """Hold the turn for the block, the cache brought up to date first."""
        with self._lock:
            self._lock_turn()
            try:
                self.turns += 1
                self.written = None
                self._catch_up()
                yield
                if self.written is not None and self.known is not None:
                    self.known = max(self.known, self.written)  # what it wrote: no one else wrote meanwhile
            finally:  # (a turn that failed leaves `known` where its catch-up left it: read again from there)
                self._release()

    def wrote(self, position: int) -> None:
        """This process saved events up to `position` (FundCenter.save)."""
        if self.written is None or position > self.written:
            self.written = position

    def state(self) -> dict[str, float]:
        """The counters, for /metrics."""
        return {"turns": self.turns, "waited_s": self.waited_s, "applied": self.applied, "evicted": self.evicted,
                "cleared": self.cleared}

    def close(self) -> None:
        self._drop()

    # -- inside --------------------------------------------------------------------------------

    def _lock_turn(self) -> None:
        """Take the lock on the turn's connection; one made anew if the one held is found gone (a
        restart of the server ends its sessions), once."""
        for last in (self._conn is None, True):
            conn = self._connection()
            started = time.perf_counter()
            try:
                conn.execute("SELECT pg_advisory_lock(%s)", (TURN_KEY,))
                self.waited_s += time.perf_counter() - started
                return
            except psycopg.errors.LockNotAvailable:  # waited TURN_WAIT_S: the session is fine
                raise
            except psycopg.Error:
                self._drop()
                if last:
                    raise

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        # The pools' way first: while the database is known to be away this fails at once
        # (DatabaseUnavailable), and it is how this process learns that it is back.
        with self.app.recorder.datastore.get_connection():  # type: ignore[attr-defined]
            pass
        try:
            conn = psycopg.connect(**self._connect_kwargs, autocommit=True)
            conn.execute(f"SET lock_timeout = '{TURN_WAIT_S}s'")
        except psycopg.OperationalError as error:
            self.app.database.reachability.failed(error)  # type: ignore[attr-defined]
            raise DatabaseUnavailable(f"the database is unreachable ({error})") from error
        self._conn = conn
        return conn

    def _release(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            conn.execute("SELECT pg_advisory_unlock(%s)", (TURN_KEY,))
        except psycopg.Error:  # the session is gone, and the lock with it
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def _catch_up(self) -> None:
        """Apply to the cached aggregates the events stored after `known`. The first turn cannot
        tell what is stale in what was read before it, and a turn far behind would read more than
        it saves: both clear the cache (what is needed is read again, in the turn) and start from
        the log's head."""
        recorder = self.app.recorder
        cache = self.app.repository.cache
        assert isinstance(cache, AggregateCache), "FundCenter.construct_repository sets its cache"
        for _ in range(CATCH_UP_PAGES_MAX if self.known is not None else 0):
            assert self.known is not None
            page = recorder.select_notifications(start=self.known + 1, limit=CATCH_UP_PAGE)
            newer: dict[UUID, list[Any]] = {}
            for notification in page:
                oid = notification.originator_id
                aggregate_id = oid if isinstance(oid, UUID) else UUID(oid)
                try:
                    cached = cache.get(aggregate_id)
                except KeyError:
                    continue
                if notification.originator_version > cached.version:
                    newer.setdefault(aggregate_id, []).append(notification)
            for aggregate_id, notifications in newer.items():
                self._apply(cache, aggregate_id, notifications)
            if page:
                self.known = page[-1].id
            if len(page) < CATCH_UP_PAGE:
                return
        head = recorder.max_notification_id() or 0
        cache.clear()
        self.cleared += 1
        self.known = head

    def _apply(self, cache: AggregateCache, aggregate_id: UUID, notifications: list[Any]) -> None:
        try:
            cached = cache.get(aggregate_id)
        except KeyError:
            return
        versions = [n.originator_version for n in notifications]
        if versions != list(range(cached.version + 1, cached.version + 1 + len(versions))):
            cache.get(aggregate_id, evict=True)  # events missing in between: read again when needed
            self.evicted += 1
            return
        cache.advance(aggregate_id, cached, [self.app.mapper.to_domain_event(n) for n in notifications])
        self.applied += len(notifications)
