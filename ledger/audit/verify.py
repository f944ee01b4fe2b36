"""`fundcenter audit verify`'s walk over the log: recompute the hash chain, check the snapshots' seals.

In one read transaction (a consistent view of the log while writers go on):

1. the log is streamed in position order with each event's chain entry (keyset pages; on
   PostgreSQL the next page is fetched while this one is hashed), each link recomputed
   (`ledger.audit.chain`) from the previous one and compared with the stored entry: the
   first difference is an event edited, or one removed, inserted or moved before it; an
   event without an entry was inserted outside the ledger; a link that differs from a
   checkpoint an earlier verify recorded means the chain itself was rewritten;
2. chain entries without their event (an event deleted, the tail truncated with its
   entries left): as many entries as events walked, every one of which had its own, means
   none; else one anti-join names the first (the counts are also taken before recording a
   checkpoint, so none is recorded past such an entry);
3. the log must reach the last verified checkpoint (else its tail was removed, entries and all);
4. every snapshot must match its seal, at the position of its aggregate's event.

Each problem is a `Break` at a log position; the report's `first` is the lowest. Verified
rows are handed to `on_rows` as they go (the aggregate replay of `audit verify` folds
them). A whole chain is recorded as a checkpoint (`chain_checkpoints`), every
`CHECKPOINT_EVERY_EVENTS` events on the way and at the end, on a second connection:
`resume_after` continues from one of them. Without any checkpoint, a removed tail
(events and entries both) cannot be seen by the chain alone: the signed day certificates
anchor it.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ..clock import system_clock
from .chain import GENESIS, seal
from .chain_store import CHAIN_TABLE, LOG_TABLES, SEALS_TABLE, checkpoints, record_checkpoint

if TYPE_CHECKING:
    from ledger.store import Database

FETCH_ROWS = 20_000  # rows per fetch from the database
CHECKPOINT_EVERY_EVENTS = 500_000

# (position, originator id's 16 bytes, version, topic, state, stored link or None)
Row = tuple[int, bytes, int, str, bytes, bytes | None]
OnRows = Callable[[Sequence[Row]], None]
OnProgress = Callable[[int], None]

_HEAD = struct.Struct(">q16sqi")
_STATE_LEN = struct.Struct(">q")


class NoCheckpoint(ValueError):
    """`--from` without a verified checkpoint before it: nothing to trust there."""


@dataclass(frozen=True, order=True)
class Break:
    position: int
    why: str


@dataclass
class ChainReport:
    events: int = 0
    last_position: int = 0  # the last event checked
    last_hash: bytes = GENESIS  # the chain's link there
    snapshots: int = 0
    resumed_after: int | None = None  # the checkpoint this walk started after
    breaks: list[Break] = field(default_factory=list)
    checkpoint: int | None = None  # where this walk recorded the chain whole

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first(self) -> Break | None:
        return min(self.breaks) if self.breaks else None


def verify_chain(
    db: Database, *, resume_after: int | None = None, on_rows: OnRows | None = None,
    on_progress: OnProgress | None = None, record: bool = True, clock: Callable[[], datetime] = system_clock,
) -> ChainReport:
    """Walk the log of `db` (see the module). `resume_after`: start after the latest verified
    checkpoint at or before this position (`NoCheckpoint` if there is none). `record`: keep
    verified checkpoints, stamped by `clock`."""
    tables = LOG_TABLES[db.kind]
    with db.connect() as conn, db.connect() as recorder, _read_transaction(conn, db.kind):
        known = checkpoints(conn)
        report = ChainReport()
        previous = GENESIS
        if resume_after is not None:
            before = [p for p in known if p <= resume_after]
            if not before:
                raise NoCheckpoint(f"no verified checkpoint at or before position {resume_after}:"
                                   " run `fundcenter audit verify` without --from first")
            report.resumed_after = report.last_position = max(before)
            previous = report.last_hash = known[report.resumed_after]
            stored = _one(conn, f"SELECT hash FROM {CHAIN_TABLE} WHERE position = {tables.placeholder}",
                          (report.resumed_after,))
            if stored is None or bytes(stored[0]) != previous:
                report.breaks.append(Break(report.resumed_after, "the chain entry there is not the one verified"
                                                                 " at this checkpoint: the chain was rewritten"))
                return report
        start = report.last_position
        entries = _EntryCount(conn, tables.placeholder, start)

        def keep(position: int, chain_hash: bytes) -> None:
            # Every event walked so far has its own entry: as many entries up to here, none without its event.
            if record and entries.up_to(position) == report.events:
                record_checkpoint(recorder, position, chain_hash, clock().isoformat())
                report.checkpoint = position

        broken = _walk(conn, tables, db.kind, start, previous, known, report, on_rows, on_progress, keep)
        orphan = None
        if broken is not None or entries.up_to(None) != report.events:
            orphan = _first_orphan(conn, tables, start)
        if orphan is not None:
            report.breaks.append(Break(orphan, "a chain entry without its event: the event was deleted"))
        if broken is not None:
            report.breaks.append(broken)
        elif report.events and known.get(report.last_position) != report.last_hash:
            keep(report.last_position, report.last_hash)
        else:
            report.checkpoint = report.last_position or None  # recorded already, by an earlier verify
        beyond = [p for p in known if p > report.last_position]
        if broken is None and beyond:
            report.breaks.append(Break(report.last_position + 1, f"the log ends at position {report.last_position},"
                                       f" but an earlier verify saw it reach {max(beyond)}: its tail was removed"))
        report.breaks.extend(_check_seals(conn, tables, db.kind, report))
    return report


def _walk(
    conn: Any, tables: Any, kind: str, start: int, previous: bytes, known: dict[int, bytes], report: ChainReport,
    on_rows: OnRows | None, on_progress: OnProgress | None, keep: Callable[[int, bytes], None],
) -> Break | None:
    """Recompute the chain from `start` (exclusive) with `previous` there; the first break, if any."""
    sha256 = hashlib.sha256
    next_checkpoint = start + CHECKPOINT_EVERY_EVENTS
    for rows in _stream(conn, tables, kind, start):
        for position, body, stored in rows:
            previous = sha256(previous + body).digest()
            if stored != previous:
                _, oid, version, _, _, _ = _decoded((position, body, stored))
                event = f"event {UUID(bytes=oid)} version {version}"
                if stored is None:
                    return Break(position, f"{event} has no chain entry: it was inserted outside the ledger")
                return Break(position, f"the chain entry does not match {event}: it was edited,"
                                       " or an event before it was removed, inserted or moved")
            if position in known and known[position] != previous:
                return Break(position, "the chain differs from the one an earlier verify saw here: it was rewritten")
        report.events += len(rows)
        report.last_position, report.last_hash = rows[-1][0], previous
        if on_rows is not None:
            on_rows([_decoded(row) for row in rows])
        if on_progress is not None:
            on_progress(report.last_position)
        if report.last_position >= next_checkpoint:
            keep(report.last_position, previous)
            next_checkpoint = report.last_position + CHECKPOINT_EVERY_EVENTS
    return None


# The bytes a link hashes after the previous link (ledger/audit/chain.py), built by PostgreSQL
# itself from the row's columns: one value per row to fetch instead of four.
_PG_BODY = (
    "int8send(e.notification_id) || uuid_send(e.originator_id) || int8send(e.originator_version)"
    " || int4send(octet_length(convert_to(e.topic, 'UTF8'))) || convert_to(e.topic, 'UTF8')"
    " || int8send(octet_length(e.state)::bigint) || e.state"
)


def _stream(conn: Any, tables: Any, kind: str, start: int) -> Iterator[list[tuple[int, bytes, bytes | None]]]:
    """(position, the bytes its link hashes after the previous link, the stored link or None) of
    the events after `start`, in position order, a page at a time (keyset pages: each an index
    range scan, never a sort of the whole log)."""
    events, position, p = tables.events, f"e.{tables.position}", tables.placeholder
    page = f"WHERE {position} > {p} ORDER BY {position} LIMIT {FETCH_ROWS}"
    after = start
    if kind == "postgresql":  # the next page is fetched (the server at work) while this one is hashed
        # The join bounds the chain's side too: PostgreSQL does not carry `position > after` over
        # to the other table of an outer join, and its merge join then read the chain's index from
        # the first link for every page (a page at 500,000 read 520,000 links: a quadratic walk).
        query = (f"SELECT {position}, {_PG_BODY}, c.hash FROM {events} e LEFT JOIN {CHAIN_TABLE} c"
                 f" ON c.position = {position} AND c.position > {p} {page}")
        with conn.cursor(binary=True) as cursor, ThreadPoolExecutor(1, thread_name_prefix="audit-verify") as fetcher:

            def fetch(after: int) -> list[Any]:
                return cursor.execute(query, (after, after), prepare=True).fetchall()

            next_page = fetcher.submit(fetch, start)
            while rows := next_page.result():
                next_page = fetcher.submit(fetch, rows[-1][0])
                yield rows
        return
    # On SQLite a column holds any type: read the topic as text and the state as bytes whatever was written there.
    query = (f"SELECT {position}, e.originator_id, e.originator_version, CAST(e.topic AS TEXT), CAST(e.state AS BLOB),"
             f" c.hash FROM {events} e LEFT JOIN {CHAIN_TABLE} c ON c.position = {position} {page}")
    topics: dict[str, bytes] = {}
    while rows := conn.execute(query, (after,)).fetchall():
        yield _sqlite_bodies(rows, topics)
        after = rows[-1][0]


def _sqlite_bodies(rows: list[Any], topics: dict[str, bytes]) -> list[tuple[int, bytes, bytes | None]]:
    """PostgreSQL's `_PG_BODY`, made in Python from SQLite's columns (each topic's UTF-8 encoded once)."""
    head, state_len, fromhex = _HEAD.pack, _STATE_LEN.pack, bytes.fromhex
    out = []
    for position, oid, version, topic, state, stored in rows:
        encoded = topics.get(topic)
        if encoded is None:
            encoded = topics[topic] = topic.encode()
        try:
            id_bytes = fromhex(oid)
        except (TypeError, ValueError):  # an id that is no UUID's hex: it cannot match its link
            id_bytes = _id_bytes(oid)
        out.append((position, head(position, id_bytes, version, len(encoded)) + encoded + state_len(len(state)) + state,
                    stored))
    return out


def _decoded(row: tuple[int, bytes, bytes | None]) -> Row:
    position, body, stored = row
    _, oid, version, topic_len = _HEAD.unpack_from(body)
    topic_end = _HEAD.size + topic_len
    topic = body[_HEAD.size:topic_end].decode(errors="replace")
    return position, oid, version, topic, body[topic_end + _STATE_LEN.size:], stored


def _id_bytes(stored: Any) -> bytes:
    try:
        return UUID(str(stored)).bytes
    except ValueError:
        return hashlib.sha256(str(stored).encode()).digest()[:16]


class _EntryCount:
    """How many chain entries lie after `start`, up to a position (None: all of them), counted on
    the walk's connection a range at a time as the walk goes: an index range count is a few
    times cheaper than the anti-join that names an entry without its event, run only when the
    counts say there is one (or the walk broke)."""

    def __init__(self, conn: Any, placeholder: str, start: int) -> None:
        self.conn, self.counted_to, self.count = conn, start, 0
        self.after = f"SELECT count(*) FROM {CHAIN_TABLE} WHERE position > {placeholder}"
        self.between = f"{self.after} AND position <= {placeholder}"

    def up_to(self, position: int | None) -> int:
        if position is None:
            return self.count + int(_one(self.conn, self.after, (self.counted_to,))[0])
        if position > self.counted_to:
            row = _one(self.conn, self.between, (self.counted_to, position))
            self.count, self.counted_to = self.count + int(row[0]), position
        return self.count


def _first_orphan(conn: Any, tables: Any, start: int) -> int | None:
    row = _one(
        conn,
        f"SELECT c.position FROM {CHAIN_TABLE} c LEFT JOIN {tables.events} e ON e.{tables.position} = c.position"
        f" WHERE c.position > {tables.placeholder} AND e.{tables.position} IS NULL ORDER BY c.position LIMIT 1",
        (start,),
    )
    return row[0] if row else None


def _check_seals(conn: Any, tables: Any, kind: str, report: ChainReport) -> list[Break]:
    """Every snapshot against its seal, at its aggregate's event (the snapshots are few: one per
    500 events of an account)."""
    query = (
        f"SELECT s.originator_id, s.originator_version, s.topic, s.state, x.position, x.hash,"
        f" e.{tables.position}, c.hash FROM {tables.snapshots} s"
        f" LEFT JOIN {SEALS_TABLE} x ON x.originator_id = s.originator_id AND x.originator_version = s.originator_version"
        f" LEFT JOIN {tables.events} e ON e.originator_id = s.originator_id AND e.originator_version = s.originator_version"
        f" LEFT JOIN {CHAIN_TABLE} c ON c.position = e.{tables.position}"
        f" WHERE e.{tables.position} IS NULL OR e.{tables.position} <= {tables.placeholder}"
    )
    breaks = []
    for raw_id, version, topic, state, sealed_at, sealed, position, chain_hash in conn.execute(
        query, (report.last_position,)
    ).fetchall():
        report.snapshots += 1
        oid = raw_id if isinstance(raw_id, UUID) else UUID(raw_id)
        name = f"the snapshot of {oid} at version {version}"
        if position is None:
            breaks.append(Break(sealed_at or 0, f"{name}: its aggregate has no event at that version"))
        elif sealed is None:
            breaks.append(Break(position, f"{name} has no seal: it was inserted outside the ledger"))
        elif sealed_at != position or chain_hash is None or bytes(sealed) != seal(
            bytes(chain_hash), position, oid, version, topic, bytes(state)
        ):
            breaks.append(Break(position, f"{name} does not match its seal: it was edited"))
    return breaks


def _one(conn: Any, query: str, params: Sequence[Any]) -> Any:
    return conn.execute(query, params).fetchone()


@contextmanager
def _read_transaction(conn: Any, kind: str) -> Iterator[None]:
    """One consistent view for the whole walk: REPEATABLE READ on PostgreSQL, a read transaction on SQLite."""
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ" if kind == "postgresql" else "BEGIN")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
