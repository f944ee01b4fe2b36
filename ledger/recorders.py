"""The event store's insert in one round trip to PostgreSQL.

eventsourcing 9.5's `PostgresApplicationRecorder.insert_events` runs a pipeline:
BEGIN, `SET LOCAL lock_timeout`, `LOCK TABLE ... IN EXCLUSIVE MODE`, `NOTIFY`,
the insert, a sync for its notification ids, COMMIT. That is about 15 waits on
the connection per save, and the table lock is held while the client goes
back and forth (with other threads wanting the GIL meanwhile).

`OneTripRecorder` sends one statement instead, in autocommit: the server-side
function `fundcenter_insert_events` (migrations/postgresql/0009_*; now 0021's
`fundcenter_insert_events_with_links`) takes the same
lock, NOTIFYs the same channel, inserts into the same table through the same
composite type and returns the notification ids; the statement's own
transaction commits it. Tables, ordering (ids commit in the order they are
given) and notifications are the library's, so a process running the library's
recorder on the same database stays correct beside this one.

A save that writes extra rows in the same transaction (a subclass's
`_insert_events`, or `save(..., **kwargs)`, a tracking record) takes the library's path.

Every stored event is covered by a link of the hash chain (ledger/audit/chain.py), written
in the insert's own transaction under the same lock. On PostgreSQL the recorder calls 0021's
`fundcenter_insert_events_with_links` (0009's insert, chaining): it keeps the chain's last
link after its own last insert (`chain_end`), hashes the next insert's links from it as if
its events take the next positions, and sends them; the function stores them in the
statement that inserts the events when the events do take those positions (no other insert
came between), and otherwise chains on the server from the table's last link and returns
the links it made (0012's, 0018's and 0019's versions of `fundcenter_insert_events` chain
on the server always, and stay for processes running older code). On the library's path the
recorder calls `fundcenter_chain_events` after its insert, before the commit. On SQLite
`SQLiteRecorder` chains in Python, after its insert, in its transaction. Snapshots are sealed to
the chain the same way, by the snapshot recorders below (named by `SQLiteFactory` and by
ledger/pools.py's `PostgresFactory`).

Both recorders (this one, and `SQLiteRecorder` on SQLite) tell listeners of each
insert this process makes once it has committed (`listen()`): what this process
keeps in memory about the log (the API's key cache) learns of its own writes at
once, without waiting for the projection runner.
"""

from __future__ import annotations

import logging
import struct
import weakref
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    Notification,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder, SQLiteApplicationRecorder
from eventsourcing.sqlite import SQLiteFactory as LibrarySQLiteFactory
from eventsourcing.utils import retry
from psycopg import errors, generators, sql
from psycopg.pq import ExecStatus, TransactionStatus
from psycopg.rows import tuple_row

from .audit.chain import links_after
from .audit.chain_store import LOG_TABLES, append_links, seal_snapshots
from .event_rows import BYTEA_OID, INT8_OID, EventRows, EventRowsDumper
from .prepared_calls import PreparedCall

log = logging.getLogger(__name__)

EVENTS_TABLE = LOG_TABLES["postgresql"].events  # the table (and the channel) that 0009's function writes to
SNAPSHOTS_TABLE = LOG_TABLES["postgresql"].snapshots
INSERT_FUNCTION = "fundcenter_insert_events_with_links"  # 0021 (0009, 0018, 0019: fundcenter_insert_events)
CHAIN_FUNCTION = "fundcenter_chain_events"  # 0012: chains events inserted in this transaction
SEAL_FUNCTION = "fundcenter_seal_snapshots"  # 0012: seals snapshots inserted in this transaction
SQLITE_EVENTS_TABLE, SQLITE_SNAPSHOTS_TABLE = LOG_TABLES["sqlite"].events, LOG_TABLES["sqlite"].snapshots


INT4_OID = 23
_INT4, _INT8 = struct.Struct(">i"), struct.Struct(">q")  # PostgreSQL's binary int4, int8

Listener = Callable[[Sequence[StoredEvent]], None]

psycopg.adapters.register_dumper(EventRows, EventRowsDumper)  # our class only: what the one-trip insert sends


