"""The hash chain's tables (migration 0012_event_chain), in plain SQL over the ledger's own datastore.

- `event_chain (position, hash)`: the chain's link at each log position (`ledger.audit.chain`);
- `snapshot_seals (originator_id, originator_version, position, hash)`: each snapshot's seal;
- `chain_checkpoints (position, hash, verified_at)`: where `fundcenter audit verify` found the chain whole.

On PostgreSQL the links are stored by the insert's own function (migrations/postgresql/0012_*,
0018_*, 0019_*, 0021_*): those the writer hashed (`chain.links_after`) when its events take the
positions after its last link, else computed by the server. On SQLite `append_links` and `seal_snapshots` compute them in
Python, called by the recorders (ledger/recorders.py) inside the insert's transaction, after
the insert: the transaction then holds SQLite's write lock, so the chain's last link read
there is the one just before these events.

`chain_hash_at(store, position)` is what a day close (or anyone else) reads: the chain's
link at a log position.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple
from uuid import UUID

from .chain import GENESIS, link, seal


class LogTables(NamedTuple):
    """Where the event store keeps the log on one kind of database (migrations 0001)."""

    events: str
    position: str  # the events table's log-position column
    snapshots: str
    placeholder: str


LOG_TABLES = {
    "postgresql": LogTables("fundcenter_events", "notification_id", "fundcenter_snapshots", "%s"),
    "sqlite": LogTables("stored_events", "rowid", "stored_snapshots", "?"),
}
CHAIN_TABLE = "event_chain"
SEALS_TABLE = "snapshot_seals"
CHECKPOINTS_TABLE = "chain_checkpoints"
CHECKPOINTS_KEPT_MAX = 100  # older verified checkpoints are forgotten
_LAST_LINK = f"SELECT position, hash FROM {CHAIN_TABLE} ORDER BY position DESC LIMIT 1"


def _is_sqlite(conn_or_cursor: Any) -> bool:
    return type(conn_or_cursor).__module__.startswith(("sqlite3", "eventsourcing.sqlite"))


# -- SQLite's writes (PostgreSQL's are in its migration's functions) -------------------------------


def append_links(cursor: Any, positions: Sequence[int], stored_events: Sequence[Any]) -> None:
    """Chain these events, just inserted at these rowids in the cursor's transaction (SQLite)."""
    row = _fetchone(cursor, _LAST_LINK)
    previous = bytes(row[1]) if row else GENESIS
    rows = []
    for position, e in sorted(zip(positions, stored_events, strict=True), key=lambda pe: pe[0]):
        previous = link(previous, position, _uuid(e.originator_id), e.originator_version, e.topic, e.state)
        rows.append((position, previous))
    cursor.executemany(f"INSERT INTO {CHAIN_TABLE} (position, hash) VALUES (?, ?)", rows)


def seal_snapshots(cursor: Any, events_table: str, snapshots: Sequence[Any]) -> None:
    """Seal these snapshots, just inserted in the cursor's transaction, to the chain (SQLite)."""
    rows = []
    for s in snapshots:
        oid = _uuid(s.originator_id)
        found = _fetchone(
            cursor,
            f"SELECT e.rowid, c.hash FROM {events_table} e JOIN {CHAIN_TABLE} c ON c.position = e.rowid"
            " WHERE e.originator_id = ? AND e.originator_version = ?",
            (oid.hex, s.originator_version),
        )
        if found is None:
            continue  # no chained event at its version: `audit verify` reports the snapshot unsealed
        position, chain_hash = found
        rows.append((oid.hex, s.originator_version, position, seal(bytes(chain_hash), position, oid,
                                                                   s.originator_version, s.topic, s.state)))
    cursor.executemany(
        f"INSERT INTO {SEALS_TABLE} (originator_id, originator_version, position, hash) VALUES (?, ?, ?, ?)", rows
    )


def _fetchone(cursor: Any, query: str, params: Sequence[Any] = ()) -> Any:
    """One row, from a DB-API connection or cursor, or eventsourcing's SQLite cursor (whose execute returns None)."""
    executed = cursor.execute(query, params)
    return (executed if executed is not None else cursor).fetchone()


