"""Reconciliation (对账): a channel's statement for a day against the ledger.

Each line of the statement is matched with our payment (by channel transaction
id, else by our reference, which the channel echoes), then compared: amount,
status, fee. What does not match is a difference of one class. Each difference
is resolved once, by a person, with a reason, by an action that posts an
adjusting transfer or changes a status (never an edit). When nothing is left
open, the day closes: the matched total moves from the channel's
pending_reconciliation to reconciled, in one transfer.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from .aggregate import LedgerAggregate

from .errors import Conflict, ValidationError

MATCHED = "matched"
CLASSES = ("missing_in_ledger", "missing_in_channel", "amount_mismatch", "status_mismatch", "fee_mismatch")
ACTIONS = {
    "complete": ("missing_in_ledger", "status_mismatch"),  # settle our payment as the channel's line says
    "reverse": ("missing_in_channel", "status_mismatch"),  # undo our booking of a recharge the channel lacks
    "book_difference": ("amount_mismatch", "fee_mismatch"),  # post the difference to the `difference` account
    "write_off": CLASSES,  # accept the channel's figures, the gap to `difference`
    "wait": CLASSES,  # leave it for the next day's file (T+2)
}
STATUSES = ("succeeded", "failed", "returned")


class AlreadyResolved(Conflict):
    code = "already-resolved"


class DayNotBalanced(Conflict):
    code = "day-not-balanced"


class DayClosed(Conflict):
    code = "day-closed"


def net(kind: str | None, amount: int | None, fee: int | None, status: str | None) -> int:
    """What a line means for the channel's pending_reconciliation (debit-normal): a succeeded
    recharge is owed to us less its fee; a succeeded payout is owed to the channel with its fee;
    a returned payout is only its fee; a failed one is nothing."""
    if amount is None or status not in ("succeeded", "returned"):
        return 0
    if kind == "payout":
        return -(fee or 0) if status == "returned" else -(amount + (fee or 0))
    return amount - (fee or 0)


def check_action(action: object, difference_class: str) -> str:
    if action not in ACTIONS:
        raise ValidationError(f"action must be one of {', '.join(ACTIONS)}; got {action!r}")
    if difference_class not in ACTIONS[action]:  # type: ignore[index]
        raise ValidationError(f"{action} does not resolve a {difference_class} difference")
    return action  # type: ignore[return-value]


class Reconciliation(LedgerAggregate):
    id: UUID
    request_hash = ""  # its id is the statement file's hash: a repeat is the same file

    @event("Imported")
    def __init__(self, channel: str, day: str, file_hash: str, lines: int, ours: int,
                 summary: dict[str, dict[str, int]], imported_by: str) -> None:
        self.channel = channel
        self.day = day
        self.file_hash = file_hash
        self.lines = lines
        self.ours = ours
        self.summary = summary  # class -> {count, our_amount, their_amount, our_fee, their_fee}
        self.imported_by = imported_by
        self.resolutions: dict[str, dict[str, Any]] = {}  # difference seq -> {action, by, reason, transfer_ids}
        self.closed_by: str | None = None
        self.close_transfer_id: UUID | None = None
        self.moved = 0

    @property
    def differences(self) -> int:
        return sum(v["count"] for k, v in self.summary.items() if k != MATCHED)

    @property
    def open_differences(self) -> int:
        return self.differences - len(self.resolutions)

    def check_resolvable(self, seq: int, difference_class: str, action: str) -> None:
        """Checked before the action posts anything, and again when it is recorded."""
        self._check_open()
        if str(seq) in self.resolutions:
            raise AlreadyResolved(f"difference {seq} of reconciliation {self.id} is already resolved")
        check_action(action, difference_class)

    def resolve(self, seq: int, difference_class: str, action: str, by: str, reason: str, transfer_ids: list[UUID]) -> None:
        self.check_resolvable(seq, difference_class, action)
        self._resolved(seq, action, by, reason, transfer_ids)

    def check_can_close(self) -> None:
        self._check_open()
        if self.open_differences:
            raise DayNotBalanced(f"{self.open_differences} differences are still open: resolve them first")

    def close(self, by: str, transfer_id: UUID | None, moved: int) -> None:
        self.check_can_close()
        self._closed(by, transfer_id, moved)

    def _check_open(self) -> None:
        if self.closed_by is not None:
            raise DayClosed(f"reconciliation {self.id} ({self.channel}, {self.day}) is closed")

    @event("DifferenceResolved")
    def _resolved(self, seq: int, action: str, by: str, reason: str, transfer_ids: list[UUID]) -> None:
        self.resolutions[str(seq)] = {"action": action, "by": by, "reason": reason, "transfer_ids": transfer_ids}

    @event("Closed")
    def _closed(self, by: str, transfer_id: UUID | None, moved: int) -> None:
        self.closed_by = by
        self.close_transfer_id = transfer_id
        self.moved = moved


class ReconciledDay(LedgerAggregate):
    """A channel's day closes once: by the reconciliation named here."""

    id: UUID

    @event("Closed")
    def __init__(self, channel: str, day: str, reconciliation_id: UUID, moved: int) -> None:
        self.channel = channel
        self.day = day
        self.reconciliation_id = reconciliation_id
        self.moved = moved
