"""The views' own connection to the database, and their tracking records.

`ViewStore` is an eventsourcing `TrackingRecorder`: a batch of view updates and
the tracking record of the last event in it commit in one transaction, and the
tracking record only moves forward, so a crash or a second runner can never
apply an event twice. `wait()` (inherited) blocks until the views have reached
a log position: read-your-writes after a command.

View SQL is written once, with `?` placeholders; on PostgreSQL they become `%s`.
On SQLite a batch takes the write lock up front (BEGIN IMMEDIATE), so it never
fails on a snapshot that a concurrent command made stale.

On PostgreSQL the pool is a `ledger.pools.ViewsPool`: connections are acquired
and made within `timeout_s`, checked before use (without a round trip unless the server has
said something on the connection, as the event store's pool: `check_if_spoken_to`), and while
the database is known unreachable a caller gets `DatabaseUnavailable` at once instead of queueing.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder
from psycopg.rows import dict_row

from ledger.pools import RECONNECT_WINDOW_S, ViewsPool, check_if_spoken_to, database_timeout_s
from ledger.store import Database

IN_VALUES_MAX = 500  # values in one SQLite `IN (...)` list (it allows 32,766 placeholders a statement)


@lru_cache(maxsize=512)
def _to_pyformat(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class Cursor:
    """A cursor that speaks `?` on both databases and returns dict rows."""

    def __init__(self, raw: Any, kind: str) -> None:
        self.raw, self.kind = raw, kind

    def _sql(self, sql: str) -> str:
        return sql if self.kind == "sqlite" else _to_pyformat(sql)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.raw.execute(self._sql(sql), params)
        if self.raw.description is None:
            return []
        if self.kind == "postgresql":
            return self.raw.fetchall()  # dict rows already (the pool's row factory)
        return [dict(row) for row in self.raw.fetchall()]

    def select_in(self, sql: str, column: str, values: Sequence[Any]) -> list[dict[str, Any]]:
        """The rows of `sql` (a SELECT without WHERE) whose `column` is one of `values`. On
        PostgreSQL one query, the values as one array (`= ANY`): a placeholder each would have
        psycopg parse the query anew, placeholder by placeholder; on SQLite, a query per
        IN_VALUES_MAX values."""
        if not values:
            return []
        if self.kind == "postgresql":
            return self.execute(f"{sql} WHERE {column} = ANY(?)", (list(values),))
        rows: list[dict[str, Any]] = []
        for start in range(0, len(values), IN_VALUES_MAX):
            chunk = values[start : start + IN_VALUES_MAX]
            rows += self.execute(f"{sql} WHERE {column} IN ({','.join('?' * len(chunk))})", chunk)
        return rows

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.raw.executemany(self._sql(sql), rows)

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows, one statement for them all: COPY on PostgreSQL, a prepared insert on SQLite."""
        if rows:
            self.copy(table, columns, rows)

    def update_rows(
        self, table: str, key: Sequence[str], columns: dict[str, str], assignments: str, rows: Sequence[Sequence[Any]]
    ) -> None:
        """Update rows of `table` from `rows` (values of `columns`, name: PostgreSQL type, `key`
        among them; one row per key): `assignments` reads the table as `t`, the row as `v`
        (`debits = t.debits + v.debits`). On PostgreSQL one statement for them all (the rows
        as arrays, `unnest`ed); on SQLite a prepared statement per row."""
        if not rows:
            return
        where = " AND ".join(f"t.{k} = v.{k}" for k in key)
        if self.kind == "sqlite":
            values = ", ".join(f"? AS {c}" for c in columns)
            self.raw.executemany(f"UPDATE {table} AS t SET {assignments} FROM (SELECT {values}) AS v WHERE {where}", rows)
            return
        arrays = ", ".join(f"%s::{kind}[]" for kind in columns.values())
        self.raw.execute(
            f"UPDATE {table} AS t SET {assignments} FROM unnest({arrays}) AS v({', '.join(columns)}) WHERE {where}",
            [list(column) for column in zip(*rows, strict=True)],
        )

    def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Bulk-load rows: COPY on PostgreSQL, a prepared insert on SQLite."""
        names = ", ".join(columns)
        if self.kind == "sqlite":
            self.raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", rows)
            return
        with self.raw.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


class ViewStore(TrackingRecorder):
    def __init__(
        self, database: Database, schema: str | None = None, pool_size: int = 4, timeout_s: float | None = None
    ) -> None:
        self.database = database
        self.kind = database.kind
        self.timeout_s = database_timeout_s() if timeout_s is None else timeout_s
        if self.kind == "sqlite":
            self._local = threading.local()
            self._connections: list[sqlite3.Connection] = []
            self._connections_lock = threading.Lock()
        else:
            options = f"-c search_path={schema}" if schema else ""
            self._pool = ViewsPool(
                database.reachability,
                conninfo="",
                kwargs={
                    **database.connect_kwargs(self.timeout_s), "options": options,
                    "row_factory": dict_row, "autocommit": True,
                },
                min_size=1, max_size=pool_size, open=True, name="fundcenter-views",
                timeout=self.timeout_s, check=check_if_spoken_to,  # no round trip unless the server said something
                reconnect_timeout=RECONNECT_WINDOW_S,
            )

    # -- connections ---------------------------------------------------------------

    def _sqlite(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.database.path, isolation_level=None, timeout=30, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One write transaction: everything in it commits together, or nothing does."""
        if self.kind == "sqlite":
            conn = self._sqlite()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Cursor(conn.cursor(), "sqlite")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        else:
            with self._pool.acquire() as conn, conn.transaction(), conn.cursor() as cur:
                yield Cursor(cur, "postgresql")

    def ping(self, timeout_s: float) -> None:
        """Raise unless the database answers a trivial query (a connection within `timeout_s`)."""
        if self.kind == "sqlite":
            self.query("SELECT 1")
            return
        with self._pool.acquire(timeout_s) as conn:
            conn.execute("SELECT 1")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Read rows outside any write transaction."""
        if self.kind == "sqlite":
            return Cursor(self._sqlite().cursor(), "sqlite").execute(sql, params)
        with self._pool.acquire() as conn, conn.cursor() as cur:
            return Cursor(cur, "postgresql").execute(sql, params)

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        """Rows one at a time, without loading a whole table into memory."""
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.database.path, timeout=30)
            conn.row_factory = sqlite3.Row
            try:
                for row in conn.execute(sql, params):
                    yield dict(row)
            finally:
                conn.close()
            return
        with self._pool.acquire() as conn, conn.transaction(), conn.cursor(name="fundcenter_stream") as cur:
            cur.itersize = 2000
            cur.execute(_to_pyformat(sql), params)
            yield from cur

    def close(self) -> None:
        if self.kind == "sqlite":
            with self._connections_lock:
                for conn in self._connections:
                    conn.close()
                self._connections.clear()
            self._local = threading.local()
        else:
            self._pool.close()

    # -- tracking (eventsourcing's TrackingRecorder interface) ----------------------

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.transaction() as cur:
            self.record_tracking(cur, tracking)

    def claim(self, cur: Cursor, application_name: str) -> int:
        """Lock the tracking record for this transaction and return its position, so
        that of two runners one applies a batch and the other sees it applied."""
        lock = " FOR UPDATE" if self.kind == "postgresql" else ""  # SQLite: BEGIN IMMEDIATE already serialises
        select = f"SELECT notification_id FROM projection_tracking WHERE application_name = ?{lock}"
        rows = cur.execute(select, (application_name,))
        if not rows:  # the first batch ever: make the record (another runner may make it first), then lock it
            cur.execute(
                "INSERT INTO projection_tracking (application_name, notification_id) VALUES (?, 0)"
                " ON CONFLICT (application_name) DO NOTHING",
                (application_name,),
            )
            rows = cur.execute(select, (application_name,))
        return rows[0]["notification_id"]

    def record_tracking(self, cur: Cursor, tracking: Tracking) -> None:
        """Move the tracking position forward inside the caller's transaction, or fail."""
        moved = cur.execute(
            "INSERT INTO projection_tracking (application_name, notification_id) VALUES (?, ?) "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = excluded.notification_id "
            "WHERE projection_tracking.notification_id < excluded.notification_id "
            "RETURNING notification_id",
            (tracking.application_name, tracking.notification_id),
        )
        if not moved:
            raise IntegrityError(f"tracking for {tracking.application_name} is already at or past {tracking.notification_id}")

    def max_tracking_id(self, application_name: str) -> int | None:
        rows = self.query("SELECT notification_id FROM projection_tracking WHERE application_name = ?", (application_name,))
        return rows[0]["notification_id"] if rows else None
