"""A save sent in parts while its command still makes them: `FundCenter.staged_save()`.

`Application.save()` records a command's events once it has made them all, so that a batch
of transfers (`transfer_many`) first makes its 300 events in Python and then waits while
PostgreSQL stores them: about a quarter of a batch's time is that wait, the caller idle. A
`StagedSave` takes the aggregates of one part as soon as the part is made (`send`), turns
their new events into stored events and hands them to the recorder's `StagedInsert`
(ledger/recorders.py), which sends them at once, in one transaction with the parts after;
`commit()` commits it and does what `save()` does after recording (the cache, the
snapshots, the listeners). One save still: one transaction, its events in order, all or
none; for an aggregate sent in several parts, each part carries the events it made since.

Where the recorder has no staged insert (SQLite, a database not on the one-trip insert,
the held connection in another thread's hands) the parts are kept and saved at the end by
`save()` itself: the same save, without the overlap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import Recording

from .recorders import notification

if TYPE_CHECKING:
    from .application import FundCenter


class StagedSave:
    """`send(*aggregates)` for each part, then `commit()` once (or `abort()`: nothing saved)."""

    def __init__(self, app: FundCenter) -> None:
        self.app = app
        staged = getattr(app.recorder, "staged", None)  # ledger/recorders.py's OneTripRecorder
        self.insert = staged() if staged is not None else None
        self.processing_event: ProcessingEvent[Any] = ProcessingEvent()
        self.stored: list[Any] = []
        self.kept: list[BaseAggregate[Any]] = []  # without a staged insert: saved at the end

    def send(self, *aggregates: BaseAggregate[Any]) -> None:
        """The new events of these aggregates, sent to be stored after the parts before."""
        if self.insert is None:
            self.kept.extend(aggregates)
            return
        events: list[Any] = []
        saved = self.processing_event.aggregates
        for aggregate in aggregates:
            events.extend(aggregate.collect_events())
            saved[aggregate.id] = aggregate
        if events:
            stored = list(map(self.app.mapper.to_stored_event, events))
            self.insert.send(stored)
            self.processing_event.events.extend(events)
            self.stored.extend(stored)

    def commit(self) -> list[Recording[Any]]:
        """Save the parts sent, in one transaction: their recordings, as `save()` answers."""
        if self.insert is None:
            return self.app.save(*{id(aggregate): aggregate for aggregate in self.kept}.values())
        if not self.stored:
            self.insert.abort()
            return self.app.save(*self.processing_event.aggregates.values())  # nothing new: as save() does
        ids = self.insert.commit()
        assert ids is not None and len(ids) == len(self.stored)
        recordings = [
            Recording(event, notification(i, s.originator_id, s.originator_version, s.topic, s.state))
            for event, s, i in zip(self.processing_event.events, self.stored, ids, strict=True)
        ]
        self.app.recorded(self.processing_event, recordings)
        return recordings

    def abort(self) -> None:
        """Nothing is saved: what was sent is rolled back (the aggregates' events are the caller's to drop)."""
        if self.insert is not None:
            self.insert.abort()
