"""Queries and reports: transactions, the trial balance, suspense, the event log."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import Field

from .common import Out


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
    reference: str | None = Field(None, description="The business's own reference it was made with, if any.")


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
