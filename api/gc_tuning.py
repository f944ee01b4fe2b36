"""The garbage collector of a serving process, tuned once its start-up is done.

Under load, Python's cyclic collector stopped the whole process for 100-250 ms about once a
second: its full collections walked every object start-up made (the app's routes and models,
pydantic's schemas, the modules: some 130,000) and the ledger's aggregate cache, and each one
held the GIL, so every request in flight waited (the HTTP p99 was 6 times its p50). After
start-up, `settle()` collects once and freezes what is left (`gc.freeze()`: those objects are
never walked again; they are start-up's and live as long as the process), and lets more objects
be made between collections (a request's short-lived objects mostly die by reference counting
before a collection sees them, and fewer survive into the older generations), so collections
are rarer and each walks less. Nothing is left uncollected: objects made after start-up are
collected as before, only less often.
"""

from __future__ import annotations

import gc

# Allocations (less deallocations) between young collections; then young collections between
# middle ones, middle ones between full ones. Python's defaults are (700, 10, 10).
THRESHOLDS = (20_000, 20, 10)


def settle() -> None:
    """Collect, freeze what start-up left, and collect less often (once per process, after start-up)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
