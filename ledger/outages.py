"""Whether an error means the database cannot be reached now, rather than a bug.

The API answers such an error `503 database-unavailable` (api/problems.py); the background
workers (projections, webhook delivery) log it in one line and retry, keeping a traceback
for what is not an outage.
"""

from __future__ import annotations

import sqlite3

import psycopg
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError

from .pools import DatabaseUnavailable

_SQLITE_UNAVAILABLE = ("database is locked", "database table is locked", "unable to open", "disk i/o error")


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` means the database cannot be reached now.

    Walks the chain of causes: eventsourcing wraps the driver's errors. Every psycopg
    OperationalError (connection refused or lost, AdminShutdown, PoolTimeout, a server
    starting up or shutting down, a lock or serialization timeout) and InterfaceError
    (a closed connection) counts; of SQLite's only "locked" and "unable to open"; an
    eventsourcing OperationalError or InterfaceError with no driver error behind it counts.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DatabaseUnavailable | psycopg.OperationalError | psycopg.InterfaceError):
            return True
        if isinstance(current, sqlite3.Error):
            return any(text in str(current).lower() for text in _SQLITE_UNAVAILABLE)
        if isinstance(current, psycopg.Error):
            return False
        cause = current.__cause__ or current.__context__
        if cause is None and isinstance(current, StoreOperationalError | StoreInterfaceError):
            return True
        current = cause
    return False
