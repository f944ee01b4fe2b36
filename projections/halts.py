"""Tells the log when the projections halt, so that staff webhooks hear of it (`projection.halted`).

The runner calls its `on_failure` after each failed attempt (projections/runner.py). This
reporter records a `ProjectionHalt` in the ledger (ledger/domain/projection_halts.py) once the
same position has failed HALT_AFTER_ATTEMPTS times in a row (a passing glitch pages nobody),
once per position (its id comes from the position: a restarted runner stuck at the same place
records nothing new), and never while the database is known to be away (an outage is not a
halt, and the write would only wait). The outbox follows the log on its own tracking, so it
delivers the webhook while the views stay stuck.
"""

from __future__ import annotations

import logging

from ledger import FundCenter

log = logging.getLogger(__name__)

HALT_AFTER_ATTEMPTS = 3  # failed attempts in a row at one position (about 0.7 s of the runner's back-off)


class HaltReporter:
    def __init__(self, ledger: FundCenter, projection: str | None = None, *,
                 after_attempts: int = HALT_AFTER_ATTEMPTS) -> None:
        self.ledger, self.projection, self.after_attempts = ledger, projection or ledger.name, after_attempts
        self.reported: int | None = None  # the position whose halt is recorded

    def __call__(self, position: int, error: BaseException, attempts: int) -> None:
        if attempts < self.after_attempts or position == self.reported or self.ledger.database.reachability.down:
            return
        text = " ".join(str(error).split())
        if self.ledger.record_projection_halt(self.projection, position, f"{type(error).__name__}: {text}"):
            log.error("projections halted at position %s: recorded for projection.halted webhooks", position)
        self.reported = position
