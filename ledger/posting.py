"""The posting engine: the one place a transfer's postings change account balances.

Every command that moves money (a transfer, a recharge, a capture, a payment's
outcome, a reconciliation's move) builds a `Transfer` of typed `Posting`s and
hands it to `post`, within its attempt; the attempt's `commit` then saves the
transfer with every account it changed, in one transaction.

Checks run in this order: accounts exist (those in `customers` must be customer
accounts); currencies match; then each account's own checks (status, funds,
holds) as its postings apply. System accounts are hot, so their postings live
in the transfer only: they are never loaded to be changed (their ids are
remembered once seen), and their balances come from the projections.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

from .domain.accounts import Account
from .domain.aggregate import stamped_by
from .domain.errors import CurrencyMismatch
from .domain.holds import Hold
from .domain.postings import Posting, Side
from .domain.transfers import Transfer, TransferKind
from .unit_of_work import Attempt, UnitOfWork


def new_transfer(
    uow: UnitOfWork, transfer_id: UUID, kind: TransferKind, currency: str, postings: Sequence[Posting], *,
    request_hash: str = "", memo: str = "", references: dict[str, str] | None = None, by: str | None = None,
    reference: str | None = None,
) -> Transfer:
    """A new transfer, stamped with one instant and recording the accounting day of that
    instant: its `day` and its timestamp always agree, whatever the clock does meanwhile."""
    now = uow.clock()
    return booked_at(uow, now, transfer_id, kind, currency, postings, request_hash=request_hash, memo=memo,
                     references=references, by=by, reference=reference)


def booked_at(
    uow: UnitOfWork, now: datetime, transfer_id: UUID, kind: TransferKind, currency: str, postings: Sequence[Posting],
    *, request_hash: str = "", memo: str = "", references: dict[str, str] | None = None, by: str | None = None,
    reference: str | None = None,
) -> Transfer:
    """A new transfer booked at `now` (an outcome's one instant), on the accounting day of `now`."""
    with stamped_by(lambda: now):
        return Transfer.post(transfer_id, kind, currency, postings, request_hash=request_hash, memo=memo,
                             references=references, day=uow.day_of(now), by=by, reference=reference)


def post(attempt: Attempt, transfer: Transfer, *, customers: Iterable[UUID] = (), capture: Hold | None = None) -> None:
    """Apply a transfer's postings to the customer accounts it touches, loading into the
    attempt those not there yet (the transfers of one attempt share them). `capture`: the
    hold whose account's debit is a capture of it.

    The transfer's instant is the posting's: holds expire as of it, and the accounts' events
    are stamped with it, so that a transfer and its entries share one time and one accounting
    day (and the event store writes that time's text once for all three)."""
    now = transfer.created_on
    accounts, known_system = attempt.accounts, attempt.uow.system_account_ids
    for account_id in customers:
        if account_id not in accounts:
            accounts[account_id] = attempt.customer_account(account_id)
    lines: list[tuple[Posting, Account | None]] = []  # each posting with its customer account (None: a system one)
    for p in transfer.postings:
        account = accounts.get(p.account)
        if account is None and p.account not in attempt.new_accounts and p.account not in known_system:
            found = attempt.account(p.account)
            if found.is_customer:
                accounts[p.account] = account = found
            else:
                known_system.add(p.account)
        lines.append((p, account))
    touched = [account for _, account in lines if account is not None]
    for account in touched:
        if account.currency != transfer.currency:
            raise CurrencyMismatch(f"account {account.id} holds {account.currency}, the transfer is in {transfer.currency}")
    with stamped_by(lambda: now):
        for account in touched:
            account.expire_holds(now)
        for p, customer in lines:
            if customer is None:
                continue  # a system account: its postings live in the transfer only
            if p.side is Side.CREDIT:
                customer.credit(transfer.id, p.amount)
            elif capture is not None and customer.id == capture.account_id:
                customer.capture_hold(capture.id, transfer.id, p.amount, now)
            else:
                customer.debit(transfer.id, p.amount, now)
