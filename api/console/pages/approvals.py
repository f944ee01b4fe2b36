"""/console/approvals: commands held for a second staff key's approval (four-eyes): list them, read one
(the held command, who asked, who decided, what it answered), approve or reject it (with a reason)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any
from uuid import UUID

from fastapi import Form

from ledger.domain.access import Permission as P

from ...service.approvals import Approvals
from .. import inputs
from ..paging import paging
from ..web import Desk, command_key, needs, page_router

router = page_router("/console/approvals")
Staff = Annotated[Desk, needs(P.ACCOUNTS_READ)]  # every staff role reads approvals; deciding needs the command's permission
STATUSES = ("pending", "approved", "executed", "failed", "rejected", "expired")
KINDS = ("adjustment", "write_off", "book_difference", "channel_close", "route_change", "limit_change", "role_grant")
PAGE_ROWS = 50
Text = Annotated[str, Form(max_length=400)]


@router.get("")
def list_approvals(desk: Staff, status: str | None = "pending", kind: str | None = None, cursor: str | None = None):
    filters = {"status": inputs.choice(status, STATUSES, "status"), "kind": inputs.choice(kind, KINDS, "kind")}
    found = desk.service(Approvals).approvals(filters["status"], filters["kind"], PAGE_ROWS, inputs.blank(cursor), None)
    approvals = [asdict(a) for a in found["items"]]
    return desk.render("approvals/list.html", approvals=approvals, filters=filters, statuses=STATUSES, kinds=KINDS,
                       names=desk.key_names(a["requested_by"] for a in approvals),
                       **paging(desk, filters, inputs.blank(cursor), found["next_cursor"]))


@router.get("/{approval_id}")
def approval_page(desk: Staff, approval_id: UUID):
    approval = asdict(desk.service(Approvals).approval(approval_id))
    return desk.render("approvals/approval.html", approval=approval,
                       names=desk.key_names([approval["requested_by"], approval["decided_by"]]),
                       can_decide=approval["status"] == "pending" and desk.can(P(approval["permission"])))


@router.post("/{approval_id}/approve")
def approve(desk: Staff, approval_id: UUID, idempotency_key: Text = ""):
    """Approve, and so run the held command once (as the API's approve does)."""
    def run() -> Any:
        return desk.service(Approvals).approve(approval_id, command_key(idempotency_key))

    return desk.act(run, _said, f"/console/approvals/{approval_id}")


@router.post("/{approval_id}/reject")
def reject(desk: Staff, approval_id: UUID, reason: Text = "", idempotency_key: Text = ""):
    def run() -> Any:
        return desk.service(Approvals).reject(approval_id, inputs.reason(reason), command_key(idempotency_key))

    return desk.act(run, _said, f"/console/approvals/{approval_id}")


def _said(approval: Any) -> str:
    if approval.status == "failed" and approval.problem:
        return f"Approved, but the command was refused when it ran: {approval.problem['detail']} ({approval.problem['type']})."
    return {"executed": "Approved: the command has run.", "rejected": "Rejected: the command will never run."}.get(
        approval.status, f"The approval is {approval.status}.")
