"""Accounts: open one, set its status; the account, its statement and a past balance."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from ledger import AccountView
from ledger.domain.accounts import STATUS_REASON_LENGTH_MAX

from .common import Body, Code, Currency, Out, Ref, derived_from


class OpenAccount(Body):
    kind: Literal["institution", "settlement", "member"]
    business_id: Code | None = Field(None, description="Defaults to the caller's business for business keys.")
    external_ref: Ref
    currency: Currency
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    channel: Code | None = None


@derived_from(AccountView, exclude=["version"], shown={
    # The API shows customer accounts' balances (a system account's come from the views: `account`).
    "posted": (int, ...), "pending_debits": (int, ...), "frozen": (int, ...), "available": (int, ...),
})
class AccountOut(Out):
    pass


class SetStatus(Body):
    status: Literal["active", "frozen", "closed"]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=STATUS_REASON_LENGTH_MAX)] | None = Field(
        None, description="Why (optional for every key; the console always asks): recorded with the change, shown"
                          " on the console's account page and sent in the `account.status_changed` webhook."
                          " 1-200 characters, one line.")


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
