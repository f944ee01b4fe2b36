"""Four-eyes approval: the approvals, a rejection's body, and the 202 a held command answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints

from ledger.approval_views import ApprovalView

from .common import Body, Out, derived_from


@derived_from(ApprovalView)
class ApprovalOut(Out):
    """An approval: the held command, who asked, who decided, and what the command answered once it ran."""


class ApprovalListOut(Out):
    items: list[ApprovalOut]
    next_cursor: str | None


class RejectIn(Body):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class PendingOut(Out):
    """A command held for a second staff key's approval: nothing was done yet."""

    approval_id: UUID
    status: str = Field(description="pending, or where the approval stands when the request is repeated")
    kind: str
    expires_at: datetime
    position: int | None = None