def backfill_sqlite(conn: Any) -> int:
    """Chain every event of an older log, in rowid order, then seal its snapshots (run by
    migration 0012 on SQLite, in its transaction). Returns how many events were chained."""
    events_table, snapshots_table = LOG_TABLES["sqlite"].events, LOG_TABLES["sqlite"].snapshots
    previous, count, page = GENESIS, 0, 10_000
    after = 0
    while True:
        rows = conn.execute(
            f"SELECT rowid, originator_id, originator_version, topic, state FROM {events_table}"
            f" WHERE rowid > ? ORDER BY rowid LIMIT {page}",
            (after,),
        ).fetchall()
        links = []
        for position, oid, version, topic, state in rows:
            previous = link(previous, position, UUID(oid), version, topic, bytes(state))
            links.append((position, previous))
        conn.executemany(f"INSERT INTO {CHAIN_TABLE} (position, hash) VALUES (?, ?)", links)
        count += len(rows)
        if len(rows) < page:
            break
        after = rows[-1][0]
    snapshots = conn.execute(f"SELECT originator_id, originator_version, topic, state FROM {snapshots_table}")
    seal_snapshots(conn, events_table, [_Row(UUID(i), v, t, bytes(s)) for i, v, t, s in snapshots.fetchall()])
    return count


class _Row:
    __slots__ = ("originator_id", "originator_version", "state", "topic")

    def __init__(self, originator_id: UUID, originator_version: int, topic: str, state: bytes) -> None:
        self.originator_id, self.originator_version, self.topic, self.state = originator_id, originator_version, topic, state


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


# -- reads ------------------------------------------------------------------------------------------


def chain_hash_at(store: Any, position: int) -> bytes | None:
    """The chain's link at log position `position`: that of the last event at or before it
    (GENESIS before the first event). None when the chain does not reach `position` yet (the
    log's last chained event is before it: a later insert could still land at or before it).

    `store` is the ledger's application recorder (`ledger.recorder`, or the ledger itself):
    the read goes through its datastore's connections."""
    recorder = getattr(store, "recorder", store)
    if _is_sqlite(recorder.datastore):
        with recorder.datastore.transaction(commit=False) as cursor:
            return _hash_at(cursor, "?", position)
    with recorder.datastore.get_connection() as conn:
        return _hash_at(conn, "%s", position)


def _hash_at(conn: Any, p: str, position: int) -> bytes | None:
    last = _fetchone(conn, _LAST_LINK)
    last_position = _get(last, 0, "position") if last else 0
    if position > last_position:
        return None
    row = _fetchone(conn, f"SELECT hash FROM {CHAIN_TABLE} WHERE position <= {p} ORDER BY position DESC LIMIT 1", (position,))
    return bytes(_get(row, 0, "hash")) if row else GENESIS


def _get(row: Any, index: int, name: str) -> Any:
    """A column of a row from a tuple cursor or a dict-row one (the event store's pool on PostgreSQL)."""
    return row[name] if isinstance(row, dict) else row[index]


# -- verified checkpoints ---------------------------------------------------------------------------


def checkpoints(conn: Any) -> dict[int, bytes]:
    """Every verified checkpoint kept: position -> the link there when it was verified."""
    rows = conn.execute(f"SELECT position, hash FROM {CHECKPOINTS_TABLE}").fetchall()
    return {_get(r, 0, "position"): bytes(_get(r, 1, "hash")) for r in rows}


def record_checkpoint(conn: Any, position: int, chain_hash: bytes, verified_at: str) -> None:
    """Remember that the chain was whole up to `position` (a plain autocommit connection);
    only the latest CHECKPOINTS_KEPT_MAX are kept."""
    p = "?" if _is_sqlite(conn) else "%s"
    conn.execute(
        f"INSERT INTO {CHECKPOINTS_TABLE} (position, hash, verified_at) VALUES ({p}, {p}, {p})"
        " ON CONFLICT (position) DO UPDATE SET hash = excluded.hash, verified_at = excluded.verified_at",
        (position, chain_hash, verified_at),
    )
    conn.execute(
        f"DELETE FROM {CHECKPOINTS_TABLE} WHERE position NOT IN"
        f" (SELECT position FROM {CHECKPOINTS_TABLE} ORDER BY position DESC LIMIT {CHECKPOINTS_KEPT_MAX})"
    )
