"""Where the ledger keeps its events: database URLs, migrations, log positions.

URLs are `sqlite:///path` (relative) or `sqlite:////abs/path`, and
`postgresql://user[:password]@host[:port]/dbname`. Without one, the
`FUNDCENTER_DATABASE_URL` environment variable, else `sqlite:///./fundcenter.db`.

The SQL in `migrations/` owns the schema, event store included (`common/` where
it is the same on both databases, `<database>/` where it differs): each
version runs once, in name order, in its own transaction with its version row, under
a lock, so two processes migrating at once do not collide. A SQLite version may add a
Python step after its SQL, in the same transaction (`_SQLITE_AFTER`: 0012's backfill of the
hash chain, SQLite having no SHA-256 in SQL).

Outages are handled by the pools of `ledger/pools.py`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Literal
from urllib.parse import unquote, urlsplit
from uuid import UUID

import psycopg
from psycopg import sql

from .audit.chain_store import backfill_sqlite
from .pools import KEEPALIVES, Reachability, database_timeout_s, reachability_at

DEFAULT_URL = "sqlite:///./fundcenter.db"
# The library's JSON format, parsed and printed by orjson (ledger/transcoding.py): the same bytes, faster.
TRANSCODER_TOPIC = "ledger.transcoding:FastJSONTranscoder"
MAPPER_TOPIC = "ledger.transcoding:FastMapper"
log = logging.getLogger(__name__)

class DatabaseURLError(ValueError):
    pass


def resolve_url(url: str | None) -> str:
    return url or os.environ.get("FUNDCENTER_DATABASE_URL") or DEFAULT_URL


def redact_url(url: str) -> str:
    """The URL with its password masked: the only form of a database URL that is ever printed."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


