"""Four-eyes approval (maker-checker): a staff command held until a second staff key approves it.

An `Approval` keeps the command it holds (serialised, with its idempotency key), who asked
(the key and its holder's name), the permission an approver needs, and when it expires. Its
life is its events, each with its actor: `Requested` (by the maker), then one of `Approved`
(by the checker), `Rejected` (by the checker, with a reason) or `Expired` (recorded by whoever
found it past its time); after `Approved`, `Executed` (by the key that ran it: the approver)
keeps the command's result, or its refusal as problem details. Four eyes: neither the maker's key nor another key of the maker's
holder may approve or reject (`FourEyes`, 403).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import event

from .aggregate import LedgerAggregate
from .errors import Conflict, LedgerError, NotFound


class ApprovalStatus(StrEnum):
    PENDING = "pending"  # waiting for a second key
    APPROVED = "approved"  # approved; its command is being run
    EXECUTED = "executed"  # approved, and its command ran (`result`)
    FAILED = "failed"  # approved, and its command was refused (`problem`)
    REJECTED = "rejected"
    EXPIRED = "expired"


DECIDED = frozenset({ApprovalStatus.EXECUTED, ApprovalStatus.FAILED, ApprovalStatus.REJECTED, ApprovalStatus.EXPIRED})


class ApprovalNotFound(NotFound):
    pass


class FourEyes(LedgerError):
    """The maker's own key, or another key of the maker's holder, may not decide the maker's request."""

    code = "four-eyes"
    status = 403


class ApprovalNotPending(Conflict):
    code = "approval-not-pending"


class ApprovalExpired(Conflict):
    code = "approval-expired"


class Approval(LedgerAggregate):
    id: UUID

    if TYPE_CHECKING:  # the event classes @event makes below, declared for mypy (test_domain_events_declared.py compares)
        class Requested(LedgerAggregate.Created):
            kind: str
            permission: str
            command: dict[str, Any]
            request_hash: str
            requested_by: str
            requested_by_holder: str
            expires_at: datetime

        class Approved(LedgerAggregate.Event):
            by: str
            holder: str

        class Rejected(LedgerAggregate.Event):
            by: str
            holder: str
            reason: str

        class Expired(LedgerAggregate.Event):
            by: str

        class Executed(LedgerAggregate.Event):
            result: dict[str, Any] | None
            problem: dict[str, Any] | None
            by: str

    @event("Requested")
    def __init__(self, id: UUID, kind: str, permission: str, command: dict[str, Any], request_hash: str,
                 requested_by: str, requested_by_holder: str, expires_at: datetime) -> None:
        self.kind = kind
        self.permission = permission
        self.command = command  # {"type": the command's topic, "fields": its fields as JSON}
        self.request_hash = request_hash
        self.requested_by = requested_by
        self.requested_by_holder = requested_by_holder
        self.expires_at = expires_at
        self.status = ApprovalStatus.PENDING.value
        self.decided_by: str | None = None
        self.decided_by_holder: str | None = None
        self.reason: str | None = None
        self.result: dict[str, Any] | None = None
        self.problem: dict[str, Any] | None = None

    def is_past(self, now: datetime) -> bool:
        return now >= self.expires_at

    def status_at(self, now: datetime) -> str:
        """The status as of `now`: a pending approval past its time is expired, recorded or not."""
        return ApprovalStatus.EXPIRED.value if self.status == ApprovalStatus.PENDING and self.is_past(now) else self.status

    def check_decider(self, by: str, holder: str) -> None:
        if by == self.requested_by:
            raise FourEyes(f"approval {self.id} was requested with this API key: another holder's key must decide it")
        if holder == self.requested_by_holder:
            raise FourEyes(f"approval {self.id} was requested by {holder!r}: another holder's key must decide it")

    def expire(self, by: str, now: datetime) -> bool:
        """Record that the approval is past its time (True), if it is pending and past it."""
        if self.status != ApprovalStatus.PENDING or not self.is_past(now):
            return False
        self._expired(by)
        return True

    def approve(self, by: str, holder: str) -> None:
        self.check_decider(by, holder)
        self._check_pending()
        self._approved(by, holder)

    def reject(self, by: str, holder: str, reason: str) -> None:
        self.check_decider(by, holder)
        self._check_pending()
        self._rejected(by, holder, reason)

    def record_execution(self, result: dict[str, Any] | None, problem: dict[str, Any] | None, by: str) -> bool:
        """Keep the command's outcome, run by `by` (once: False if it was kept already)."""
        if self.status != ApprovalStatus.APPROVED:
            return False
        assert (result is None) != (problem is None), "a command either ran or was refused"
        self._executed(result, problem, by)
        return True

    def _check_pending(self) -> None:
        if self.status == ApprovalStatus.EXPIRED:
            raise ApprovalExpired(f"approval {self.id} expired at {self.expires_at.isoformat()}")
        if self.status != ApprovalStatus.PENDING:
            raise ApprovalNotPending(f"approval {self.id} is {self.status} (by {self.decided_by})")

    @event("Approved")
    def _approved(self, by: str, holder: str) -> None:
        assert self.status == ApprovalStatus.PENDING, self.status
        self.status = ApprovalStatus.APPROVED.value
        self.decided_by, self.decided_by_holder = by, holder

    @event("Rejected")
    def _rejected(self, by: str, holder: str, reason: str) -> None:
        assert self.status == ApprovalStatus.PENDING, self.status
        self.status = ApprovalStatus.REJECTED.value
        self.decided_by, self.decided_by_holder, self.reason = by, holder, reason

    @event("Expired")
    def _expired(self, by: str) -> None:
        assert self.status == ApprovalStatus.PENDING, self.status
        self.status = ApprovalStatus.EXPIRED.value

    @event("Executed")
    def _executed(self, result: dict[str, Any] | None, problem: dict[str, Any] | None, by: str) -> None:
        assert self.status == ApprovalStatus.APPROVED, self.status
        self.status = (ApprovalStatus.EXECUTED if problem is None else ApprovalStatus.FAILED).value
        self.result, self.problem = result, problem
