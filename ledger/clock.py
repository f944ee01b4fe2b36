"""Clocks: the system's, and a stepping one that the demo and the tests run a day on.

A clock is any callable returning a timezone-aware datetime (`ledger.domain.aggregate.Clock`).
FundCenter takes one, stamps its events with it, and hands it to whatever else
must agree on the time (the simulated channels, the accounting day, the views' "now").
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


def system_clock() -> datetime:
    return datetime.now(UTC)


class SteppingClock:
    """Starts at `start` and moves `step` forward at every reading; `set` jumps (forward only)."""

    def __init__(self, start: datetime, step: timedelta = timedelta(milliseconds=1)) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock gives timezone-aware times: start needs a tzinfo")
        self._now, self._step, self._lock = start, step, threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self._now += self._step
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            if moment < self._now:
                raise ValueError(f"a clock does not go back: {moment.isoformat()} is before {self._now.isoformat()}")
            self._now = moment
