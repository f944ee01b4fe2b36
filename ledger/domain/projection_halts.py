"""A projection halt: the read models stopped at a log position, applying what follows failing.

The projection runner retries a failing batch forever (projections/runner.py); when it keeps
failing for a reason of its own (a view raises), its reporter records this fact once per
position (projections/halts.py), so that the webhooks' outbox, which follows the log on its
own tracking, tells the staff's endpoints (`projection.halted`). It changes no money.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import event

from . import ids
from .aggregate import LedgerAggregate

ERROR_LENGTH_MAX = 500  # of the failure's description kept
PROJECTION_LENGTH_MAX = 200


def halt_id(projection: str, position: int) -> UUID:
    """One halt per projection and position: a runner stuck there (or restarted there) records it once."""
    return ids.command_id("projection-halt", f"{projection}\x1f{position}")


class ProjectionHalt(LedgerAggregate):
    id: UUID

    if TYPE_CHECKING:  # the event class @event makes below, declared for mypy (test_domain_events_declared.py compares)
        class Halted(LedgerAggregate.Created):
            projection: str
            position: int
            error: str

    @event("Halted")
    def __init__(self, id: UUID, projection: str, position: int, error: str) -> None:
        assert position >= 0 and len(error) <= ERROR_LENGTH_MAX and len(projection) <= PROJECTION_LENGTH_MAX
        self.projection = projection
        self.position = position
        self.error = error

    @classmethod
    def of(cls, projection: str, position: int, error: str) -> ProjectionHalt:
        """Checked and bounded here, outside the replayed event."""
        projection, error = projection[:PROJECTION_LENGTH_MAX], error[:ERROR_LENGTH_MAX]
        return cls(id=halt_id(projection, position), projection=projection, position=max(position, 0), error=error)
