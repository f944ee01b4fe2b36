"""The cyclic garbage collector while a large batch is made in memory.

A batch of many transfers (`transfer_many`) or of many events (the projections' catch-up, far
behind the head) makes tens of thousands of objects that stay alive until the batch is saved,
then die by reference counting. With Python's default thresholds (a young collection every 700
allocations) the collector walked them over and over and promoted them into the older
generations, whose collections then walked the whole heap, the aggregate cache with it: about a
fifth of the catch-up's client CPU, and an eighth of `transfer_many(100)`'s (bench/HISTORY.md).

While any thread is inside `rare_young_collections()` (or between `enter()` and `leave()`), the
young generation is collected after YOUNG_MIN allocations at least. Nothing goes uncollected:
collections come later, not never. The thresholds are the process's: the first to enter sets
them, the last to leave puts back what was there, unless something else changed them meanwhile
(a serving process's own tuning, api/gc_tuning.py).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_MIN = 50_000  # allocations (less deallocations) between young collections, at least

class _Collector:
    """Who is inside, and the thresholds before and during."""

    lock = threading.Lock()
    inside = 0
    before: tuple[int, ...] = ()
    during: tuple[int, ...] = ()


def enter() -> None:
    with _Collector.lock:
        if _Collector.inside == 0:
            _Collector.before = gc.get_threshold()
            _Collector.during = (max(_Collector.before[0], YOUNG_MIN), *_Collector.before[1:])
            gc.set_threshold(*_Collector.during)
        _Collector.inside += 1


def leave() -> None:
    with _Collector.lock:
        _Collector.inside -= 1
        if _Collector.inside == 0 and gc.get_threshold() == _Collector.during:
            gc.set_threshold(*_Collector.before)


@contextmanager
def rare_young_collections() -> Iterator[None]:
    enter()
    try:
        yield
    finally:
        leave()
