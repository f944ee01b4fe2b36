"""/v1/reconciliations: import (or fetch from the channel) a statement for a channel, day and
currency, see the differences, resolve them, close the day; list reconciliations; fund and fee
reports, summary and detail, as JSON or CSV."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from ledger.domain.access import Permission as P
from ledger.domain.errors import ValidationError
from projections.common import PAGE_SIZE_MAX

from ..deps import POSITION_MAX, IdempotencyKeyDep, MinPositionQuery
from ..downloads import csv_download
from ..models import (
    BoundedDate,
    Code,
    Currency,
    FetchIn,
    ImportIn,
    ReconciliationLinesOut,
    ReconciliationListOut,
    ReconciliationOut,
    ResolveIn,
)
from ..service import acting
from ..service.reconciliations import Reconciliations
from .approvals import PENDING

router = APIRouter(prefix="/v1/reconciliations", tags=["reconciliation"])
Writer = Annotated[Reconciliations, acting(P.RECONCILE, Reconciliations)]
Reader = Annotated[Reconciliations, acting(P.REPORTS_READ, Reconciliations)]
Limit = Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)]


def out(caller: Reconciliations, reconciliation, **extra) -> dict:
    # The reconciliation as the command left it (a repeat: as the first one did), with that version's position.
    return {**vars(reconciliation), "id": reconciliation.id, "differences": reconciliation.differences,
            "open_differences": reconciliation.open_differences, "waiting": reconciliation.waiting,
            "position": caller.ledger.latest_position(reconciliation), **extra}


@router.post("", status_code=201, response_model=ReconciliationOut)
def import_statement(body: ImportIn, api: Writer, key: IdempotencyKeyDep):
    """Import the channel's statement for a day and currency and match it line by line, with the
    differences still waiting from earlier days. The same file again changes nothing; a malformed
    file is rejected whole, naming the line; an unknown channel is 404, a day not begun yet 422."""
    return out(api, api.import_statement(body, key))


@router.post("/fetch", status_code=201, response_model=ReconciliationOut)
def fetch_statement(body: FetchIn, api: Writer, key: IdempotencyKeyDep):
    """Get the day's statement from the channel's gateway and import it as if uploaded."""
    return out(api, api.fetch_statement(body, key))


@router.get("", response_model=ReconciliationListOut)
def list_reconciliations(
    api: Reader, channel: Code | None = None, currency: Currency | None = None,
    status: Literal["open", "closed", "superseded"] | None = None,
    start: Annotated[BoundedDate | None, Query(alias="from")] = None,
    end: Annotated[BoundedDate | None, Query(alias="to")] = None,
    limit: Limit = 100, cursor: str | None = None, min_position: MinPositionQuery = None,
):
    """Reconciliations by day, filtered by channel, currency, status and days (from, to: inclusive)."""
    return api.reconciliations(channel=channel, currency=currency, status=status, start=start, end=end, limit=limit,
                               cursor=cursor, min_position=min_position)


@router.get("/{reconciliation_id}", response_model=ReconciliationOut)
def get_reconciliation(reconciliation_id: UUID, api: Reader, min_position: MinPositionQuery = None):
    """The summary: counts and totals per class, ours against the channel's; resolutions; what waits;
    whether closed; and the channel's differences (in this currency) waiting longer than allowed."""
    reconciliation = api.ledger.get_reconciliation(reconciliation_id)
    return out(api, reconciliation, overdue=api.overdue(reconciliation, min_position))


@router.get("/{reconciliation_id}/lines", response_model=ReconciliationLinesOut)
def lines(reconciliation_id: UUID, api: Reader, limit: Limit = 100, cursor: str | None = None):
    """Every line, matched or not, with both sides' figures (the detail report)."""
    return _page(api, reconciliation_id, False, limit, cursor)


@router.get("/{reconciliation_id}/differences", response_model=ReconciliationLinesOut)
def differences(reconciliation_id: UUID, api: Reader, limit: Limit = 100, cursor: str | None = None):
    """The lines that did not match, with both sides' data."""
    return _page(api, reconciliation_id, True, limit, cursor)


@router.post("/{reconciliation_id}/differences/{seq}/resolve", response_model=ReconciliationOut, responses=PENDING)
def resolve(reconciliation_id: UUID, seq: Annotated[int, Path(ge=1, le=POSITION_MAX)], body: ResolveIn,
            api: Writer, key: IdempotencyKeyDep):
    """Resolve a difference once: complete, reverse (a recharge or a payout), book_difference, write_off,
    dismiss (a duplicate) or wait (for a later day's file); a waiting one takes one more action, even
    once its day is closed. The answer shows the resolution's transfers with their postings."""
    reconciliation = api.resolve(reconciliation_id, seq, body, key)
    return out(api, reconciliation, resolution=api.resolution(reconciliation, seq))


@router.post("/{reconciliation_id}/close", response_model=ReconciliationOut)
def close(reconciliation_id: UUID, api: Writer, key: IdempotencyKeyDep):
    """When nothing is open: move the matched total (with what this day matched of earlier days'
    waiting differences) from pending_reconciliation to reconciled; waiting differences stay open."""
    return out(api, api.close_reconciliation(reconciliation_id, key))


@router.get("/{reconciliation_id}/report.csv", response_class=StreamingResponse)
def report(reconciliation_id: UUID, api: Reader, kind: Literal["fund", "fee"] = "fund",
           part: Literal["summary", "detail"] = "summary"):
    """Fund or fee reconciliation, summary or detail, as CSV (with the currency)."""
    rows = api.services.reconciler.csv_report(reconciliation_id, kind, part)
    return csv_download(rows, f"reconciliation-{reconciliation_id}-{kind}-{part}.csv")


def _page(api: Reconciliations, reconciliation_id: UUID, differences_only: bool, limit: int, cursor: str | None) -> dict:
    api.ledger.get_reconciliation(reconciliation_id)
    if cursor is not None and (not cursor.isdigit() or int(cursor) > POSITION_MAX):
        raise ValidationError(f"cursor {cursor!r} is not one this service gave out")
    after = int(cursor) if cursor else 0
    items = api.services.reconciler.lines(reconciliation_id, differences_only=differences_only, after=after, limit=limit + 1)
    following = str(items[limit - 1]["seq"]) if len(items) > limit else None
    return {"items": items[:limit], "next_cursor": following}

