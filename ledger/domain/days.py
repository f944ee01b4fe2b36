"""Day close: an accounting day's books, fixed once and signed.

Closing a day records, in one `DayClose` event, what an auditor needs to hold the ledger to
it later: the log position at the day's end, the hash chain's link there, the trial balance
per currency, the Merkle root over every account's closing balance, which channels'
reconciliations were closed and which were waived (with the reason), who closed it, and the
certificate: those figures as one canonical JSON text, its Ed25519 signature and the id of
the key that made it (ledger/audit/days.py makes and checks them).

A day closes once. Nothing is posted into a closed day: a posting carries the accounting
day its instant falls on, a day closes only once it is over, and a posting whose day is
closed (a clock that lags another process's) carries the next open day (`open_day`); a
correction found later (a reconciliation's move for the closed day, an adjustment) lands in
the next open day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import event

from . import ids
from .aggregate import LedgerAggregate
from .errors import Conflict, NotFound, ValidationError

OPEN_DAYS_SCANNED_MAX = 366  # closed days in a row `open_day` looks past before it gives up


class DayNotOver(Conflict):
    code = "day-not-over"


class DayStillCommitting(Conflict):
    """A command of the day committed while the close read the day's figures: read them again."""

    code = "day-still-committing"


class DayAlreadyClosed(Conflict):
    code = "day-already-closed"


class ReconciliationsOpen(Conflict):
    code = "reconciliations-open"


class DayNotClosed(NotFound):
    code = "day-not-closed"


def day_close_id(day: str) -> UUID:
    return ids.command_id("day-close", day)


def check_day(text: object) -> str:
    """A day as YYYY-MM-DD (1970-01-01 to 9999-12-30: the next day must exist too)."""
    try:
        day = date.fromisoformat(text) if isinstance(text, str) and len(text) == 10 else None
    except ValueError:
        day = None
    if day is None or day.year < 1970 or day == date.max:
        raise ValidationError(f"a day is YYYY-MM-DD from 1970-01-01 to 9999-12-30, not {text!r}")
    return day.isoformat()


def open_day(day: str, is_closed: Callable[[str], bool]) -> str:
    """`day` if it is open, else the first open day after it."""
    current = date.fromisoformat(day)
    for _ in range(OPEN_DAYS_SCANNED_MAX):
        if not is_closed(current.isoformat()):
            return current.isoformat()
        current += timedelta(days=1)
    raise AssertionError(f"{OPEN_DAYS_SCANNED_MAX} days closed in a row after {day}: days close only once over")


class DayClose(LedgerAggregate):
    id: UUID
    request_hash = ""  # its id is the day's: a second close of the day is refused, never repeated

    if TYPE_CHECKING:  # the event classes @event makes below, declared for mypy (test_domain_events_declared.py compares)
        class Closed(LedgerAggregate.Created):
            day: str
            position: int
            merkle_root: str
            certificate: str
            signature: str
            key_id: str
            closed_by: str

    @event("Closed")
    def __init__(self, id: UUID, day: str, position: int, merkle_root: str, certificate: str, signature: str,
                 key_id: str, closed_by: str) -> None:
        assert id == day_close_id(day), "a day's close has the day's id"
        self.day = day
        self.position = position  # the log position at the day's end: the figures are of the log up to it
        self.merkle_root = merkle_root
        self.certificate = certificate  # the signed text: canonical JSON of every figure (ledger/audit/days.py)
        self.signature = signature  # Ed25519, base64
        self.key_id = key_id  # SHA-256 of the raw public key, hex
        self.closed_by = closed_by
