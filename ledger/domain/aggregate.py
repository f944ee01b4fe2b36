"""The base of every ledger aggregate: its events are stamped by the command's clock.

eventsourcing stamps each new event with the wall clock. The ledger instead runs
every command under the clock it was given (`stamped_by`), so that tests, the
demo and a replayed day see one time everywhere: in the events, the views built
from them, the simulator and the accounting day. Outside a command (a plain
script using the aggregates) events keep the library's wall-clock stamp.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, CanMutateAggregate, datetime_now_with_tzinfo

Clock = Callable[[], datetime]

_command_clock: ContextVar[Clock | None] = ContextVar("fundcenter_command_clock", default=None)


class stamped_by:  # lower case: read as a phrase, `with stamped_by(clock):`
    """Stamp the events triggered inside this block with `clock` (a class rather than a
    generator-based context manager: it is entered several times per command)."""

    __slots__ = ("clock", "token")

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def __enter__(self) -> None:
        self.token: Token[Clock | None] = _command_clock.set(self.clock)

    def __exit__(self, *exc: object) -> None:
        _command_clock.reset(self.token)


class LedgerAggregate(Aggregate):
    class Event(Aggregate.Event):
        @staticmethod
        def create_timestamp() -> datetime:
            clock = _command_clock.get()
            moment = clock() if clock is not None else datetime_now_with_tzinfo()
            assert moment.tzinfo is not None, "a clock must give timezone-aware times"
            return moment

    def trigger_event(self, event_class: type[CanMutateAggregate[Any]], **kwargs: Any) -> None:
        """eventsourcing's `trigger_event` (a new event, next in the sequence, stamped, applied,
        then pending) without copying the keyword arguments again; `@event` methods end here too.
        A class with an explicit `TOPIC` (none has one) takes the library's path, which checks it."""
        if "TOPIC" in type(self).__dict__:
            super().trigger_event(event_class, **kwargs)
            return
        if kwargs.get("timestamp") is None:
            kwargs["timestamp"] = event_class.create_timestamp()
        make: Any = event_class  # an event dataclass: these are its fields
        new_event = make(originator_id=self._id, originator_version=self._version + 1, **kwargs)
        new_event.mutate(self)
        self._pending_events.append(new_event)
