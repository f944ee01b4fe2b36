"""PostgreSQL connections that ride out outages.

Every PostgreSQL connection (the event store's pool, the views' pool, migrations)
connects with a short timeout, checks a pooled connection
before use, and reports to the database's `Reachability`. Once a connection
attempt has failed, callers stop queueing for the full acquisition timeout:
they get `DatabaseUnavailable` at once (the API answers `503
database-unavailable`) until a connection succeeds again.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg_pool
import psycopg_pool.base
from eventsourcing import postgres as es_postgres
from eventsourcing.persistence import PersistenceError
from psycopg.rows import DictRow

from .recorders import OneTripRecorder, PostgresSnapshotRecorder, translated

log = logging.getLogger(__name__)

DATABASE_TIMEOUT_S = 2.0  # default: how long to wait for a pooled connection, and to connect
HELD_FOR_S = 60.0  # how long the one-trip insert keeps a connection out of the pool (`HeldConnection`)
HELD_CLOSE_WAIT_S = 5.0  # how long closing waits for an insert still using the held connection
RECONNECT_WINDOW_S = 5.0  # a pool retries a failed connection (0.1 s doubling to 1 s) this long, then waits to be asked
PROBE_TIMEOUT_S = 0.25  # while the database is known unreachable: how long a caller waits for a connection
# TCP keepalives: a connection whose server vanished without a word (a failover, a cut
# cable) fails within about 10 s instead of the kernel's two hours.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2}


def database_timeout_s() -> float:
    """`FUNDCENTER_DATABASE_TIMEOUT_S`, else 2 s: the connection acquisition and connect timeout."""
    value = os.environ.get("FUNDCENTER_DATABASE_TIMEOUT_S")
    return float(value) if value else DATABASE_TIMEOUT_S


class DatabaseUnavailable(PersistenceError):
    """The database cannot be reached now (the API answers 503 database-unavailable).

    Not an eventsourcing OperationalError on purpose: its recorders retry those ten
    times, which would turn a known outage into a hang."""


class Reachability:
    """What this process last learned about reaching one database: whether the last
    connection attempt failed, since when, and why. Shared by every pool on it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.down_since: float | None = None  # time.time() of the first failure in a row
        self.error: str | None = None
        self.failures = 0  # failed connection attempts in a row
        self.recoveries = 0  # how many times it came back (a waiter in back-off can watch this)

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, error: BaseException) -> None:
        with self._lock:
            if self.down_since is None:
                self.down_since = time.time()
                log.warning("database unreachable: %s", _one_line(error))
            self.error, self.failures = _one_line(error), self.failures + 1

    def succeeded(self) -> None:
        if self.down_since is None:
            return
        with self._lock:
            if self.down_since is not None:
                log.warning("database reachable again after %.1fs", time.time() - self.down_since)
                self.recoveries += 1
            self.down_since, self.error, self.failures = None, None, 0


_reachability: dict[tuple[str, int, str], Reachability] = {}
_reachability_lock = threading.Lock()


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:300]


_Attempt: Any = getattr(psycopg_pool.base, "AttemptWithBackoff", None)  # psycopg_pool >= 3.2


class _QuickAttempt(_Attempt or object):  # type: ignore[misc]  # its base is chosen at run time (absent before psycopg_pool 3.2)
    """psycopg_pool's reconnection back-off (1 s, 2 s, 4 s...), made quicker: 0.1 s doubling
    to 1 s, so that a pool reconnects within a second of the database's return."""

    INITIAL_DELAY = 0.1
    delay: float  # the base's, in seconds

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, 1.0)


def check_if_spoken_to(conn: psycopg.Connection[Any]) -> None:
    """The pool's check of a connection before use, without a round trip while the server has
    said nothing: a server that closed it, restarted or ended the session (a FATAL notice, then
    EOF) makes its socket readable, and only then is it pinged (`check_connection`, which fails
    on a dead one). A connection silently cut (no FIN) fails on its first statement instead,
    which the recorder retries on another connection, as it would a server lost between a
    ping and the statement."""
    if conn.closed or conn.pgconn.status != psycopg.pq.ConnStatus.OK:
        raise psycopg.OperationalError("the connection is closed")
    said = select.poll()  # not select(): any file descriptor number
    said.register(conn.pgconn.socket, select.POLLIN)
    if said.poll(0):  # readable, hung up or in error
        psycopg_pool.ConnectionPool.check_connection(conn)


