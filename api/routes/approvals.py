"""/v1/approvals: commands held for a second staff key's approval (four-eyes); and the 202 a held command answers."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from ledger.domain.access import Permission as P
from projections.common import PAGE_SIZE_MAX

from ..deps import IdempotencyKeyDep, MinPositionQuery
from ..models.approvals import ApprovalListOut, ApprovalOut, PendingOut, RejectIn
from ..service import acting
from ..service.approvals import Approvals, PendingApproval

router = APIRouter(prefix="/v1/approvals", tags=["approvals"])
Staff = Annotated[Approvals, acting(P.ACCOUNTS_READ, Approvals)]  # any staff key (business keys: 403)
Status = Literal["pending", "approved", "executed", "failed", "rejected", "expired"]
Kind = Literal["adjustment", "write_off", "book_difference", "channel_close", "route_change", "limit_change", "role_grant"]

# A held command's route documents this answer (its `responses=`).
PENDING: dict[int | str, dict[str, Any]] = {
    202: {"model": PendingOut, "description": "Held for a second staff key's approval (four-eyes): nothing was done"
          " yet. `GET /v1/approvals/{approval_id}` follows it."},
}


@router.get("", response_model=ApprovalListOut)
def list_approvals(api: Staff, status: Status | None = None, kind: Kind | None = None,
                   limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100, cursor: str | None = None,
                   min_position: MinPositionQuery = None):
    """Approvals in the order they were asked for (`status=pending`: those waiting and not past their time)."""
    return api.approvals(status, kind, limit, cursor, min_position)


@router.get("/{approval_id}", response_model=ApprovalOut)
def get_approval(approval_id: UUID, api: Staff):
    return api.approval(approval_id)


@router.post("/{approval_id}/approve", response_model=ApprovalOut)
def approve(approval_id: UUID, api: Staff, key: IdempotencyKeyDep):
    """Approve, then run the held command once, with its original Idempotency-Key: the answer holds its
    `result`, or its refusal as `problem`. Needs the permission the command needs, and another holder
    than the maker's (`403 four-eyes`). A retry with the same Idempotency-Key answers as the first did;
    the same approver's retry with another key answers the approval as it stands."""
    return api.approve(approval_id, key)


@router.post("/{approval_id}/reject", response_model=ApprovalOut)
def reject(approval_id: UUID, body: RejectIn, api: Staff, key: IdempotencyKeyDep):
    """Reject, with a reason: the held command never runs. Same rules as approving."""
    return api.reject(approval_id, body.reason, key)


def install(app: FastAPI) -> None:
    """A held command (api/service/approvals.py's PendingApproval) answers 202 with its approval."""

    @app.exception_handler(PendingApproval)
    async def pending(request: Request, held: PendingApproval) -> JSONResponse:
        approval = held.approval
        body = PendingOut(approval_id=approval.id, status=approval.status, kind=approval.kind,
                          expires_at=approval.expires_at, position=approval.position)
        return JSONResponse(body.model_dump(mode="json"), status_code=202,
                            headers={"Location": f"/v1/approvals/{approval.id}"})
