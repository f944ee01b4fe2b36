"""An aggregate's stored events and snapshots, read as the replay audit needs them: a page at a
time, only up to the audited log position, versions checked contiguous, each event decoded
through the application's mapper. What cannot be read or does not follow is a `Mismatch`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder

from ledger import FundCenter

PAGE = 500  # rows per query


class Mismatch(Exception):
    """What an aggregate's own events say disagrees with the rest of the log (or cannot be read)."""


class StoredAggregates:
    def __init__(self, ledger: FundCenter) -> None:
        self.ledger = ledger
        self.until = 0  # the audited log position: nothing after it is read

    def _sql(self) -> tuple[str, str, str, str]:
        """(placeholder, events table, position column, snapshots table)."""
        snapshots = _table(self.ledger.snapshots.recorder) if self.ledger.snapshots else ""
        events = _table(self.ledger.recorder)
        if self.ledger.database.kind == "sqlite":
            return "?", events, "rowid", snapshots
        return "%s", events, "notification_id", snapshots

    def _key(self, aggregate_id: UUID) -> Any:
        return aggregate_id.hex if self.ledger.database.kind == "sqlite" else aggregate_id

    def events(self, conn: Any, aggregate_id: UUID, name: str, lte: int | None = None) -> Iterator[Any]:
        """The aggregate's events up to the audited position (and version `lte`), a page at a time,
        through the application's mapper; a gap in the versions is a mismatch."""
        p, table, position, _ = self._sql()
        query = (
            f"SELECT originator_version, topic, state FROM {table} WHERE originator_id = {p}"
            f" AND originator_version > {p} AND originator_version <= {p} AND {position} <= {p}"
            f" ORDER BY originator_version LIMIT {PAGE}"
        )
        last, stop = 0, lte if lte is not None else 2**62
        while True:
            rows = conn.execute(query, (self._key(aggregate_id), last, stop, self.until)).fetchall()
            for version, topic, state in rows:
                if version != last + 1:
                    raise Mismatch(f"{name}: versions jump from {last} to {version}")
                try:
                    event = self.ledger.mapper.to_domain_event(StoredEvent(aggregate_id, version, topic, bytes(state)))
                except Exception as error:
                    raise Mismatch(f"{name}: version {version} cannot be read: {first_line(error)}") from None
                last = version
                yield event
            if len(rows) < PAGE:
                return

    def snapshot_rows(self, conn: Any) -> Iterator[tuple[UUID, int, str, bytes]]:
        """Every snapshot whose version the audited log reaches (or that has no event at its version)."""
        p, events, position, snapshots = self._sql()
        query = (
            f"SELECT s.originator_id, s.originator_version, s.topic, s.state FROM {snapshots} s"
            f" LEFT JOIN {events} e ON e.originator_id = s.originator_id AND e.originator_version = s.originator_version"
            f" WHERE (e.{position} IS NULL OR e.{position} <= {p})"
            f" AND (s.originator_id > {p} OR (s.originator_id = {p} AND s.originator_version > {p}))"
            f" ORDER BY s.originator_id, s.originator_version LIMIT {PAGE}"
        )
        after_id: Any = "" if self.ledger.database.kind == "sqlite" else UUID(int=0)
        after_version = -1
        while True:
            rows = conn.execute(query, (self.until, after_id, after_id, after_version)).fetchall()
            for raw_id, version, topic, state in rows:
                yield (raw_id if isinstance(raw_id, UUID) else UUID(raw_id)), version, topic, state
            if len(rows) < PAGE:
                return
            after_id, after_version = rows[-1][0], rows[-1][1]


def mutate(event: Any, aggregate: Any, name: str) -> Any:
    try:
        return event.mutate(aggregate)
    except Exception as error:
        raise Mismatch(
            f"{name}: version {event.originator_version} {type(event).__name__} does not apply:"
            f" {type(error).__name__} {first_line(error)}"
        ) from None


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _table(recorder: object) -> str:
    """The table of eventsourcing's SQLite or PostgreSQL recorder (its base type names none)."""
    assert isinstance(recorder, SQLiteAggregateRecorder | PostgresAggregateRecorder), recorder
    return recorder.events_table_name
