"""The Account aggregate: a customer account's balance, status and holds.

Customer accounts (institution, settlement, member) are credit-normal liabilities:
a credit raises the balance, a debit lowers it, and it never goes below zero.
Their invariants live here. System accounts are kept by the ledger itself; they
are hot (every recharge through a channel touches one), so their postings live
only in Transfer events and their balances come from projections: their
aggregate records only that they were opened.

Each public method checks, in a fixed order, and only then calls a private
`@event` method, whose body runs again on every replay and only changes state,
and asserts the invariants it must keep: a customer account's `posted` never
goes below zero, and its open holds never hold more than it has posted. The
`balance_after` an event records is taken as it is: whether it agrees with the
amounts is the replay audit's finding to report (projections.aggregate_audit),
not an assertion that would stop the account from loading.

Open holds are kept as typed `HoldEntry`s (the funds check reads them; see
`ledger.domain.postings` for why the account keeps them beside the Hold
aggregate). Snapshots taken before that (class version 1) kept plain dicts:
`upcast_v1_v2` turns them into entries.

A status change records who made it (`by`) and, when given, why (`reason`). `reason` is a
parameter with a default, so a StatusChanged stored before it existed loads unchanged (the
event class is not versioned: no upcast is needed); readers take it with `status_reason()`.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from .aggregate import LedgerAggregate
from .errors import (
    AccountClosed,
    AccountFrozen,
    AccountNotEmpty,
    ExceedsHeldAmount,
    HoldNotActive,
    InsufficientFunds,
    InvalidStatusChange,
    ValidationError,
)
from .postings import HoldEntry


class AccountKind(StrEnum):
    INSTITUTION = "institution"
    SETTLEMENT = "settlement"
    MEMBER = "member"
    SYSTEM = "system"


CUSTOMER_KINDS = frozenset({AccountKind.INSTITUTION, AccountKind.SETTLEMENT, AccountKind.MEMBER})


class AccountStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"  # no debits
    CLOSED = "closed"  # nothing; final


class SystemRole(StrEnum):
    CLEARING = "clearing"
    PENDING_RECONCILIATION = "pending_reconciliation"
    RECONCILED = "reconciled"
    FEE_EXPENSE = "fee_expense"
    FEE_INCOME = "fee_income"
    DIFFERENCE = "difference"


CHANNEL_ROLES = frozenset(
    {SystemRole.CLEARING, SystemRole.PENDING_RECONCILIATION, SystemRole.RECONCILED}
)
SYSTEM_BUSINESS_ID = "system"
STATUS_REASON_LENGTH_MAX = 200  # characters of the reason given with a status change


def check_status_reason(reason: str) -> str:
    """A status change's reason, when one is given: one line of 1-200 characters, no control characters."""
    if not reason.strip():
        raise ValidationError("reason must not be empty when given")
    if len(reason) > STATUS_REASON_LENGTH_MAX:
        raise ValidationError(f"reason is longer than {STATUS_REASON_LENGTH_MAX} characters ({len(reason)})")
    if any(unicodedata.category(c) == "Cc" for c in reason):
        raise ValidationError("reason contains control characters (it is one line of text)")
    return reason


def status_reason(event: Account.StatusChanged) -> str | None:
    """The reason a status change recorded; None for changes recorded before reasons were (their
    stored events have no `reason` field, and load unchanged)."""
    return getattr(event, "reason", None)