class _Told:
    """`listen(listener)`: `listener(stored_events)` after each insert of this recorder commits,
    in the inserting thread (so quick, and never raising)."""

    _listeners: list[Listener]

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _tell(self, stored_events: Sequence[StoredEvent]) -> None:
        for listener in self._listeners:
            listener(stored_events)


class SQLiteRecorder(_Told, SQLiteApplicationRecorder):
    """eventsourcing's SQLite application recorder, telling its listeners of each insert."""

    def __init__(self, datastore: Any, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)
        self._listeners = []

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = super().insert_events(stored_events, **kwargs)
        self._tell(stored_events)
        return ids

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if self.events_table_name == SQLITE_EVENTS_TABLE and ids:
            append_links(c, ids, stored_events)  # in the insert's transaction, under SQLite's write lock
        return ids


class SQLiteSnapshotRecorder(SQLiteAggregateRecorder):
    """eventsourcing's SQLite aggregate recorder, sealing each snapshot it stores to the chain."""

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if self.events_table_name == SQLITE_SNAPSHOTS_TABLE:
            seal_snapshots(c, SQLITE_EVENTS_TABLE, stored_events)
        return ids


class SQLiteFactory(LibrarySQLiteFactory):
    """eventsourcing's SQLite infrastructure, its snapshots sealed (`SQLiteSnapshotRecorder`).
    Named by `Database.eventsourcing_env()` as the persistence module."""

    aggregate_recorder_class = SQLiteSnapshotRecorder


class PostgresSnapshotRecorder(PostgresAggregateRecorder):
    """eventsourcing's PostgreSQL aggregate recorder, sealing each snapshot it stores to the chain:
    its insert and 0012's `fundcenter_seal_snapshots`, in one transaction."""

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.seal = sql.SQL("SELECT {schema}.{function}(%s, %s)").format(
            schema=sql.Identifier(self.datastore.schema), function=sql.Identifier(SEAL_FUNCTION)
        )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if self.events_table_name != SNAPSHOTS_TABLE:
            return super().insert_events(stored_events, **kwargs)
        if stored_events:
            with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
                self._insert_stored_events(curs, stored_events, **kwargs)
                keys = ([_uuid(e.originator_id) for e in stored_events], [e.originator_version for e in stored_events])
                curs.execute(self.seal, keys)
        return None


