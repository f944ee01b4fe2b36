"""Handlers: card bindings, and the money side of recharges and withdrawals.

These record what happened (a route chosen, a channel's answer, a final
outcome) and move the money that goes with it, each in one save; they do no I/O
with channels. `ledger.channels.service.Payments` talks to the channels and
sends these commands.

A final outcome is booked at one instant: the payment's event and the transfers
it posts share one timestamp and record the accounting day it falls on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from ..commands import (
    RecordBinding,
    RecordRefusal,
    RecordRoute,
    RecordSubmission,
    RequestRecharge,
    RequestWithdrawal,
    SettlePayment,
    UnbindCard,
)
from ..domain import ids
from ..domain.accounts import Account, SystemRole
from ..domain.aggregate import stamped_by
from ..domain.cards import CardBinding
from ..domain.errors import BindingNotFound, CurrencyMismatch, PaymentNotFound
from ..domain.holds import Hold, assert_in_step
from ..domain.money import check_amount, check_currency
from ..domain.payments import Payment, Recharge, Withdrawal
from ..domain.postings import move, reverse
from ..domain.transfers import Transfer, TransferKind
from ..posting import booked_at, new_transfer, post
from ..unit_of_work import Attempt, Once, UnitOfWork
from ..views import BindingView
from .references import Claim, Reference

# -- card bindings -------------------------------------------------------------------------------


def record_binding(uow: UnitOfWork, cmd: RecordBinding) -> BindingView:
    def decide(attempt: Attempt) -> BindingView:
        binding = CardBinding(id=cmd.binding_id, request_hash=cmd.request, **cmd.fields)
        return BindingView.of(binding, attempt.commit(binding), cmd.failures)

    once = Once(CardBinding, cmd.binding_id, cmd.request, "binding key", lambda b, position: BindingView.of(b, position))
    return uow.run(decide, once)


def binding(uow: UnitOfWork, binding_id: UUID) -> CardBinding:
    return uow.fresh(uow.get(CardBinding, binding_id, BindingNotFound, "card binding"))


def unbind_card(uow: UnitOfWork, cmd: UnbindCard) -> BindingView:
    def decide(attempt: Attempt) -> BindingView:
        bound = uow.fresh(attempt.get(CardBinding, cmd.binding_id, BindingNotFound, "card binding"))
        return BindingView.of(bound, attempt.commit(bound) if bound.unbind() else None)

    return uow.run(decide)


# -- requests ------------------------------------------------------------------------------------


def request_recharge(uow: UnitOfWork, cmd: RequestRecharge) -> tuple[Recharge, bool]:
    """The recharge (routed to `route`'s channel, in the same save), and whether
    this call created it (False: a repeat)."""
    check_amount(cmd.amount)
    check_currency(cmd.currency)

    def decide(attempt: Attempt) -> tuple[Recharge, bool]:
        account = _payment_account(attempt, cmd.account, cmd.currency)
        recharge = Recharge(id=cmd.recharge_id, account_id=account.id, business_id=account.business_id, amount=cmd.amount,
                            currency=cmd.currency, method=cmd.method, bank=cmd.bank, binding_id=cmd.binding_id,
                            request_hash=cmd.request, reference=cmd.reference)
        if cmd.route is not None:
            recharge.route(*cmd.route)
        attempt.commit(recharge)
        return recharge, True

    once = Once(Recharge, cmd.recharge_id, cmd.request, "recharge key", lambda r, position: (uow.fresh(r), False))
    return uow.run(decide, once)


def request_withdrawal(uow: UnitOfWork, cmd: RequestWithdrawal) -> tuple[Withdrawal, bool]:
    """The withdrawal, with its amount held on the account (in the same save)."""
    check_amount(cmd.amount)
    check_currency(cmd.currency)
    hold_id = ids.command_id("withdrawal-hold", str(cmd.withdrawal_id))

    def decide(attempt: Attempt) -> tuple[Withdrawal, bool]:
        now = uow.clock()
        account = _payment_account(attempt, cmd.account, cmd.currency)
        account.expire_holds(now)
        account.place_hold(hold_id, cmd.amount, None, now, purpose="withdrawal")
        hold = Hold(id=hold_id, account_id=account.id, currency=cmd.currency, amount=cmd.amount, reason="withdrawal",
                    expires_at=None, request_hash=cmd.request, purpose="withdrawal")
        withdrawal = Withdrawal(
            id=cmd.withdrawal_id, account_id=account.id, business_id=account.business_id, amount=cmd.amount,
            currency=cmd.currency, method="payout", bank=cmd.bank, binding_id=cmd.binding_id, request_hash=cmd.request,
            hold_id=hold_id, reference=cmd.reference,
        )
        if cmd.route is not None:
            withdrawal.route(*cmd.route)
        attempt.commit(account, hold, withdrawal)
        return withdrawal, True

    once = Once(Withdrawal, cmd.withdrawal_id, cmd.request, "withdrawal key", lambda w, position: (uow.fresh(w), False))
    return uow.run(decide, once)


def recharge_claim(uow: UnitOfWork, cmd: RequestRecharge) -> Claim[tuple[Recharge, bool]] | None:
    """What a recharge with a reference claims (ledger/handlers/references.py); a repeat answers
    with the recharge as it is now, not created by this call."""
    if cmd.reference is None:
        return None
    return Claim(Reference("recharge", cmd.account, cmd.reference), cmd.request, cmd.recharge_id,
                 lambda states: (uow.fresh(states[0][0]), False))


def withdrawal_claim(uow: UnitOfWork, cmd: RequestWithdrawal) -> Claim[tuple[Withdrawal, bool]] | None:
    """What a withdrawal with a reference claims, as `recharge_claim`."""
    if cmd.reference is None:
        return None
    return Claim(Reference("withdrawal", cmd.account, cmd.reference), cmd.request, cmd.withdrawal_id,
                 lambda states: (uow.fresh(states[0][0]), False))


def payment(uow: UnitOfWork, payment_id: UUID) -> Payment:
    return uow.fresh(uow.get(Payment, payment_id, PaymentNotFound, "recharge or withdrawal"))


# -- what the channel said ------------------------------------------------------------------------


def record_route(uow: UnitOfWork, cmd: RecordRoute) -> Payment:
    return _change(uow, cmd.payment_id, lambda p: p.route(cmd.channel, cmd.reason, cmd.skipped))


def record_refusal(uow: UnitOfWork, cmd: RecordRefusal) -> Payment:
    return _change(uow, cmd.payment_id, lambda p: p.refused(cmd.channel, cmd.reason))


def record_submission(uow: UnitOfWork, cmd: RecordSubmission) -> Payment:
    def change(p: Payment) -> None:
        if not p.is_final:
            p.submitted(cmd.status, cmd.channel_txn_id, cmd.redirect_url)

    return _change(uow, cmd.payment_id, change)


def settle_payment(uow: UnitOfWork, cmd: SettlePayment) -> Payment:
    """Record a final outcome and move the money that goes with it, in one save.
    A repeat of the outcome (or of the same notification) changes nothing."""

    def decide(attempt: Attempt) -> Payment:
        p = _payment(attempt, cmd.payment_id)
        if cmd.notification is not None and cmd.notification in p.notifications:
            return uow.fresh(p)  # answers that save nothing come from fresh state
        if cmd.outcome == "returned":
            if not isinstance(p, Withdrawal) or not p.check_returnable():
                return uow.fresh(p)
            _returned(attempt, p, cmd.notification)
            return p
        if not p.check_can_settle(cmd.outcome):
            return uow.fresh(p)
        now = uow.clock()  # the outcome's one instant: its events' stamp, and its accounting day
        with stamped_by(lambda: now):
            if cmd.outcome == "succeeded":
                _succeeded(attempt, p, cmd.channel_txn_id, cmd.fee, cmd.notification, now)
            else:
                _failed(attempt, p, cmd.reason or "failed", cmd.notification, now)
        return p

    return uow.run(decide)


# -- the money of each outcome ----------------------------------------------------------------------


def _succeeded(
    attempt: Attempt, p: Payment, channel_txn_id: str | None, fee: int, notification: str | None, now: datetime
) -> None:
    uow = attempt.uow
    channel = p.channel or "unknown"
    suspense = attempt.system_account(SystemRole.PENDING_RECONCILIATION, p.currency, channel)
    refs = {"channel": channel, type(p).__name__.lower(): str(p.id)}
    capture: Hold | None = None
    if isinstance(p, Recharge):
        kind, postings = TransferKind.RECHARGE, move(suspense, p.account_id, p.amount, p.currency)
    else:
        assert isinstance(p, Withdrawal)
        kind, postings = TransferKind.WITHDRAWAL, move(p.account_id, suspense, p.amount, p.currency)
        capture = attempt.get(Hold, p.hold_id)
    main = booked_at(uow, now, ids.command_id(f"{kind.value}-transfer", str(p.id)), kind, p.currency, postings,
                     references=refs)
    transfers = [main]
    if fee:
        fee_expense = attempt.system_account(SystemRole.FEE_EXPENSE, p.currency)
        transfers.append(booked_at(uow, now, ids.command_id("fee-transfer", str(p.id)), TransferKind.FEE, p.currency,
                                   move(fee_expense, suspense, fee, p.currency), references=refs))
    if capture is not None:
        capture.capture(p.amount, main.id, f"capture:{p.id}", "")
    p.succeed(channel_txn_id, fee, [t.id for t in transfers], notification, uow.day_of(now))
    post(attempt, main, customers=(p.account_id,), capture=capture)
    if capture is not None:
        assert_in_step(capture, attempt.accounts[p.account_id].holds.get(str(capture.id)))
    for other in transfers[1:]:
        post(attempt, other)
    attempt.commit(*transfers, *[a for a in (capture, p) if a is not None])


def _failed(attempt: Attempt, p: Payment, reason: str, notification: str | None, now: datetime) -> None:
    uow = attempt.uow
    changed: list[Account | Hold] = []
    if isinstance(p, Withdrawal):
        hold = attempt.get(Hold, p.hold_id)
        account = attempt.customer_account(p.account_id)
        account.release_hold(hold.id, hold.remaining, uow.clock())
        hold.release(hold.remaining, f"release:{p.id}", "")
        assert_in_step(hold, account.holds.get(str(hold.id)))
        changed = [account, hold]
    p.fail(reason, notification, uow.day_of(now))
    attempt.commit(*changed, p)


def _returned(attempt: Attempt, w: Withdrawal, notification: str | None) -> None:
    original = attempt.get(Transfer, w.transfer_ids[0])
    reversal = new_transfer(
        attempt.uow, ids.command_id("withdrawal-return", str(w.id)), TransferKind.REVERSAL, w.currency,
        reverse(original.postings),
        references={"reverses": str(original.id), "withdrawal": str(w.id), "channel": w.channel or ""},
        memo="returned by the bank",
    )
    original.mark_reversed(reversal.id)
    w.mark_returned(reversal.id, notification)
    post(attempt, reversal, customers=(w.account_id,))
    attempt.commit(reversal, original, w)


# -- plumbing ------------------------------------------------------------------------------------------


def _payment(attempt: Attempt, payment_id: UUID) -> Payment:
    """From the cache, for a decision that saves: a stale copy fails the save and is read again."""
    return attempt.get(Payment, payment_id, PaymentNotFound, "recharge or withdrawal")


def _payment_account(attempt: Attempt, account: UUID, currency: str) -> Account:
    acct = attempt.customer_account(account)
    if acct.currency != currency:
        raise CurrencyMismatch(f"account {acct.id} holds {acct.currency}, not {currency}")
    return acct


def _change(uow: UnitOfWork, payment_id: UUID, change: Callable[[Payment], None]) -> Payment:
    def decide(attempt: Attempt) -> Payment:
        p = _payment(attempt, payment_id)
        change(p)
        if p.pending_events:
            attempt.commit(p)
        return p

    return uow.run(decide)