class WatchedPool(psycopg_pool.ConnectionPool[Any]):
    """A psycopg_pool mixin for outages, and for warm server processes (it overrides four of the
    pool's internals):

    - every connection attempt reports to the database's `Reachability`;
    - a pooled connection that fails its check makes the pool check all its idle
      ones, so that after a server restart the stale connections go at once rather
      than one per back-off step;
    - reconnection retries quickly (`_QuickAttempt`) for `reconnect_timeout`;
    - `acquire()`: while the database is known unreachable a caller waits briefly,
      makes one direct connection attempt (one caller at a time; the others wait their
      turn briefly), and otherwise gets `DatabaseUnavailable`, instead of queueing for
      the whole timeout. A caller whose brief wait began while the database was known
      unreachable makes that attempt even if it was found reachable meanwhile: the
      pool's own reconnection may still be a second away;
    - the connection returned last is handed out first (last in, first out).
    """

    reachability: Reachability
    _probing: threading.Lock

    def _connect(self, timeout: float | None = None) -> Any:
        try:
            conn = super()._connect(timeout)
        except Exception as error:
            self.reachability.failed(error)
            raise
        self.reachability.succeeded()
        return conn

    def _check_connection(self, conn: Any) -> None:
        try:
            super()._check_connection(conn)
        except Exception:
            self.check()
            raise

    def _get_ready_connection(self, timeout: float | None) -> Any:
        # The connection returned last, not the one idle longest (the pool's own order): one caller
        # after another then talks to the same server process, whose caches are still warm
        # (one-by-one transfers +12% in interleaved rounds); the others stay idle for the pool's
        # shrinking, which closes from the other end. Called under the pool's lock.
        if self._pool and (timeout is None or timeout > 0.0):
            conn = self._pool.pop()
            self._nconns_min = min(self._nconns_min, len(self._pool))
            return conn
        return super()._get_ready_connection(timeout)

    def _add_connection(self, attempt: Any, growing: bool = False) -> None:
        if attempt is None and _Attempt is not None:
            attempt = _QuickAttempt(timeout=self.reconnect_timeout)
        super()._add_connection(attempt, growing)

    @contextmanager
    def acquire(self, timeout: float | None = None) -> Iterator[Any]:
        """As `connection()`, but fails fast with `DatabaseUnavailable` during a known outage."""
        pooled, known_down = True, self.reachability.down
        try:
            conn = self.getconn(PROBE_TIMEOUT_S if known_down else timeout)
        except psycopg_pool.PoolTimeout as error:
            if not (known_down or self.reachability.down):
                raise
            conn, pooled = self._probe(error), False
        try:
            with conn:
                yield conn
        finally:
            if pooled:
                self.putconn(conn)
            else:
                conn.close()

    def _probe(self, error: Exception) -> Any:
        """One direct connection attempt (not pooled), so that the first callers after the
        database's return need not wait for the pool's next reconnection attempt. One at a
        time: a caller waits `PROBE_TIMEOUT_S` at most for another's attempt to finish
        (so that callers arriving together at the database's return all get through,
        while a connection attempt that hangs holds up no one for long)."""
        if self._probing.acquire(timeout=PROBE_TIMEOUT_S):
            try:
                return self._connect()
            except Exception:
                pass
            finally:
                self._probing.release()
        raise DatabaseUnavailable(f"the database is unreachable ({self.reachability.error})") from error


class ViewsPool(WatchedPool, psycopg_pool.ConnectionPool):
    def __init__(self, reachability: Reachability, **kwargs: Any) -> None:
        self.reachability, self._probing = reachability, threading.Lock()
        super().__init__(**kwargs)


class _EventsPool(WatchedPool, es_postgres.ConnectionPool[psycopg.Connection[DictRow]]):
    def __init__(self, reachability: Reachability, **kwargs: Any) -> None:
        self.reachability, self._probing = reachability, threading.Lock()
        super().__init__(**kwargs)