class OneTripRecorder(_Told, PostgresApplicationRecorder):
    """eventsourcing's application recorder, its insert made one statement (see the module),
    telling its listeners of each insert."""

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self._listeners = []
        self.one_trip = events_table_name == EVENTS_TABLE
        self.select_range = {
            inclusive: sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state FROM {schema}.{table}"
                " WHERE notification_id {op} %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
            ).format(schema=sql.Identifier(self.datastore.schema), table=sql.Identifier(events_table_name),
                     op=sql.SQL(">=" if inclusive else ">"))
            for inclusive in (True, False)
        }
        # Sent straight through libpq, prepared once per connection (ledger/prepared_calls.py): the
        # cursor's per-call work was a fifteenth of a one-by-one transfer. The events go in binary
        # (ledger/event_rows.py): a composite array's text form escapes each field's text with a
        # regular expression (bytea's hex, quotes), a sixth of a batch's Python.
        function = sql.Identifier(self.datastore.schema, INSERT_FUNCTION).as_string(None)
        self.insert_in_one_trip = PreparedCall(
            "fundcenter_insert_events_with_links_0021", f"SELECT inserted_id, chain_hash FROM {function}($1, $2, $3, $4)"
        )
        self._dumpers: weakref.WeakKeyDictionary[Any, EventRowsDumper] = weakref.WeakKeyDictionary()
        # The chain's last link after this recorder's last committed insert (position, hash), or None.
        # From it the recorder hashes the next insert's links itself, as if its events take the next
        # positions; 0021's function stores them when they do, else chains from the table's last link
        # (another thread's insert came between: the pair is stale, still a true one) and returns them.
        self.chain_end: tuple[int, bytes] | None = None

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = self._insert(stored_events, **kwargs)
        self._tell(stored_events)
        return ids

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_notifications(
        self, start: int | None, limit: int, stop: int | None = None, topics: Sequence[str] = (), *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The library's select for the projection runner's reads (a range, every topic), its rows
        as tuples and in binary rather than a dict per row parsed from text; any other select is the
        library's own."""
        if start is None or stop is None or topics:
            return super().select_notifications(start, limit, stop, topics, inclusive_of_start=inclusive_of_start)
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row, binary=True) as curs:
            curs.execute(self.select_range[inclusive_of_start], (start, stop, limit), prepare=True)
            rows = curs.fetchall()
        return [notification(i, oid, version, topic, bytes(state)) for i, oid, version, topic, state in rows]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _insert(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        extra = {k: v for k, v in kwargs.items() if v is not None}  # `save()` always passes tracking=None
        if extra or not self._in_one_trip():
            return super().insert_events(stored_events, **kwargs)
        if not stored_events:
            return []
        links, last_link, after, end = None, None, None, self.chain_end  # read once: other threads replace it
        if end is not None:
            after = end[0]
            links, last_link = links_after(end[1], after, stored_events)
        try:
            result = self._insert_in_one_trip(stored_events, links, after)
        except ProgrammingError as error:
            if not isinstance(error.__cause__, psycopg.errors.UndefinedFunction):
                raise
        else:
            ids = _inserted_ids(result)  # committed: the statement was its own transaction
            self._chained(ids[-1], result.get_value(len(ids) - 1, 1), last_link)
            return ids
        # A database not yet migrated to 0021 (a process started with migrate=False): the library's way.
        log.warning("%s() with the writer's links is missing (migration 0021): inserting the library's way", INSERT_FUNCTION)
        self.one_trip = False
        return super().insert_events(stored_events, **kwargs)

    def _insert_in_one_trip(self, stored_events: Sequence[StoredEvent], links: bytes | None, after: int | None) -> Any:
        """The one-trip statement's result, on the connection the datastore holds for it (ledger/pools.py's
        `HeldConnection`: no pool round per insert), or a pooled one when another thread holds that."""
        held = getattr(self.datastore, "held", None)  # ledger/pools.py's datastore
        failed, conn = True, None
        if held is None:
            with self.datastore.get_connection() as pooled:
                return self._sent(pooled, stored_events, links, after)
        try:
            conn = held.take()
            if conn is None:
                with self.datastore.get_connection() as pooled:
                    return self._sent(pooled, stored_events, links, after)
            result = self._sent(conn, stored_events, links, after)
            failed = False
            return result
        except psycopg.Error as error:  # on the held connection: translated as the datastore's are
            raise translated(error) from error
        finally:
            if conn is not None:
                held.give(failed)

    def _in_one_trip(self) -> bool:
        """Whether inserts take the one-trip statement: the events' table, the function there (see
        `one_trip`), and no subclass writing extra rows in the insert's transaction."""
        return self.one_trip and type(self)._insert_events is PostgresApplicationRecorder._insert_events

    def _chained(self, last_id: int, made: Any, last_link: bytes | None) -> None:
        """After a committed insert whose last event took `last_id`: the chain's last link is the
        server's when it made the links (`made`), else ours; None when nothing chained (a function
        without the chain)."""
        last = bytes(made) if made is not None else last_link
        self.chain_end = (last_id, last) if last is not None else None

    def _sent(self, conn: Any, stored_events: Sequence[StoredEvent], links: bytes | None, after: int | None) -> Any:
        return self.insert_in_one_trip(conn, *self._params(conn, stored_events, links, after))

    def _params(
        self, conn: Any, stored_events: Sequence[StoredEvent], links: bytes | None, after: int | None,
    ) -> tuple[tuple[bytes | None, ...], tuple[int, ...]]:
        """The one-trip statement's parameters, binary, and their types."""
        dumper = self._dumpers.get(conn) or self._dumpers.setdefault(conn, EventRowsDumper(EventRows, conn))
        params = (
            dumper.dump(EventRows(stored_events)),  # the composites' array, packed at once (ledger/event_rows.py)
            _INT4.pack(self.datastore.lock_timeout),
            links,
            None if after is None else _INT8.pack(after),
        )
        return params, (dumper.oid, INT4_OID, BYTEA_OID, INT8_OID)

    def staged(self) -> StagedInsert | None:
        """An insert sent in parts, in one transaction, on the held connection (`StagedInsert`); None
        where the one-trip insert does not apply, or another thread holds the connection."""
        held = getattr(self.datastore, "held", None)  # ledger/pools.py's datastore
        if held is None or not self._in_one_trip():
            return None
        conn = held.take()
        return None if conn is None else StagedInsert(self, conn, held)

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's path: its insert, then (same transaction, lock still held) the chain's links."""
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if self.events_table_name == EVENTS_TABLE and ids:
            curs.execute(
                sql.SQL("SELECT {schema}.{function}(%s)").format(
                    schema=sql.Identifier(self.datastore.schema), function=sql.Identifier(CHAIN_FUNCTION)
                ),
                (list(ids),),
            )
            curs.fetchall()  # now, so that a failure fails this insert here
        return ids


# What sends a staged insert's events the one-trip insert's usual way: a connection that broke, a
# session without the prepared statement, a database without the function.
_THE_USUAL_WAY = (psycopg.OperationalError, psycopg.InterfaceError, errors.InvalidSqlStatementName,
                  errors.UndefinedFunction)


class StagedInsert:
    """One insert of the one-trip statement's kind, its events sent in parts as the caller makes
    them, all in one transaction: the server stores a part while the caller makes the next.

    A batch of transfers (`transfer_many`) spends about three quarters of its time in Python
    making its events and a quarter waiting for the server to store them; sent at the end, the
    server and the caller take turns. Sent in parts, the server's work overlaps the caller's
    but for the last part's. The parts go in libpq's pipeline mode between `BEGIN` and `COMMIT`,
    each the one-trip statement (its lock, its notification, its links: the links of a part
    are hashed as if its events take the positions after the part before, which the function
    checks as it does for a whole insert); `commit()` sends `COMMIT` and reads every answer,
    one wait in all. Nothing is visible to anyone before the commit; a failed part fails them
    all, and its error is raised (as `insert_events` raises it) once the transaction is rolled
    back. `abort()` rolls back what was sent. If the connection breaks, or the session lacks
    the statement or its function, the events go in at the commit by `insert_events` (its
    retries, its fallbacks): an insert whose commit went through with its answer lost is then
    refused as a conflict, as a repeated command is. The connection goes back to the
    recorder's hold, or closed to the pool if it may be in any other state than idle."""

    def __init__(self, recorder: OneTripRecorder, conn: Any, held: Any) -> None:
        self.recorder, self.conn, self.held = recorder, conn, held
        end = recorder.chain_end  # read once: other threads replace it
        self.after: int | None = end[0] if end is not None else None  # the position the next part follows
        self.link: bytes | None = end[1] if end is not None else None  # the chain's link there
        self.events: list[StoredEvent] = []  # every event given, in order
        self.parts = 0  # parts sent
        self.broken = False  # a send failed on the connection: the commit inserts them all the usual way
        self.done = False  # the connection is given back

    def send(self, stored_events: Sequence[StoredEvent]) -> None:
        """Send one part's events (not empty) to be stored after the parts before."""
        assert stored_events and not (self.done and not self.broken)
        self.events.extend(stored_events)
        if self.broken:
            return
        links, after = None, self.after
        if self.link is not None and after is not None:
            links, self.link = links_after(self.link, after, stored_events)
            self.after = after + len(stored_events)
        params, types = self.recorder._params(self.conn, stored_events, links, after)
        call, pgconn = self.recorder.insert_in_one_trip, self.conn.pgconn
        try:
            if not self.parts:
                call.ready(self.conn, types)
            with self.conn.lock:
                if not self.parts:
                    pgconn.enter_pipeline_mode()
                    pgconn.send_query_params(b"BEGIN", None)
                call.queue(self.conn, params)
        except _THE_USUAL_WAY:
            self._close(failed=True)
            self.broken = True
            return
        except BaseException as error:
            self._close(failed=True)
            if isinstance(error, psycopg.Error):
                raise translated(error) from error
            raise
        self.parts += 1

    def commit(self) -> Sequence[int] | None:
        """Commit the parts sent: the notification ids their events took, in order, as
        `insert_events` answers."""
        assert self.events
        if self.broken:
            return self.recorder.insert_events(self.events)
        try:
            ids = self._committed()
        except _THE_USUAL_WAY:
            return self.recorder.insert_events(self.events)
        except psycopg.Error as error:
            raise translated(error) from error
        self.recorder._tell(self.events)
        return ids

    def abort(self) -> None:
        """Roll back what was sent (nothing of it was visible); nothing, after `commit`."""
        if self.done:
            return
        failed = True
        try:
            if self.parts:
                with self.conn.lock:
                    self._ended(b"ROLLBACK")
            failed = self.conn.pgconn.transaction_status != TransactionStatus.IDLE
        finally:
            self._close(failed)

    def _committed(self) -> list[int]:
        failed = True
        try:
            with self.conn.lock:
                results = self._ended(b"COMMIT")
                error = next((r for r in results if r.status == ExecStatus.FATAL_ERROR), None)
                if error is not None:
                    pgconn = self.conn.pgconn
                    if pgconn.transaction_status == TransactionStatus.INERROR:  # the rest was skipped to the sync
                        pgconn.send_query_params(b"ROLLBACK", None)
                        self.conn.wait(generators.execute(pgconn))
                    failed = pgconn.transaction_status != TransactionStatus.IDLE
                    raised = errors.error_from_result(error, encoding=self.conn.info.encoding)
                    if isinstance(raised, errors.InvalidSqlStatementName):  # the session lost the statement
                        self.recorder.insert_in_one_trip.forget(self.conn)
                    raise raised
            inserts = [r for r in results if r.status == ExecStatus.TUPLES_OK]
            assert len(inserts) == self.parts, "one answer with rows a part"
            ids = [i for result in inserts for i in _inserted_ids(result)]
            assert len(ids) == len(self.events), "an id an event"
            last = inserts[-1]
            self.recorder._chained(ids[-1], last.get_value(last.ntuples - 1, 1), self.link)
            failed = False
            return ids
        finally:
            self._close(failed)

    def _ended(self, end: bytes) -> list[Any]:
        """Send `end` and the pipeline's sync; every answer since `BEGIN`, once the server is idle."""
        pgconn = self.conn.pgconn
        pgconn.send_query_params(end, None)
        pgconn.pipeline_sync()
        self.conn.wait(generators.send(pgconn))
        results: list[Any] = []
        while True:
            got = self.conn.wait(generators.fetch_many(pgconn))
            if got and got[-1].status == ExecStatus.PIPELINE_SYNC:
                break
            results.extend(got)
        pgconn.exit_pipeline_mode()
        return results

    def _close(self, failed: bool) -> None:
        if self.done:
            return
        self.done = True
        try:
            if failed and not self.conn.closed:
                self.conn.close()  # the server rolls back whatever was open; the pool drops it
        finally:
            self.held.give(failed)


def _inserted_ids(result: Any) -> list[int]:
    """The notification ids in the one-trip statement's binary result."""
    value, unpack = result.get_value, _INT8.unpack
    return [unpack(value(row, 0))[0] for row in range(result.ntuples)]


def translated(error: psycopg.Error) -> PersistenceError:
    """eventsourcing's error for psycopg's, as its datastore translates them (its recorders retry
    an OperationalError or an InterfaceError; the writer takes an IntegrityError for a conflict)."""
    for kind, theirs in _TRANSLATIONS:
        if isinstance(error, kind):
            return theirs(str(error))
    return PersistenceError(str(error))


_TRANSLATIONS: list[tuple[type[psycopg.Error], type[PersistenceError]]] = [  # the first that applies
    (psycopg.InterfaceError, InterfaceError), (psycopg.OperationalError, OperationalError),
    (psycopg.DataError, DataError), (psycopg.IntegrityError, IntegrityError),
    (psycopg.InternalError, InternalError), (psycopg.ProgrammingError, ProgrammingError),
    (psycopg.NotSupportedError, NotSupportedError), (psycopg.DatabaseError, DatabaseError),
]


def notification(id: int, originator_id: UUID, originator_version: int, topic: str, state: bytes) -> Notification:
    """The library's `Notification` of these fields, made as its mapper makes domain events, its fields
    set at once: a frozen dataclass's `__init__` sets them one `object.__setattr__` at a time (1.0 us
    against 0.4 a notification; a batch of transfers has 300)."""
    made = object.__new__(Notification)
    object.__setattr__(made, "__dict__", {"originator_id": originator_id, "originator_version": originator_version,
                                          "topic": topic, "state": state, "id": id})
    return made


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)
