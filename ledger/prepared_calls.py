"""A statement the ledger sends thousands of times a second, straight through libpq.

For every `execute` psycopg's cursor renders the query again (a composed one from its parts),
looks a dumper up for each parameter, consults its prepared-statement cache and builds a
result set: for the one-trip insert (ledger/recorders.py) that was about 40 us of the caller's
Python a save, a fifteenth of a one-by-one transfer. A `PreparedCall` prepares its statement
once per connection, under its own name, sends parameters the caller has already made binary
(libpq's PQsendQueryPrepared) and hands back the binary result. It waits on the connection as
the cursor does (`Connection.wait`: the same timeouts and interrupts) and raises psycopg's own
exception for a server's error (`psycopg.errors.error_from_result`), so that a caller sees
what the cursor would have raised: `UndefinedFunction` for a database not yet migrated, a
lock timeout, a connection lost.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

from psycopg import errors, generators
from psycopg.pq import ExecStatus, Format

BINARY = Format.BINARY


class PreparedCall:
    """`call(conn, params)`: the statement `query` (placeholders `$1`..`$n`, parameters of the
    given type oids, each binary or None for NULL) on `conn`, an autocommit connection the caller
    holds alone; returns libpq's result (status TUPLES_OK or COMMAND_OK), its columns binary."""

    def __init__(self, name: str, query: str) -> None:
        self.name, self.query = name.encode(), query.encode()
        self._prepared: weakref.WeakSet[Any] = weakref.WeakSet()  # connections that have the statement
        self._lock = threading.Lock()

    def __call__(self, conn: Any, params: Sequence[bytes | None], types: Sequence[int]) -> Any:
        with conn.lock:
            if conn not in self._prepared:
                self._prepare(conn, types)
            result = self._send(conn, params)
            if result.status == ExecStatus.FATAL_ERROR:
                error = errors.error_from_result(result, encoding=conn.info.encoding)
                if not isinstance(error, errors.InvalidSqlStatementName):
                    raise error
                # The session lost the statement (a `DISCARD ALL`, `DEALLOCATE`): prepare it again, once.
                self._forget(conn)
                self._prepare(conn, types)
                result = self._send(conn, params)
                if result.status == ExecStatus.FATAL_ERROR:
                    raise errors.error_from_result(result, encoding=conn.info.encoding)
        return result

    def ready(self, conn: Any, types: Sequence[int]) -> None:
        """Prepare the statement on `conn` if it is not yet: before a pipeline, in which a prepare
        could not be waited for alone."""
        with conn.lock:
            if conn not in self._prepared:
                self._prepare(conn, types)

    def queue(self, conn: Any, params: Sequence[bytes | None]) -> None:
        """Send the statement (`ready` on `conn`) in `conn`'s pipeline, its result left to be read
        with the pipeline's others (ledger/recorders.py's `StagedInsert`)."""
        conn.pgconn.send_query_prepared(self.name, params, [BINARY] * len(params), BINARY)
        conn.wait(generators.send(conn.pgconn))

    def forget(self, conn: Any) -> None:
        """`conn` lost the statement (its error said so): prepare it again next time."""
        self._forget(conn)

    def _send(self, conn: Any, params: Sequence[bytes | None]) -> Any:
        conn.pgconn.send_query_prepared(self.name, params, [BINARY] * len(params), BINARY)
        return conn.wait(generators.execute(conn.pgconn))[-1]

    def _prepare(self, conn: Any, types: Sequence[int]) -> None:
        conn.pgconn.send_prepare(self.name, self.query, list(types))
        result = conn.wait(generators.execute(conn.pgconn))[-1]
        if result.status == ExecStatus.FATAL_ERROR:
            error = errors.error_from_result(result, encoding=conn.info.encoding)
            if not isinstance(error, errors.DuplicatePreparedStatement):  # prepared by an earlier life of this object
                raise error
        with self._lock:
            self._prepared.add(conn)

    def _forget(self, conn: Any) -> None:
        with self._lock:
            self._prepared.discard(conn)