class HeldConnection:
    """One of the event store's pooled connections, kept out of the pool between the inserts of
    the one thread inserting (the ledger's writer; ledger/recorders.py's one-trip insert).

    Taking a connection from the pool and giving it back (the pool's lock and check, psycopg's
    connection context, the datastore's two context managers) cost a one-by-one transfer about
    25 us of its CPU in interleaved rounds, a twelfth of what the caller spends. `take()` hands
    out the held connection, checked as the pool checks it (`check_if_spoken_to`), to one thread
    at a time: a thread that finds it taken gets None and uses the pool, as before. A connection
    that failed its check or a statement goes back to the pool (which discards a broken one), as
    does one held for HELD_FOR_S, so that the pool still ages and counts it; while the database is
    known unreachable nothing is held (`acquire()`'s quick failure applies). `close()` gives it
    back before the pool closes."""

    def __init__(self, datastore: _Datastore) -> None:
        self.datastore, self.pool = datastore, datastore.pool
        self._lock = threading.Lock()
        self._conn: Any = None
        self._until = 0.0

    def take(self) -> Any:
        """The held connection, or a pooled one to hold from now on; None if another thread has it,
        or the database is known unreachable. The caller gives it back with `give`."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            conn = self._conn
            if conn is not None:
                if time.monotonic() < self._until:
                    try:
                        check_if_spoken_to(conn)
                        return conn
                    except psycopg.Error:
                        pass
                self._conn = None
                self.pool.putconn(conn)
            if self.pool.reachability.down or self.pool.closed:  # the datastore's path: quick failure, opening
                self._lock.release()
                return None
            conn = self.pool.getconn()
            try:
                self.datastore.adapted(conn)
            except BaseException:
                self.pool.putconn(conn)
                raise
            self._conn, self._until = conn, time.monotonic() + HELD_FOR_S
            return conn
        except BaseException:
            self._lock.release()
            raise

    def give(self, failed: bool) -> None:
        """Done with it: held for the next insert, or, after a failure, back to the pool."""
        try:
            if failed and self._conn is not None:
                conn, self._conn = self._conn, None
                self.pool.putconn(conn)
        finally:
            self._lock.release()

    def close(self) -> None:
        """Give the held connection back to the pool, unless an insert still has it (a database that
        hangs): closing never waits for more than HELD_CLOSE_WAIT_S, and the pool closes it then."""
        if not self._lock.acquire(timeout=HELD_CLOSE_WAIT_S):
            return
        try:
            conn, self._conn = self._conn, None
            if conn is not None:
                self.pool.putconn(conn)
        finally:
            self._lock.release()


class _Datastore(es_postgres.PostgresDatastore):
    """eventsourcing's datastore, on a watched pool: a float acquisition timeout, a
    connect timeout, a short reconnection window, and fail-fast during an outage."""

    reachability: Reachability
    pool: _EventsPool
    held: HeldConnection  # the one-trip insert's (ledger/recorders.py)

    @classmethod
    def adopt(cls, made: es_postgres.PostgresDatastore, reachability: Reachability, timeout_s: float) -> None:
        old = made.pool  # built, never opened: replaced by the same pool, watched
        assert isinstance(old.kwargs, dict), old.kwargs  # eventsourcing gives its pool a dict, not a callable
        made.__class__ = cls
        assert isinstance(made, cls)
        made.reachability = reachability
        made.pool = _EventsPool(
            reachability,
            get_password_func=old.get_password_func,
            connection_class=old.connection_class,
            kwargs={**old.kwargs, **KEEPALIVES, "connect_timeout": max(2, round(timeout_s))},
            min_size=old.min_size, max_size=old.max_size, open=False,
            configure=old._configure, check=None if old._check is None else check_if_spoken_to, name="fundcenter-events",
            timeout=timeout_s, max_waiting=old.max_waiting, max_lifetime=old.max_lifetime,
            reconnect_timeout=RECONNECT_WINDOW_S,
        )
        made.held = HeldConnection(made)

    def close(self) -> None:
        held = getattr(self, "held", None)  # absent if adopting failed half-way
        if held is not None:
            held.close()
        super().close()

    @contextmanager
    def get_connection(self) -> Iterator[Any]:
        # eventsourcing's, with `acquire()` for `connection()`; DatabaseUnavailable passes through.
        try:
            self.pool.open(self.pool_open_timeout is not None, self.pool_open_timeout or 30.0)
            with self.pool.acquire() as conn:
                self.adapted(conn)
                yield conn
        except psycopg.Error as e:
            raise translated(e) from e

    def adapted(self, conn: Any) -> None:
        """The library's composite types registered on `conn` (once per connection)."""
        for info in self.psycopg_type_adapters.values():
            if not conn.adapters.types.get(info.oid):
                es_postgres.register_composite(info, conn)


class PostgresFactory(es_postgres.PostgresFactory):
    """eventsourcing's PostgreSQL infrastructure, its datastore watched (see `_Datastore`), its
    application recorder inserting in one round trip (`ledger.recorders.OneTripRecorder`).
    Named by `Database.eventsourcing_env()` as the persistence module."""

    application_recorder_class = OneTripRecorder
    aggregate_recorder_class = PostgresSnapshotRecorder  # the snapshots', sealed to the hash chain

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        port = int(self.env.get(self.POSTGRES_PORT) or 5432)
        where = (self.env.get(self.POSTGRES_HOST) or "", port, self.env.get(self.POSTGRES_DBNAME) or "")
        timeout_s = float(self.env.get("FUNDCENTER_DATABASE_TIMEOUT_S") or database_timeout_s())
        _Datastore.adopt(self.datastore, reachability_at(*where), timeout_s)


def reachability_at(host: str, port: int, dbname: str) -> Reachability:
    with _reachability_lock:
        return _reachability.setdefault((host, port, dbname), Reachability())