class Account(LedgerAggregate):
    id: UUID  # given by the application: deterministic, for idempotency
    class_version: ClassVar[int] = 2  # 2: open holds are HoldEntry values (snapshots of 1 kept dicts)

    if TYPE_CHECKING:  # the event classes @event makes below, declared for mypy (test_domain_events_declared.py compares)
        class Opened(LedgerAggregate.Created):
            kind: str
            business_id: str
            external_ref: str
            currency: str
            name: str
            request_hash: str
            role: str | None
            channel: str | None

        class Credited(LedgerAggregate.Event):
            transfer_id: UUID
            amount: int
            balance_after: int

        class Debited(LedgerAggregate.Event):
            transfer_id: UUID
            amount: int
            balance_after: int

        class HoldPlaced(LedgerAggregate.Event):
            hold_id: UUID
            amount: int
            expires_at: datetime | None
            purpose: str

        class HoldReleased(LedgerAggregate.Event):
            hold_id: UUID
            amount: int

        class HoldCaptured(LedgerAggregate.Event):
            hold_id: UUID
            transfer_id: UUID
            amount: int
            balance_after: int

        class HoldExpired(LedgerAggregate.Event):
            hold_id: UUID

        class StatusChanged(LedgerAggregate.Event):
            status: str
            by: str | None
            reason: str | None  # absent from events recorded before reasons: read it with status_reason()

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["holds"] = {hid: HoldEntry(**entry) for hid, entry in state["holds"].items()}

    @event("Opened")
    def __init__(
        self,
        id: UUID,
        kind: str,
        business_id: str,
        external_ref: str,
        currency: str,
        name: str,
        request_hash: str,
        role: str | None = None,
        channel: str | None = None,
    ) -> None:
        self.kind = kind
        self.business_id = business_id
        self.external_ref = external_ref
        self.currency = currency
        self.name = name
        self.request_hash = request_hash
        self.role = role
        self.channel = channel
        self.status = AccountStatus.ACTIVE.value
        self.posted = 0
        self.holds: dict[str, HoldEntry] = {}  # open holds by hold id

    def __deepcopy__(self, memo: dict[int, Any]) -> Account:
        """The copy `copy.deepcopy` makes (the aggregate cache hands each reader one), at a
        fraction of the generic walk's cost: every attribute but the holds and the pending
        events is an immutable value (text, integers, None, a UUID, datetimes) and is shared;
        the holds' entries and the events are frozen, so new containers of the same ones do."""
        copied = object.__new__(type(self))
        memo[id(self)] = copied
        state = self.__dict__.copy()
        state["holds"] = self.holds.copy()
        state["_pending_events"] = self._pending_events.copy()
        copied.__dict__.update(state)
        return copied

    # -- queries ---------------------------------------------------------------

    @property
    def is_customer(self) -> bool:
        return self.kind != AccountKind.SYSTEM

    def open_holds(self, now: datetime) -> dict[str, HoldEntry]:
        """Holds that still reduce `available`: an expired hold stops at its expiry."""
        return {hid: h for hid, h in self.holds.items() if not h.is_expired(now)}

    def pending_debits(self, now: datetime) -> int:
        return sum(h.remaining for h in self.open_holds(now).values())

    def frozen(self, now: datetime) -> int:
        return sum(h.remaining for h in self.open_holds(now).values() if h.purpose == "freeze")

    @property
    def held(self) -> int:
        """All that open holds hold, expired or not (what the invariants bound)."""
        return sum(h.remaining for h in self.holds.values())

    def available(self, now: datetime) -> int:
        return self.posted - self.pending_debits(now)

    # -- commands --------------------------------------------------------------

    def credit(self, transfer_id: UUID, amount: int) -> None:
        self._check_not_closed()
        # The library's `trigger_event` for `Credited`, whose `apply` is `_credited` below: what calling
        # `_credited` does, without the decorator's per-call binding and argument matching (the hot path).
        self.trigger_event(self.Credited, transfer_id=transfer_id, amount=amount, balance_after=self.posted + amount)

    def debit(self, transfer_id: UUID, amount: int, now: datetime) -> None:
        self.expire_holds(now)  # so that the holds it keeps are the ones its funds check counts
        self._check_debits_allowed()
        self._check_funds(amount, now)
        self.trigger_event(self.Debited, transfer_id=transfer_id, amount=amount, balance_after=self.posted - amount)

    def place_hold(
        self, hold_id: UUID, amount: int, expires_at: datetime | None, now: datetime, purpose: str = "freeze"
    ) -> None:
        self.expire_holds(now)
        self._check_debits_allowed()
        self._check_funds(amount, now)
        self._hold_placed(hold_id, amount, expires_at, purpose)

    def release_hold(self, hold_id: UUID, amount: int, now: datetime) -> None:
        self._check_hold(hold_id, amount, now)
        self._hold_released(hold_id, amount)

    def capture_hold(self, hold_id: UUID, transfer_id: UUID, amount: int, now: datetime) -> None:
        """Turn (part of) a hold into a posted debit."""
        self.expire_holds(now)
        self._check_debits_allowed()
        self._check_hold(hold_id, amount, now)
        self._hold_captured(hold_id, transfer_id, amount, self.posted - amount)

    def expire_holds(self, now: datetime) -> None:
        """Record the expiry of holds past their time (they already stopped counting)."""
        for hid, hold in list(self.holds.items()):
            if hold.is_expired(now):
                self._hold_expired(UUID(hid))

    def change_status(self, status: str, now: datetime, by: str | None = None, reason: str | None = None) -> bool:
        """Set the account's status; returns False when it already had it. `by`: who changed it;
        `reason`: why, recorded with the change (see `check_status_reason`)."""
        if status not in AccountStatus.__members__.values():
            raise InvalidStatusChange(f"unknown status {status!r}: expected active, frozen or closed")
        if reason is not None:
            check_status_reason(reason)
        if status == self.status:
            return False
        if self.status == AccountStatus.CLOSED:
            raise AccountClosed(f"account {self.id} is closed; a closed account cannot be reopened")
        if status == AccountStatus.CLOSED and (self.posted != 0 or self.open_holds(now)):
            raise AccountNotEmpty(
                f"account {self.id} has balance {self.posted} and {len(self.open_holds(now))} open holds;"
                " empty it before closing"
            )
        self._status_changed(status, by, reason)
        return True

    # -- checks, in the order commands apply them --------------------------------

    def _check_not_closed(self) -> None:
        if self.status == AccountStatus.CLOSED:
            raise AccountClosed(f"account {self.id} is closed")

    def _check_debits_allowed(self) -> None:
        self._check_not_closed()
        if self.status == AccountStatus.FROZEN:
            raise AccountFrozen(f"account {self.id} is frozen: no debits")

    def _check_funds(self, amount: int, now: datetime) -> None:
        if self.is_customer and self.available(now) < amount:
            raise InsufficientFunds(
                f"account {self.id} has {self.available(now)} available, {amount} needed"
            )

    def _check_hold(self, hold_id: UUID, amount: int, now: datetime) -> None:
        hold = self.holds.get(str(hold_id))
        if hold is None or hold.is_expired(now):
            raise HoldNotActive(f"hold {hold_id} is not open on account {self.id}")
        if amount > hold.remaining:
            raise ExceedsHeldAmount(f"hold {hold_id} has {hold.remaining} held, {amount} asked")

    # -- events: state changes only, and the invariants they keep ----------------

    @event("Credited")
    def _credited(self, transfer_id: UUID, amount: int, balance_after: int) -> None:
        assert self.is_customer and amount > 0, amount
        self.posted = balance_after

    @event("Debited")
    def _debited(self, transfer_id: UUID, amount: int, balance_after: int) -> None:
        assert self.is_customer and amount > 0, amount
        self._assert_funded(balance_after, self.held)
        self.posted = balance_after

    @event("HoldPlaced")
    def _hold_placed(self, hold_id: UUID, amount: int, expires_at: datetime | None, purpose: str) -> None:
        assert self.is_customer and str(hold_id) not in self.holds, hold_id
        self._assert_funded(self.posted, self.held + amount)
        self.holds[str(hold_id)] = HoldEntry(amount, expires_at, purpose)

    @event("HoldReleased")
    def _hold_released(self, hold_id: UUID, amount: int) -> None:
        self._reduce_hold(hold_id, amount)

    @event("HoldCaptured")
    def _hold_captured(self, hold_id: UUID, transfer_id: UUID, amount: int, balance_after: int) -> None:
        self._assert_funded(balance_after, self.held - amount)
        self._reduce_hold(hold_id, amount)
        self.posted = balance_after

    @event("HoldExpired")
    def _hold_expired(self, hold_id: UUID) -> None:
        del self.holds[str(hold_id)]

    @event("StatusChanged")
    def _status_changed(self, status: str, by: str | None = None, reason: str | None = None) -> None:
        assert self.status != AccountStatus.CLOSED and status != self.status, (self.status, status)
        assert status != AccountStatus.CLOSED or (self.posted == 0), "closed with a balance"
        self.status = status

    def _reduce_hold(self, hold_id: UUID, amount: int) -> None:
        left = self.holds[str(hold_id)].reduced(amount)  # asserts 0 < amount <= remaining
        if left is None:
            del self.holds[str(hold_id)]
        else:
            self.holds[str(hold_id)] = left

    @staticmethod
    def _assert_funded(posted: int, held: int) -> None:
        """Before a change: after it, posted >= 0 and open holds (expired or not) hold no more than posted."""
        assert 0 <= held <= posted, (posted, held)
