"""The commands: what a caller asks the ledger to do, as small frozen values.

Each command is handled by one handler in `ledger.handlers` (the table is
`ledger.handlers.HANDLERS`), which checks it, loads what it needs through the
unit of work, decides and saves once. `FundCenter`'s methods only build these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict
from uuid import UUID

from .domain.fees import FeeRule
from .domain.reconciliation import DEFAULT_CURRENCY
from .reconciliation import CloseFigures, StatementMatch

Route = tuple[str, str, list[dict[str, str]]]  # (channel, why, the channels skipped and why)


class TransferRequest(TypedDict, total=False):
    """One transfer of a batch, as `FundCenter.transfer`'s keyword arguments."""

    from_account: UUID
    to_account: UUID
    amount: int
    currency: str
    idempotency_key: str
    memo: str
    reference: str  # refused in a batch: a transfer with a reference is posted on its own


# -- accounts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenAccount:
    kind: str
    business_id: str
    external_ref: str
    currency: str
    name: str = ""
    channel: str | None = None


@dataclass(frozen=True)
class SetAccountStatus:
    account: UUID
    status: str
    idempotency_key: str | None = None
    by: str | None = None
    reason: str | None = None  # why, recorded in the StatusChanged event


# -- transfers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostTransfer:
    from_account: UUID
    to_account: UUID
    amount: int
    currency: str
    idempotency_key: str
    memo: str = ""
    reference: str | None = None  # the business's own reference: one transfer per business and reference


@dataclass(frozen=True)
class PostTransfers:
    """Many transfers, in order, each idempotent by its own key, saved together when they can be."""

    items: tuple[PostTransfer | TransferRequest, ...]


@dataclass(frozen=True)
class BookRecharge:
    account: UUID
    amount: int
    currency: str
    channel: str
    idempotency_key: str


@dataclass(frozen=True)
class Adjust:
    account: UUID
    amount: int
    currency: str
    direction: str  # credit | debit, for the account
    reason: str
    idempotency_key: str
    by: str | None = None


@dataclass(frozen=True)
class ReverseTransfer:
    transfer_id: UUID
    idempotency_key: str
    reason: str
    by: str | None = None


# -- holds ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceHold:
    account: UUID
    amount: int
    idempotency_key: str
    reason: str = ""
    expires_at: datetime | None = None
    reference: str | None = None  # the business's own reference: one hold per business and reference


@dataclass(frozen=True)
class ReleaseHold:
    hold_id: UUID
    amount: int | None = None  # None: all that remains
    idempotency_key: str | None = None


@dataclass(frozen=True)
class CaptureHold:
    hold_id: UUID
    to_account: UUID
    amount: int | None = None  # None: all that remains
    idempotency_key: str | None = None
    memo: str = ""


# -- API keys -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateApiKey:
    role: str
    business_id: str | None = None
    name: str = ""
    created_by: str = "cli"
    idempotency_key: str | None = None
    holder: str | None = None  # who holds it, for four-eyes approval; None: the key is its own holder


@dataclass(frozen=True)
class RevokeApiKey:
    key_id: UUID
    by: str


@dataclass(frozen=True)
class GrantRole:
    key_id: UUID
    role: str
    business_id: str | None
    by: str
    idempotency_key: str | None = None


# -- the channel catalog: one command per change --------------------------------------------------


@dataclass(frozen=True)
class ChangeCatalog:
    idempotency_key: str | None = field(default=None, kw_only=True)
    by: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class RegisterBank(ChangeCatalog):
    code: str
    name: str


@dataclass(frozen=True)
class RegisterChannel(ChangeCatalog):
    code: str
    name: str
    logo_url: str = ""


@dataclass(frozen=True)
class SetChannelStatus(ChangeCatalog):
    code: str
    status: str


@dataclass(frozen=True)
class ConfigureProduct(ChangeCatalog):
    code: str
    method: str
    fee: FeeRule
    banks: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class SetRoute(ChangeCatalog):
    business_id: str
    method: str
    entries: list[dict[str, Any]]


# -- card bindings, recharges and withdrawals (the money side; ledger.channels does the I/O) ------


@dataclass(frozen=True)
class RecordBinding:
    binding_id: UUID
    request: str  # the request's fingerprint
    failures: dict[str, str]  # channel -> why it refused the binding
    fields: dict[str, Any]  # CardBinding's own fields: masked, never the full numbers


@dataclass(frozen=True)
class UnbindCard:
    binding_id: UUID


@dataclass(frozen=True)
class RequestRecharge:
    recharge_id: UUID
    request: str
    account: UUID
    amount: int
    currency: str
    method: str
    bank: str
    binding_id: UUID | None
    route: Route | None = None
    reference: str | None = None  # the business's own reference: one recharge per business and reference


@dataclass(frozen=True)
class RequestWithdrawal:
    withdrawal_id: UUID
    request: str
    account: UUID
    amount: int
    currency: str
    bank: str
    binding_id: UUID
    route: Route | None = None
    reference: str | None = None  # the business's own reference: one withdrawal per business and reference


@dataclass(frozen=True)
class RecordRoute:
    payment_id: UUID
    channel: str
    reason: str
    skipped: list[dict[str, str]]


@dataclass(frozen=True)
class RecordRefusal:
    payment_id: UUID
    channel: str
    reason: str


@dataclass(frozen=True)
class RecordSubmission:
    payment_id: UUID
    status: str
    channel_txn_id: str | None
    redirect_url: str | None = None


@dataclass(frozen=True)
class SettlePayment:
    payment_id: UUID
    outcome: str  # succeeded | failed | returned
    channel_txn_id: str | None = None
    fee: int = 0
    reason: str = ""
    notification: str | None = None  # the channel's notification id: a repeat of it changes nothing


# -- reconciliation (the write side; ledger.reconciliation reads statements and matches) ---------


@dataclass(frozen=True)
class RecordImport:
    reconciliation_id: UUID
    channel: str
    day: str
    file_hash: str
    match: StatementMatch  # what the read side's matching found: counts, summary, carried lines, window
    by: str
    currency: str = DEFAULT_CURRENCY


@dataclass(frozen=True)
class RecordResolution:
    reconciliation_id: UUID
    seq: int
    difference_class: str
    action: str
    by: str
    reason: str
    transfer_ids: list[UUID]
    settles: int = 0  # a waiting difference of a closed day: the amount it moves to reconciled


@dataclass(frozen=True)
class CloseReconciliation:
    reconciliation_id: UUID
    figures: CloseFigures  # the day's own net figure and the lines that end an earlier day's wait
    by: str


@dataclass(frozen=True)
class PostDifference:
    transfer_key: str
    channel: str
    currency: str
    delta: int  # positive: the channel owes us more
    memo: str
    references: dict[str, str]


@dataclass(frozen=True)
class ReversePayment:
    payment_id: UUID
    reason: str
    key: str
