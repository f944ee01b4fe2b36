"""Request and response bodies (pydantic v2). Amounts are strict integers of minor units."""

from __future__ import annotations

from datetime import date as date_type
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from ledger.application import BATCH_SIZE_MAX
from ledger.domain.inputs import CLIENT_KEY_LENGTH_MAX, moment_problem
from ledger.domain.methods import METHODS, RECHARGE_METHODS
from ledger.domain.money import AMOUNT_MINOR_MAX

Amount = Annotated[StrictInt, Field(gt=0, le=AMOUNT_MINOR_MAX, description="Integer minor units: 10050 is 100.50.")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), Field(description="ISO 4217 code.", examples=["CNY"])]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Text = Annotated[str, StringConstraints(max_length=500)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=128)]
ClientKey = Annotated[str, StringConstraints(min_length=1, max_length=CLIENT_KEY_LENGTH_MAX, pattern=r"^[^\x00-\x1f\x7f]*$")]


def _bounded(value: datetime) -> datetime:
    problem = moment_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


# Every datetime the API takes, in a body or a query: ISO 8601 with an offset (a naive one
# is refused: it would mean whatever the server's clock zone is), from 1970-01-01T00:00:00Z
# to 9999-12-31T23:59:59.999999Z after applying the offset. Else 422 validation-error,
# naming the field. The ledger checks the same bound (ledger.domain.inputs.check_moment).
BoundedDatetime = Annotated[AwareDatetime, AfterValidator(_bounded)]
DATETIME_RULE = "ISO 8601 with an offset (Z, +08:00), from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z in UTC."


def _bounded_day(value: date_type) -> date_type:
    if not date_type(1970, 1, 1) <= value <= date_type(9999, 12, 30):
        raise ValueError("must be within 1970-01-01 and 9999-12-30")
    return value


