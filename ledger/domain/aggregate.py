"""The base of every ledger aggregate: its events are stamped by the command's clock.

eventsourcing stamps each new event with the wall clock. The ledger instead runs
every command under the clock it was given (`stamped_by`), so that tests, the
demo and a replayed day see one time everywhere: in the events, the views built
from them, the simulator and the accounting day. Outside a command (a plain
script using the aggregates) events keep the library's wall-clock stamp.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from eventsourcing.domain import Aggregate, datetime_now_with_tzinfo

Clock = Callable[[], datetime]

_command_clock: ContextVar[Clock | None] = ContextVar("fundcenter_command_clock", default=None)


@contextmanager
def stamped_by(clock: Clock) -> Iterator[None]:
    """Stamp the events triggered inside this block with `clock`."""
    token = _command_clock.set(clock)
    try:
        yield
    finally:
        _command_clock.reset(token)


class LedgerAggregate(Aggregate):
    class Event(Aggregate.Event):
        @staticmethod
        def create_timestamp() -> datetime:
            clock = _command_clock.get()
            moment = clock() if clock is not None else datetime_now_with_tzinfo()
            assert moment.tzinfo is not None, "a clock must give timezone-aware times"
            return moment
