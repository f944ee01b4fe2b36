"""/v1/transactions, /v1/reports and /v1/events: what finance, businesses and auditors read."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from ledger.domain.access import Permission as P
from projections.common import PAGE_SIZE_MAX

from ..deps import POSITION_MAX, MinPositionQuery
from ..downloads import csv_download
from ..models import DATETIME_RULE, BoundedDatetime, Code, EventsOut, SuspenseOut, TransactionsOut, TrialBalanceOut
from ..service import acting
from ..service.reports import Reports

router = APIRouter(tags=["queries"])
Kind = Literal["transfer", "recharge", "withdrawal", "capture", "fee", "reconciliation", "adjustment",
               "reversal", "freeze", "unfreeze", "verification"]


@router.get("/v1/transactions", response_model=TransactionsOut)
def transactions(
    api: Annotated[Reports, acting(P.TRANSACTIONS_READ, Reports)],
    business_id: Code | None = None, account_id: UUID | None = None, kind: Kind | None = None,
    status: Literal["posted", "reversed", "pending", "succeeded", "failed", "returned"] | None = None,
    channel: Code | None = None,
    currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    start: Annotated[BoundedDatetime | None, Query(alias="from", description=DATETIME_RULE)] = None,
    end: Annotated[BoundedDatetime | None, Query(alias="to", description=DATETIME_RULE)] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100, cursor: str | None = None,
    min_position: MinPositionQuery = None,
):
    """Internal and external transactions, newest first; a business sees its own."""
    return api.transactions(
        min_position, business_id=business_id, account_id=account_id, kind=kind, status=status, channel=channel,
        currency=currency, start=start, end=end, limit=limit, cursor=cursor,
    )


AsOf = Annotated[BoundedDatetime | None, Query(description=f"The instant (default: now). {DATETIME_RULE}")]
IncludeZero = Annotated[bool, Query(description="List the accounts whose balance is zero too.")]


@router.get("/v1/reports/trial-balance", response_model=TrialBalanceOut)
def trial_balance(api: Annotated[Reports, acting(P.REPORTS_READ, Reports)], as_of: AsOf = None, include_zero: IncludeZero = False,
                  min_position: MinPositionQuery = None):
    """Every account (customer and system) with its debit or credit balance at `as_of`; per currency
    the totals of both columns, equal or the ledger is broken; and per currency the turnover (all
    debits and credits posted up to `as_of`)."""
    return api.trial_balance(as_of, include_zero, min_position)


@router.get("/v1/reports/trial-balance.csv", response_class=StreamingResponse)
def trial_balance_csv(api: Annotated[Reports, acting(P.REPORTS_READ, Reports)], as_of: AsOf = None,
                      include_zero: IncludeZero = False, min_position: MinPositionQuery = None):
    """The trial balance as CSV, streamed: `line,account_id,kind,business_id,external_ref,name,currency,role,
    channel,debit,credit`, a line `account` per account, then a line `total` per currency."""
    return csv_download(api.trial_balance_csv(as_of, include_zero, min_position), "trial-balance.csv")


@router.get("/v1/reports/suspense", response_model=SuspenseOut)
def suspense(
    api: Annotated[Reports, acting(P.REPORTS_READ, Reports)], channel: Code | None = None,
    day: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")] = None, min_position: MinPositionQuery = None,
):
    """Per channel, currency and day: pending reconciliation versus reconciled."""
    return api.suspense(channel, day, min_position)


@router.get("/v1/events", response_model=EventsOut)
def events(
    api: Annotated[Reports, acting(P.EVENTS_READ, Reports)],
    after: Annotated[int, Query(ge=0, le=POSITION_MAX)] = 0, limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100,
):
    """The event log in order, after a position (auditors)."""
    return api.events(after, limit)