@dataclass(frozen=True)
class Database:
    url: str
    kind: Literal["sqlite", "postgresql"]
    path: str = ""  # sqlite
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    dbname: str = ""

    @classmethod
    def from_url(cls, url: str | None = None) -> Database:
        url = resolve_url(url)
        parts = urlsplit(url)
        if parts.scheme == "sqlite":
            path = unquote(parts.path)[1:] if parts.path.startswith("/") else ""
            if not path or ":memory:" in path:
                raise DatabaseURLError(f"{redact_url(url)!r}: give a file, as sqlite:///path/to/fundcenter.db")
            return cls(url=url, kind="sqlite", path=path)
        if parts.scheme in ("postgresql", "postgres"):
            dbname = unquote(parts.path.lstrip("/"))
            if not parts.hostname or not dbname:
                raise DatabaseURLError(f"{redact_url(url)!r}: expected postgresql://user@host:port/dbname")
            return cls(
                url=url,
                kind="postgresql",
                host=parts.hostname,
                port=parts.port or 5432,
                user=unquote(parts.username or "postgres"),
                password=unquote(parts.password or ""),
                dbname=dbname,
            )
        raise DatabaseURLError(f"{redact_url(url)!r}: expected a sqlite:/// or postgresql:// URL")

    def eventsourcing_env(self, timeout_s: float | None = None) -> dict[str, str]:
        """Settings for eventsourcing's infrastructure factory (both stores: the transcoder of
        `ledger/transcoding.py`, the application recorders of `ledger/recorders.py`).

        On PostgreSQL: connections are acquired and made within `timeout_s` (default
        `database_timeout_s()`), pinged before use, and a session idle in a
        transaction for 5 s is ended by the server (a client that died mid-save must
        not hold the event table's lock). No lock timeout: saves queue on that lock
        by design, and a commit is short."""
        if self.kind == "sqlite":
            return {
                "PERSISTENCE_MODULE": "ledger.recorders:SQLiteFactory", "SQLITE_DBNAME": self.path, "CREATE_TABLE": "n",
                "TRANSCODER_TOPIC": TRANSCODER_TOPIC, "MAPPER_TOPIC": MAPPER_TOPIC,
                "APPLICATION_RECORDER_TOPIC": "ledger.recorders:SQLiteRecorder",
            }
        timeout_s = database_timeout_s() if timeout_s is None else timeout_s
        return {
            "PERSISTENCE_MODULE": "ledger.pools:PostgresFactory",
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_POOL_SIZE": "5",
            "POSTGRES_MAX_OVERFLOW": "15",
            "POSTGRES_CONNECT_TIMEOUT": str(max(1, round(timeout_s))),  # eventsourcing's is whole seconds
            "FUNDCENTER_DATABASE_TIMEOUT_S": str(timeout_s),  # ours, exact (PostgresFactory above)
            "POSTGRES_PRE_PING": "y",
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "5",
            "POSTGRES_CONN_MAX_AGE": "1800",
            "CREATE_TABLE": "n",
            "TRANSCODER_TOPIC": TRANSCODER_TOPIC,
            "MAPPER_TOPIC": MAPPER_TOPIC,
        }

    @property
    def reachability(self) -> Reachability:
        """What this process knows about reaching this database (always up for SQLite)."""
        return reachability_at(self.host, self.port, self.dbname if self.kind == "postgresql" else self.path)

    def connect_kwargs(self, timeout_s: float | None = None) -> dict[str, Any]:
        """psycopg connection arguments, with a connect timeout (libpq's: whole seconds, at least 2)."""
        timeout_s = database_timeout_s() if timeout_s is None else timeout_s
        return {
            "host": self.host, "port": self.port, "user": self.user, "password": self.password,
            "dbname": self.dbname, "connect_timeout": max(2, round(timeout_s)), **KEEPALIVES,
        }

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A plain DB-API connection, for migrations and read models."""
        if self.kind == "sqlite":
            with closing(sqlite3.connect(self.path, isolation_level=None, timeout=30)) as conn:
                yield conn
        else:
            with psycopg.connect(**self.connect_kwargs(), autocommit=True) as conn:
                yield conn


MIGRATION_KINDS = ("postgresql", "sqlite")


class MigrationConflict(Exception):
    """A migration version defined both in `common/` and for a database: which one applies is unclear."""


def migration_files(kind: str, root: Traversable | None = None) -> list[tuple[str, str]]:
    """(version, SQL) of every migration for database `kind`, in version order: those in
    `migrations/common/` (the same SQL on both databases) and those in `migrations/<kind>/`."""
    if kind not in MIGRATION_KINDS:
        raise ValueError(f"no migrations for database {kind!r}")
    root = root or resources.files("migrations")
    common = {f.name.removesuffix(".sql"): f for f in (root / "common").iterdir() if f.name.endswith(".sql")}
    specific = {f.name.removesuffix(".sql"): f for f in (root / kind).iterdir() if f.name.endswith(".sql")}
    both = sorted(common.keys() & specific.keys())
    if both:
        raise MigrationConflict(f"migration {', '.join(both)} is in both migrations/common/ and migrations/{kind}/")
    files = {**common, **specific}
    return [(version, files[version].read_text()) for version in sorted(files)]


def migrate(db: Database, schema: str | None = None) -> list[str]:
    """Apply the migrations this database (or this PostgreSQL schema) lacks; return the versions applied."""
    with db.connect() as conn:
        if db.kind == "sqlite":
            return _migrate_sqlite(conn)
        if schema is not None:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        return _migrate_postgres(conn)


_VERSIONS_TABLE = "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"


# What a SQLite migration does in Python after its SQL, in its transaction: SQLite has no
# SHA-256 in SQL, so 0012's backfill of the hash chain over older logs is here.
_SQLITE_AFTER = {"0012_event_chain": backfill_sqlite}


def _migrate_sqlite(conn: sqlite3.Connection) -> list[str]:
    applied = []
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(_VERSIONS_TABLE)
    for version, script in migration_files("sqlite"):
        conn.execute("BEGIN IMMEDIATE")  # the write lock: one migrator at a time
        try:
            if conn.execute("SELECT 1 FROM schema_migrations WHERE version=?", (version,)).fetchone():
                conn.execute("ROLLBACK")
                continue
            for statement in _statements(script):
                conn.execute(statement)
            if version in _SQLITE_AFTER:
                _SQLITE_AFTER[version](conn)
            conn.execute("INSERT INTO schema_migrations VALUES (?, datetime('now'))", (version,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


def _migrate_postgres(conn: psycopg.Connection) -> list[str]:
    applied = []
    for version, script in migration_files("postgresql"):
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('fundcenter.migrate'))")
            conn.execute(_VERSIONS_TABLE)
            if conn.execute("SELECT 1 FROM schema_migrations WHERE version=%s", (version,)).fetchone():
                continue
            conn.execute(script)
            conn.execute("INSERT INTO schema_migrations VALUES (%s, now()::text)", (version,))
        applied.append(version)
    return applied


def _statements(script: str) -> list[str]:
    """Split a migration on `;` line ends (our SQLite files hold no procedural code)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def position_of(db: Database, recorder: Any, originator_id: UUID, version: int) -> int | None:
    """The log position (notification id) at which an aggregate's event was recorded,
    read through the event recorder's own connection pool."""
    table = recorder.events_table_name
    if db.kind == "sqlite":
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT rowid FROM {table} WHERE originator_id=? AND originator_version=?",
                (originator_id.hex, version),
            )
            row = c.fetchone()
            return row[0] if row else None
    with recorder.datastore.get_connection() as conn:
        row = conn.execute(
            sql.SQL("SELECT notification_id FROM {} WHERE originator_id=%s AND originator_version=%s").format(
                sql.Identifier(table)
            ),
            (originator_id, version),
        ).fetchone()
        return row["notification_id"] if row else None
