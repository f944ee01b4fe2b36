"""/v1/accounts: open, read with balances, statement, balance as of, status."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from ledger.domain.access import Permission as P
from projections.common import PAGE_SIZE_MAX

from ..deps import IdempotencyKeyDep, MinPositionQuery
from ..downloads import csv_download
from ..models import DATETIME_RULE, AccountOut, BalanceOut, BoundedDatetime, OpenAccount, SetStatus, StatementOut
from ..service import acting
from ..service.accounts import Accounts

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])
Limit = Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)]


@router.post("", status_code=201, response_model=AccountOut)
def open_account(body: OpenAccount, api: Annotated[Accounts, acting(P.ACCOUNTS_OPEN_MEMBER, Accounts)], key: IdempotencyKeyDep):
    """Open an account; the same (business_id, external_ref) again returns the same account."""
    return api.open_account(body, key)


@router.get("/{account_id}", response_model=AccountOut)
def get_account(account_id: UUID, api: Annotated[Accounts, acting(P.ACCOUNTS_READ, Accounts)]):
    """The account with its balances: strongly consistent for customer accounts."""
    return api.account(account_id)


@router.get("/{account_id}/statement", response_model=StatementOut)
def get_statement(
    account_id: UUID, api: Annotated[Accounts, acting(P.ACCOUNTS_READ, Accounts)],
    start: Annotated[BoundedDatetime | None, Query(alias="from", description=DATETIME_RULE)] = None,
    end: Annotated[BoundedDatetime | None, Query(alias="to", description=DATETIME_RULE)] = None,
    limit: Limit = 100, cursor: str | None = None, min_position: MinPositionQuery = None,
):
    """Entries with running balance, in log order, within [from, to)."""
    return api.statement(account_id, start, end, limit, cursor, min_position)


@router.get("/{account_id}/statement.csv", response_class=StreamingResponse)
def export_statement(
    account_id: UUID, api: Annotated[Accounts, acting(P.ACCOUNTS_READ, Accounts)],
    start: Annotated[BoundedDatetime | None, Query(alias="from", description=DATETIME_RULE)] = None,
    end: Annotated[BoundedDatetime | None, Query(alias="to", description=DATETIME_RULE)] = None,
    min_position: MinPositionQuery = None,
):
    """Every entry within [from, to) as CSV, in log order, streamed: `position,seq,created_at,transfer_id,
    kind,side,amount,currency,balance_after,counterparty_id,memo`. Who may read it as for the JSON."""
    return csv_download(api.statement_csv(account_id, start, end, min_position), f"statement-{account_id}.csv")


@router.get("/{account_id}/balance", response_model=BalanceOut)
def get_balance(
    account_id: UUID, api: Annotated[Accounts, acting(P.ACCOUNTS_READ, Accounts)],
    as_of: Annotated[BoundedDatetime | None, Query(description=DATETIME_RULE)] = None,
    min_position: MinPositionQuery = None,
):
    """The posted balance at an instant (default: now), from the statement."""
    return api.balance(account_id, as_of, min_position)


@router.post("/{account_id}/status", response_model=AccountOut)
def set_status(account_id: UUID, body: SetStatus, api: Annotated[Accounts, acting(P.ACCOUNTS_STATUS, Accounts)],
               key: IdempotencyKeyDep):
    """Freeze (no debits), unfreeze or close (final, only when empty) the whole account, with an optional reason."""
    return api.set_status(account_id, body.status, key, body.reason)
