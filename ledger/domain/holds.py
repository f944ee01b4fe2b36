"""The Hold aggregate: the pending half of a two-phase transfer.

A hold (freeze) reserves part of a customer account's balance. It is then
released (voided) or captured (posted to another account), in full or in parts,
until nothing remains; or it expires. Its status follows TigerBeetle's pending
transfers: `pending` while something is held, then `posted` if anything was
captured or `voided` if all was released, or `expired` once past its expiry.

The held account keeps what is still open (a `HoldEntry`, for its funds check,
which must read the aggregate the command saves); this aggregate keeps the
hold's own history and the operation keys that make retries safe. Both change
in the same save, from the same decision: every handler that changes one
changes the other and asserts, before it saves, that the entry still holds what
the hold says remains (`assert_in_step`); the replay audit
(projections.aggregate_audit) checks the same on the stored events. Keeping
one source would need new event shapes for stored logs, so it is left as this.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import event

from .aggregate import LedgerAggregate
from .errors import ExceedsHeldAmount, HoldNotActive
from .postings import HoldEntry


class Hold(LedgerAggregate):
    id: UUID  # given by the application: deterministic, for idempotency

    if TYPE_CHECKING:  # the event classes @event makes below, declared for mypy (test_domain_events_declared.py compares)
        class Placed(LedgerAggregate.Created):
            account_id: UUID
            currency: str
            amount: int
            reason: str
            expires_at: datetime | None
            request_hash: str
            purpose: str
            reference: str | None  # absent from events of older logs: read it with getattr

        class Released(LedgerAggregate.Event):
            amount: int
            operation: str
            request_hash: str

        class Captured(LedgerAggregate.Event):
            amount: int
            transfer_id: UUID
            operation: str
            request_hash: str

    @event("Placed")
    def __init__(
        self,
        id: UUID,
        account_id: UUID,
        currency: str,
        amount: int,
        reason: str,
        expires_at: datetime | None,
        request_hash: str,
        purpose: str = "freeze",
        reference: str | None = None,
    ) -> None:
        self.account_id = account_id
        self.currency = currency
        self.amount = amount
        self.reason = reason
        self.expires_at = expires_at
        self.request_hash = request_hash
        self.purpose = purpose
        self.reference = reference  # the business's own reference (order number); None in older logs
        assert amount > 0, amount
        self.released = 0
        self.captured = 0
        self.capture_transfer_ids: list[UUID] = []
        # Operation key -> (request hash, aggregate version it produced).
        self.operations: dict[str, list[Any]] = {}  # a [str, int] pair, kept a list as JSON gives it back

    @property
    def remaining(self) -> int:
        return self.amount - self.released - self.captured

    def is_expired(self, now: datetime) -> bool:
        return self.remaining > 0 and self.expires_at is not None and self.expires_at <= now

    def status(self, now: datetime) -> str:
        if self.remaining == 0:
            return "posted" if self.captured else "voided"
        return "expired" if self.is_expired(now) else "pending"

    def check_open(self, amount: int | None, now: datetime) -> int:
        """Return the amount to act on (all that remains if None), or refuse."""
        if self.status(now) != "pending":
            raise HoldNotActive(f"hold {self.id} is {self.status(now)}: nothing can be released or captured")
        amount = self.remaining if amount is None else amount
        if amount > self.remaining:
            raise ExceedsHeldAmount(f"hold {self.id} has {self.remaining} held, {amount} asked")
        return amount

    def release(self, amount: int, operation: str, request_hash: str) -> None:
        self._released(amount, operation, request_hash)

    def capture(self, amount: int, transfer_id: UUID, operation: str, request_hash: str) -> None:
        self._captured(amount, transfer_id, operation, request_hash)

    @event("Released")
    def _released(self, amount: int, operation: str, request_hash: str) -> None:
        assert 0 < amount <= self.remaining, (amount, self.remaining)
        self.released += amount
        self.operations[operation] = [request_hash, self.version + 1]

    @event("Captured")
    def _captured(self, amount: int, transfer_id: UUID, operation: str, request_hash: str) -> None:
        assert 0 < amount <= self.remaining, (amount, self.remaining)
        self.captured += amount
        self.capture_transfer_ids.append(transfer_id)
        self.operations[operation] = [request_hash, self.version + 1]


def assert_in_step(hold: Hold, entry: HoldEntry | None) -> None:
    """The held account's entry of an open hold holds what the hold says remains: a
    command that changes one changes the other, and checks this before it saves."""
    assert (entry.remaining if entry is not None else 0) == hold.remaining, (hold.id, entry, hold.remaining)
