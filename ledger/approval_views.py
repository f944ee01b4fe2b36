"""What the ledger answers about an approval (ledger/domain/approvals.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from .domain.approvals import Approval


@dataclass(frozen=True)
class ApprovalView:
    id: UUID
    kind: str  # what the policy calls the held command: adjustment, write_off, channel_close...
    status: str  # as of the ledger's clock: pending past its time reads expired
    permission: str  # what an approver needs
    command_type: str  # the held command's class: Adjust, SetRoute, GrantRole...
    command: dict[str, Any]  # its fields, idempotency key and actor (`by`) included
    requested_by: str
    requested_by_holder: str
    requested_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_by_holder: str | None
    reason: str | None  # a rejection's
    result: dict[str, Any] | None  # what the command answered, once it ran
    problem: dict[str, Any] | None  # its refusal (problem details), if it was refused
    position: int | None = None

    @classmethod
    def of(cls, approval: Approval, now: datetime, position: int | None = None) -> ApprovalView:
        return cls(approval.id, approval.kind, approval.status_at(now), approval.permission,
                   approval.command["type"].rpartition(":")[2], approval.command["fields"], approval.requested_by,
                   approval.requested_by_holder, approval.created_on, approval.expires_at, approval.decided_by,
                   approval.decided_by_holder, approval.reason, approval.result, approval.problem, position)
