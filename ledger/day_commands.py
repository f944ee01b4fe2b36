"""The day close's commands (handled by ledger/handlers/days.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .audit.days import DayFigures, Signer


@dataclass(frozen=True)
class CloseDay:
    day: str  # YYYY-MM-DD, an accounting day that is over
    waive: tuple[str, ...]  # channels whose reconciliation of the day may be missing or open
    reason: str  # why they are waived (required with any)
    signer: Signer
    by: str | None = None


@dataclass(frozen=True)
class RecordDayClose:
    """A close checked and its figures read from the log: what the writer records."""

    figures: DayFigures
    reconciliations: list[dict[str, Any]]
    waiver: dict[str, Any] | None
    signer: Signer
    by: str | None