# A calendar day (an accounting day): its window runs to the next day's cut-off, so 9999-12-31 is out.
BoundedDate = Annotated[date_type, AfterValidator(_bounded_day)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- accounts --------------------------------------------------------------------------


class OpenAccount(Body):
    kind: Literal["institution", "settlement", "member"]
    business_id: Code | None = Field(None, description="Defaults to the caller's business for business keys.")
    external_ref: Ref
    currency: Currency
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    channel: Code | None = None


class AccountOut(Out):
    id: UUID
    kind: str
    business_id: str
    external_ref: str
    currency: str
    name: str
    status: str
    role: str | None
    channel: str | None
    posted: int
    pending_debits: int
    frozen: int
    available: int
    position: int | None = None


class SetStatus(Body):
    status: Literal["active", "frozen", "closed"]


class BalanceOut(Out):
    account_id: UUID
    currency: str
    as_of: datetime
    posted: int


class EntryOut(Out):
    position: int
    seq: int
    transfer_id: UUID
    kind: str
    side: str
    amount: int
    balance_after: int
    counterparty_id: UUID | None
    memo: str
    created_at: datetime


class StatementOut(Out):
    account_id: UUID
    currency: str
    entries: list[EntryOut]
    next_cursor: str | None


# -- money -----------------------------------------------------------------------------


class TransferIn(Body):
    from_account: UUID
    to_account: UUID
    amount: Amount
    currency: Currency
    memo: Text = ""


class PostingOut(Out):
    account: UUID
    side: str
    amount: int


class PostedOut(Out):
    """A transfer a resolution (or a close) posted, with its postings."""

    id: UUID
    kind: str
    currency: str
    amount: int
    postings: list[PostingOut]
    memo: str


class TransferOut(PostedOut):
    references: dict[str, str]
    reversed_by: UUID | None
    created_at: datetime
    position: int | None = None


class BatchItemIn(TransferIn):
    idempotency_key: ClientKey | None = Field(None, description="Defaults to the batch's Idempotency-Key and the item's index.")


class BatchIn(Body):
    transfers: Annotated[list[BatchItemIn], Field(min_length=1, max_length=BATCH_SIZE_MAX)]


class BatchItemOut(Out):
    index: int
    status: int
    transfer: TransferOut | None = None
    problem: dict[str, Any] | None = None


class BatchOut(Out):
    results: list[BatchItemOut]
    position: int | None


class HoldIn(Body):
    account: UUID
    amount: Amount
    reason: Text = ""
    expires_at: BoundedDatetime | None = Field(None, description=DATETIME_RULE)


class ReleaseIn(Body):
    amount: Amount | None = None


class CaptureIn(Body):
    to_account: UUID
    amount: Amount | None = None
    memo: Text = ""


class HoldOut(Out):
    id: UUID
    account_id: UUID
    currency: str
    amount: int
    remaining: int
    released: int
    captured: int
    status: str
    reason: str
    expires_at: datetime | None
    capture_transfer_ids: list[UUID]
    position: int | None = None


class AdjustmentIn(Body):
    account: UUID
    amount: Amount
    currency: Currency
    direction: Literal["credit", "debit"]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


# -- queries ---------------------------------------------------------------------------


class TransactionOut(Out):
    id: str
    position: int
    kind: str
    status: str
    business_id: str | None
    account_id: UUID | None
    counterparty_id: UUID | None
    counterparty_business_id: str | None
    channel: str | None
    currency: str
    amount: int
    memo: str
    created_at: datetime
    actor: str | None = Field(None, description="Who made it, for adjustments and reversals: the API key's id, 'cli' or 'demo'.")


class TransactionsOut(Out):
    items: list[TransactionOut]
    next_cursor: str | None


class TrialBalanceAccount(Out):
    account_id: UUID
    kind: str
    business_id: str
    external_ref: str
    name: str
    currency: str
    role: str | None
    channel: str | None
    debit: int = Field(description="The debit balance (0 unless the account's debits exceed its credits).")
    credit: int = Field(description="The credit balance (0 unless the account's credits exceed its debits).")


class TrialBalanceTotal(Out):
    currency: str
    debit: int
    credit: int
    accounts: int
    balanced: bool


class TurnoverRow(Out):
    currency: str
    debits: int
    credits: int
    net: int
    accounts: int
    balanced: bool


class TrialBalanceOut(Out):
    position: int
    as_of: datetime
    accounts: list[TrialBalanceAccount] = Field(
        description="Every account with a balance at `as_of` (with `include_zero`, every open one).")
    currencies: list[TrialBalanceTotal] = Field(
        description="Per currency, the debit and credit balances' totals: equal, or the ledger is broken.")
    turnover: list[TurnoverRow] = Field(description="Per currency, all debits and credits posted up to `as_of`.")


class SuspenseRow(Out):
    day: str
    channel: str
    currency: str
    pending: int
    reconciled: int


class SuspenseOut(Out):
    position: int
    days: list[SuspenseRow]


class EventOut(Out):
    position: int
    topic: str
    originator_id: UUID
    originator_version: int
    timestamp: datetime
    data: dict[str, Any]


class EventsOut(Out):
    events: list[EventOut]
    next_after: int | None


# -- access ----------------------------------------------------------------------------


class KeyIn(Body):
    role: Literal["admin", "operator", "finance", "auditor", "business"]
    business_id: Code | None = None
    name: Annotated[str, StringConstraints(max_length=200)] = ""


class GrantIn(Body):
    role: Literal["admin", "operator", "finance", "auditor", "business"]
    business_id: Code | None = None


class KeyOut(Out):
    id: UUID
    name: str
    role: str
    business_id: str | None
    created_by: str
    revoked: bool
    created_at: datetime
    position: int | None = None


class NewKeyOut(KeyOut):
    key: str | None = Field(description="The bearer token. Shown on the first response only (only its hash is kept):"
                                        " a retry with the same Idempotency-Key answers null, with a note.")
    note: str | None = None


class KeyListOut(Out):
    items: list[KeyOut]
    next_cursor: str | None


class RoleOut(Out):
    role: str
    permissions: list[str]


# -- channels and payments --------------------------------------------------------------


class BankIn(Body):
    code: Code
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ChannelIn(Body):
    code: Code
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    logo_url: Annotated[str, StringConstraints(max_length=500)] = ""


class ChannelStatusIn(Body):
    status: Literal["open", "closed"]


class FeeIn(Body):
    rate_bps: Annotated[StrictInt, Field(ge=0, le=10_000)] = 0
    fixed: Annotated[StrictInt, Field(ge=0, le=AMOUNT_MINOR_MAX)] = 0
    minimum: Annotated[StrictInt, Field(ge=0, le=AMOUNT_MINOR_MAX)] = 0
    maximum: Annotated[StrictInt, Field(ge=0, le=AMOUNT_MINOR_MAX)] | None = None


class BankSettingIn(Body):
    enabled: bool = True
    limit_per_transaction: Amount | None = None
    limit_per_day: Amount | None = None


Method = Literal[METHODS]  # type: ignore[valid-type]  # the domain's one list, as the schema's enum


class ProductIn(Body):
    fee: FeeIn = FeeIn()
    banks: Annotated[dict[Code, BankSettingIn], Field(max_length=500)]


class RouteEntryIn(Body):
    channel: Code
    priority: Annotated[StrictInt, Field(ge=0, le=1000)]


class RouteIn(Body):
    business_id: Code
    method: Method
    channels: Annotated[list[RouteEntryIn], Field(min_length=1, max_length=20)]


class CatalogOut(Out):
    banks: dict[str, str]
    channels: dict[str, dict[str, Any]]
    routes: dict[str, list[dict[str, Any]]]


class SweepIn(Body):
    older_than_s: Annotated[StrictInt, Field(ge=0, le=86_400 * 30)] = 60


Digits = Annotated[str, StringConstraints(pattern=r"^[0-9]{6,32}$")]


class BindingIn(Body):
    account: UUID
    bank: Code
    holder_name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    id_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{17}[0-9Xx]$")]
    card_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{12,19}$")]
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9]{11}$")]


