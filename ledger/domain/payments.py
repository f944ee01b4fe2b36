"""Recharges (pay-ins) and withdrawals (payouts) through channels: their lifecycles.

    recharge:   requested -> submitted -> (awaiting_confirmation | redirected) -> succeeded | failed
    withdrawal: requested (funds held) -> submitted -> succeeded | failed; succeeded -> returned

Money moves only on a final outcome, in the same save as the event that records
it: a recharge posts its transfers when it succeeds; a withdrawal holds the funds
when requested, captures them when it succeeds, releases them when it fails, and
is reversed when the bank returns it. Each routing decision (which channel, why,
which were skipped) and each channel that refused is recorded. A final outcome
is final: a repeated or late notification of the same outcome changes nothing,
and one that contradicts it is refused.

A final outcome records `day`, the accounting day it was booked on (None in older
logs: those count on their UTC date), so the channel's daily activity (routing's
daily limits and success rates) never depends on configuration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import event

from .aggregate import LedgerAggregate
from .errors import Conflict

FINAL = ("succeeded", "failed", "returned")


class PaymentFinal(Conflict):
    code = "payment-final"


class Payment(LedgerAggregate):
    """What recharges and withdrawals share."""

    if TYPE_CHECKING:  # the event classes @event makes below, declared for mypy (test_domain_events_declared.py compares)
        class Routed(LedgerAggregate.Event):
            channel: str
            reason: str
            skipped: list[dict[str, str]]

        class ChannelRefused(LedgerAggregate.Event):
            channel: str
            reason: str

        class Submitted(LedgerAggregate.Event):
            status: str
            channel_txn_id: str | None
            redirect_url: str | None

        class Succeeded(LedgerAggregate.Event):
            channel_txn_id: str | None
            fee: int
            transfer_ids: list[UUID]
            notification: str | None
            day: str | None

        class Failed(LedgerAggregate.Event):
            reason: str
            notification: str | None
            day: str | None

    def _init(self, account_id: UUID, business_id: str, amount: int, currency: str, method: str,
              bank: str, binding_id: UUID | None, request_hash: str, reference: str | None = None) -> None:
        assert amount > 0, amount
        self.account_id = account_id
        self.business_id = business_id
        self.amount = amount
        self.currency = currency
        self.method = method
        self.bank = bank
        self.binding_id = binding_id
        self.request_hash = request_hash
        self.reference = reference  # the business's own reference (order number); None in older logs
        self.status = "requested"
        self.channel: str | None = None
        self.channel_txn_id: str | None = None
        self.redirect_url: str | None = None
        self.fee = 0
        self.decisions: list[dict[str, Any]] = []  # every routing decision and refusal, in order
        self.transfer_ids: list[UUID] = []
        self.failure: str | None = None
        self.notifications: list[str] = []  # channel notification ids already applied

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    def route(self, channel: str, reason: str, skipped: list[dict[str, str]]) -> None:
        self._routed(channel, reason, skipped)

    def refused(self, channel: str, reason: str) -> None:
        self._refused(channel, reason)

    def submitted(self, status: str, channel_txn_id: str | None, redirect_url: str | None) -> None:
        if status != self.status or channel_txn_id != self.channel_txn_id:
            self._submitted(status, channel_txn_id, redirect_url)

    def check_can_settle(self, outcome: str) -> bool:
        """True if `outcome` is new; False if it repeats the final one; refused if it contradicts it."""
        if not self.is_final:
            return True
        if outcome == self.status:
            return False
        raise PaymentFinal(f"{type(self).__name__.lower()} {self.id} is already {self.status}, not {outcome}")

    @event("Routed")
    def _routed(self, channel: str, reason: str, skipped: list[dict[str, str]]) -> None:
        self.channel = channel
        self.decisions.append({"channel": channel, "chosen": True, "reason": reason, "skipped": skipped})

    @event("ChannelRefused")
    def _refused(self, channel: str, reason: str) -> None:
        self.decisions.append({"channel": channel, "chosen": False, "reason": reason})

    @event("Submitted")
    def _submitted(self, status: str, channel_txn_id: str | None, redirect_url: str | None) -> None:
        assert not self.is_final, self.status  # a final outcome is final
        self.status = status
        self.channel_txn_id = channel_txn_id
        self.redirect_url = redirect_url

    @event("Succeeded")
    def _succeeded(self, channel_txn_id: str | None, fee: int, transfer_ids: list[UUID], notification: str | None,
                   day: str | None = None) -> None:
        assert not self.is_final and fee >= 0 and transfer_ids, (self.status, fee)
        self.status = "succeeded"
        self.channel_txn_id = channel_txn_id or self.channel_txn_id
        self.fee = fee
        self.transfer_ids += transfer_ids
        if notification:
            self.notifications.append(notification)

    @event("Failed")
    def _failed(self, reason: str, notification: str | None, day: str | None = None) -> None:
        assert not self.is_final, self.status
        self.status = "failed"
        self.failure = reason
        if notification:
            self.notifications.append(notification)

    def succeed(self, channel_txn_id: str | None, fee: int, transfer_ids: list[UUID], notification: str | None,
                day: str | None = None) -> None:
        self._succeeded(channel_txn_id, fee, transfer_ids, notification, day)

    def fail(self, reason: str, notification: str | None = None, day: str | None = None) -> None:
        self._failed(reason, notification, day)


class Recharge(Payment):
    id: UUID

    if TYPE_CHECKING:  # the event classes @event makes below, declared for mypy (test_domain_events_declared.py compares)
        class Requested(LedgerAggregate.Created):
            account_id: UUID
            business_id: str
            amount: int
            currency: str
            method: str
            bank: str
            binding_id: UUID | None
            request_hash: str
            reference: str | None  # absent from events of older logs: read it with getattr

    @event("Requested")
    def __init__(self, id: UUID, account_id: UUID, business_id: str, amount: int, currency: str, method: str, bank: str,
                 binding_id: UUID | None, request_hash: str, reference: str | None = None) -> None:
        self._init(account_id, business_id, amount, currency, method, bank, binding_id, request_hash, reference)


class Withdrawal(Payment):
    id: UUID

    if TYPE_CHECKING:  # the event classes @event makes below, declared for mypy (test_domain_events_declared.py compares)
        class Requested(LedgerAggregate.Created):
            account_id: UUID
            business_id: str
            amount: int
            currency: str
            method: str
            bank: str
            binding_id: UUID | None
            request_hash: str
            hold_id: UUID
            reference: str | None  # absent from events of older logs: read it with getattr

        class Returned(LedgerAggregate.Event):
            transfer_id: UUID
            notification: str | None

    @event("Requested")
    def __init__(self, id: UUID, account_id: UUID, business_id: str, amount: int, currency: str, method: str, bank: str,
                 binding_id: UUID | None, request_hash: str, hold_id: UUID, reference: str | None = None) -> None:
        self._init(account_id, business_id, amount, currency, method, bank, binding_id, request_hash, reference)
        self.hold_id = hold_id

    def check_returnable(self) -> bool:
        if self.status == "returned":
            return False
        if self.status != "succeeded":
            raise PaymentFinal(f"withdrawal {self.id} is {self.status}: only a succeeded one can be returned")
        return True

    def mark_returned(self, transfer_id: UUID, notification: str | None) -> None:
        self._returned(transfer_id, notification)

    @event("Returned")
    def _returned(self, transfer_id: UUID, notification: str | None) -> None:
        assert self.status == "succeeded", self.status  # only money that went out comes back
        self.status = "returned"
        self.transfer_ids.append(transfer_id)
        if notification:
            self.notifications.append(notification)
