"""Reconciliation (对账): a channel's statement for a day and currency against the ledger.

Each line of the statement is matched with our payment (by our reference, which the
channel echoes, else by channel transaction id), then compared: amount, status, fee.
What does not match is a difference of one class. Each difference is resolved once,
by a person, with a reason, by an action that posts an adjusting transfer or changes
a status (never an edit). When nothing is left open, the day closes: the matched
total moves from the channel's pending_reconciliation to reconciled, in one transfer.

A difference resolved with `wait` stays open, owned by its channel and currency, and
joins the matching of every later day (carry-over, T+2 and later). The day it came
from can close while it waits (its amount stays in pending_reconciliation). It ends
either when a later day's file brings it and that day closes (the later close moves
it, and records `WaitEnded` here), or when someone resolves it here with another
action; if this day is closed by then, that resolution moves its amount itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import event

from .aggregate import LedgerAggregate
from .errors import Conflict, ValidationError

MATCHED = "matched"
DUPLICATE = "duplicate"  # a line the channel already reported, or whose txn id is another payment's
CLASSES = ("missing_in_ledger", "missing_in_channel", "amount_mismatch", "status_mismatch", "fee_mismatch", DUPLICATE)
ACTIONS = {
    "complete": ("missing_in_ledger", "status_mismatch"),  # settle our pending payment as the channel's line says
    "reverse": ("missing_in_channel", "status_mismatch"),  # undo our booking of a payment the channel lacks
    "book_difference": ("amount_mismatch", "fee_mismatch"),  # post the difference to the `difference` account
    "write_off": CLASSES,  # accept the channel's figures, the gap to `difference`
    "dismiss": (DUPLICATE,),  # the channel repeated a line already reconciled: nothing to book
    "wait": CLASSES[:-1],  # leave it open for the next days' files (T+2 and later)
}
STATUSES = ("succeeded", "failed", "returned")
DEFAULT_CURRENCY = "CNY"  # what a reconciliation imported before currencies were recorded was in


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
    if not isinstance(action, str) or action not in ACTIONS:
        raise ValidationError(f"action must be one of {', '.join(ACTIONS)}; got {action!r}")
    if difference_class not in ACTIONS[action]:
        raise ValidationError(f"{action} does not resolve a {difference_class} difference")
    return action


def scope(channel: str, day: str, currency: str) -> str:
    """The name of a (channel, day, currency) in ids: CNY keeps the name it had before currencies."""
    return f"{channel}/{day}" if currency == DEFAULT_CURRENCY else f"{channel}/{day}/{currency}"


class Reconciliation(LedgerAggregate):
    id: UUID
    request_hash = ""  # its id is the statement file's hash: a repeat is the same file

    if TYPE_CHECKING:  # the event classes @event makes below, declared for mypy (test_domain_events_declared.py compares)
        class Imported(LedgerAggregate.Created):
            channel: str
            day: str
            file_hash: str
            lines: int
            ours: int
            summary: dict[str, dict[str, int]]
            imported_by: str
            currency: str
            carried: int
            starts_at: str
            ends_at: str

        class DifferenceResolved(LedgerAggregate.Event):
            seq: int
            action: str
            by: str
            reason: str
            transfer_ids: list[UUID]

        class WaitEnded(LedgerAggregate.Event):
            seq: int
            reconciliation_id: UUID
            day: str
            line: int

        class Closed(LedgerAggregate.Event):
            by: str
            transfer_id: UUID | None
            moved: int
            stale: list[int] | None

    @event("Imported")
    def __init__(self, id: UUID, channel: str, day: str, file_hash: str, lines: int, ours: int,
                 summary: dict[str, dict[str, int]], imported_by: str, currency: str = DEFAULT_CURRENCY,
                 carried: int = 0, starts_at: str = "", ends_at: str = "") -> None:
        self.channel = channel
        self.day = day
        self.currency = currency
        self.file_hash = file_hash
        self.lines = lines
        self.ours = ours
        self.carried = carried  # lines that matched an item waiting from an earlier day
        self.starts_at, self.ends_at = starts_at, ends_at  # the day's window (UTC text) when it was imported
        self.summary = summary  # class -> {count, our_amount, their_amount, our_fee, their_fee}
        self.imported_by = imported_by
        # difference seq -> {action, by, reason, transfer_ids[, waited, matched_on]}
        self.resolutions: dict[str, dict[str, Any]] = {}
        self.closed_by: str | None = None
        self.close_transfer_id: UUID | None = None
        self.moved = 0
        self.stale: list[int] = []

    @property
    def differences(self) -> int:
        return sum(v["count"] for k, v in self.summary.items() if k != MATCHED)

    @property
    def open_differences(self) -> int:
        return self.differences - len(self.resolutions)

    @property
    def waiting(self) -> list[int]:
        """The differences resolved with `wait` that no later day has matched, nor another action ended."""
        return sorted(int(seq) for seq, r in self.resolutions.items() if self.is_waiting(int(seq)))

    @property
    def is_closed(self) -> bool:
        return self.closed_by is not None

    def is_waiting(self, seq: int) -> bool:
        r = self.resolutions.get(str(seq))
        return r is not None and r["action"] == "wait" and "matched_on" not in r

    def check_resolvable(self, seq: int, difference_class: str, action: str) -> None:
        """Checked before the action posts anything, and again when it is recorded. A waiting
        difference takes one more action, final, even on a closed day."""
        if self.is_waiting(seq):
            check_action(action, difference_class)
            if action == "wait":
                raise AlreadyResolved(f"difference {seq} of reconciliation {self.id} is already waiting")
            return
        self._check_open()
        if str(seq) in self.resolutions:
            raise AlreadyResolved(f"difference {seq} of reconciliation {self.id} is already resolved")
        check_action(action, difference_class)

    def resolve(self, seq: int, difference_class: str, action: str, by: str, reason: str, transfer_ids: list[UUID]) -> None:
        self.check_resolvable(seq, difference_class, action)
        self._resolved(seq, action, by, reason, transfer_ids)

    def end_wait(self, seq: int, reconciliation_id: UUID, day: str, line: int) -> None:
        """A later day's close matched this waiting difference and moved its amount."""
        if not self.is_waiting(seq):
            raise AlreadyResolved(f"difference {seq} of reconciliation {self.id} is no longer waiting")
        self._wait_ended(seq, reconciliation_id, day, line)

    def check_can_close(self) -> None:
        self._check_open()
        if self.open_differences:
            raise DayNotBalanced(f"{self.open_differences} differences are still open: resolve them first")

    def close(self, by: str, transfer_id: UUID | None, moved: int, stale: list[int] | None = None) -> None:
        self.check_can_close()
        self._closed(by, transfer_id, moved, stale or [])

    def _check_open(self) -> None:
        if self.closed_by is not None:
            raise DayClosed(f"reconciliation {self.id} ({self.channel}, {self.day}, {self.currency}) is closed")

    @event("DifferenceResolved")
    def _resolved(self, seq: int, action: str, by: str, reason: str, transfer_ids: list[UUID]) -> None:
        earlier = self.resolutions.get(str(seq))
        assert earlier is None or self.is_waiting(seq), seq  # resolved once, or a wait resolved at last
        assert earlier is not None or self.closed_by is None, seq  # a closed day takes only the end of a wait
        resolution: dict[str, Any] = {"action": action, "by": by, "reason": reason, "transfer_ids": transfer_ids}
        if earlier is not None:  # a waiting difference, resolved at last
            resolution["waited"] = {"by": earlier["by"], "reason": earlier["reason"]}
        self.resolutions[str(seq)] = resolution

    @event("WaitEnded")
    def _wait_ended(self, seq: int, reconciliation_id: UUID, day: str, line: int) -> None:
        assert self.is_waiting(seq), seq
        self.resolutions[str(seq)] = {
            **self.resolutions[str(seq)],
            "matched_on": {"reconciliation_id": str(reconciliation_id), "day": day, "seq": line},
        }

    @event("Closed")
    def _closed(self, by: str, transfer_id: UUID | None, moved: int, stale: list[int] | None = None) -> None:
        assert self.closed_by is None and self.open_differences == 0, (self.closed_by, self.open_differences)
        assert (transfer_id is None) == (moved == 0), (transfer_id, moved)  # a close moves money iff it moves any
        self.closed_by = by
        self.close_transfer_id = transfer_id
        self.moved = moved
        self.stale = list(stale or [])  # carried lines another day had matched first: not moved here


class ReconciledDay(LedgerAggregate):
    """A channel's day (in one currency) closes once: by the reconciliation named here."""

    id: UUID

    if TYPE_CHECKING:  # the event classes @event makes below, declared for mypy (test_domain_events_declared.py compares)
        class Closed(LedgerAggregate.Created):
            channel: str
            day: str
            reconciliation_id: UUID
            moved: int
            currency: str

    @event("Closed")
    def __init__(self, id: UUID, channel: str, day: str, reconciliation_id: UUID, moved: int,
                 currency: str = DEFAULT_CURRENCY) -> None:
        self.channel = channel
        self.day = day
        self.currency = currency
        self.reconciliation_id = reconciliation_id
        self.moved = moved