class BindingOut(Out):
    id: UUID
    account_id: UUID
    bank: str
    card_masked: str
    holder_masked: str
    id_number_masked: str
    phone_masked: str
    channels: list[str]
    status: str
    created_at: datetime
    position: int | None = None
    failures: dict[str, str] = {}


class RechargeIn(Body):
    account: UUID
    amount: Amount
    currency: Currency
    method: Literal[RECHARGE_METHODS]  # type: ignore[valid-type]  # the domain's one list, as the schema's enum
    binding_id: UUID | None = Field(None, description="For withholding and auth_pay: the bound card.")
    bank: Code | None = Field(None, description="For e-banking: the payer's bank.")


class ConfirmIn(Body):
    sms_code: Annotated[str, StringConstraints(pattern=r"^[0-9]{4,8}$")]


class WithdrawalIn(Body):
    account: UUID
    amount: Amount
    currency: Currency
    binding_id: UUID


class PaymentOut(Out):
    id: UUID
    kind: str
    account_id: UUID
    amount: int
    currency: str
    method: str
    bank: str
    binding_id: UUID | None
    status: str
    channel: str | None
    channel_txn_id: str | None
    redirect_url: str | None
    fee: int
    failure: str | None
    decisions: list[dict[str, Any]]
    transfer_ids: list[UUID]
    created_at: datetime
    position: int | None = None


# -- reconciliation -------------------------------------------------------------------------


class ImportIn(Body):
    channel: Code
    date: BoundedDate
    file: Annotated[str, StringConstraints(min_length=1, max_length=64 * 1024 * 1024)] = Field(
        description="The statement CSV: channel_txn_id,reference,kind,amount,fee,status,time")
    currency: Currency = "CNY"


class FetchIn(Body):
    channel: Code
    date: BoundedDate
    currency: Currency = "CNY"


class ResolveIn(Body):
    action: Literal["complete", "reverse", "book_difference", "write_off", "dismiss", "wait"]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class ResolutionOut(Out):
    seq: int
    action: str
    by: str
    reason: str
    transfers: list[PostedOut]
    waited: dict[str, Any] | None = None


class OverdueOut(Out):
    reconciliation_id: UUID
    seq: int
    channel: str
    currency: str
    day: str
    since: str
    age_days: int
    line_class: str = Field(alias="class")
    reference: str | None
    channel_txn_id: str | None
    kind: str | None
    our_amount: int | None
    their_amount: int | None

    model_config = ConfigDict(from_attributes=True, populate_by_name=True, serialize_by_alias=True)


class ReconciliationOut(Out):
    id: UUID
    channel: str
    currency: str
    day: str
    file_hash: str
    lines: int
    ours: int
    carried: int = Field(description="Lines that matched a difference waiting from an earlier day.")
    summary: dict[str, dict[str, int]]
    differences: int
    open_differences: int
    waiting: list[int] = Field(description="Differences resolved with `wait` that are still open (carry-over).")
    resolutions: dict[str, dict[str, Any]]
    closed_by: str | None
    close_transfer_id: UUID | None
    moved: int
    stale: list[int] = Field(description="Carried lines another day had matched first: not moved by this close.")
    position: int | None = None
    resolution: ResolutionOut | None = Field(None, description="On a resolve: the resolution, with its postings.")
    overdue: list[OverdueOut] | None = Field(
        None, description="On a get: this channel's and currency's differences waiting longer than the configured age.")


class ReconciliationListItem(Out):
    id: UUID
    channel: str
    currency: str
    day: str
    status: str
    lines: int
    ours: int
    differences: int
    open_differences: int
    waiting: int
    carried: int
    file_hash: str
    imported_by: str
    imported_at: str
    closed_by: str | None
    closed_at: str | None
    moved: int
    position: int


class ReconciliationListOut(Out):
    items: list[ReconciliationListItem]
    next_cursor: str | None


class ReconciliationLineOut(Out):
    seq: int
    line_class: str = Field(alias="class")
    payment_id: str | None
    reference: str | None
    channel_txn_id: str | None
    kind: str | None
    our_amount: int | None
    our_fee: int | None
    our_status: str | None
    their_amount: int | None
    their_fee: int | None
    their_status: str | None
    their_time: str | None = None
    carried_from: str | None = None
    carried_seq: int | None = None
    carried_day: str | None = None
    note: str | None = None

    model_config = ConfigDict(from_attributes=True, populate_by_name=True, serialize_by_alias=True)


class ReconciliationLinesOut(Out):
    items: list[ReconciliationLineOut]
    next_cursor: str | None
