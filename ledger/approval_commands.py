"""Four-eyes approval's commands (handled by ledger/handlers/approvals.py), and the held commands' form.

A command held for approval is one of the frozen command dataclasses (`ledger.commands`,
and `ResolveDifference` here for reconciliation's resolutions, which its service runs),
kept in the Approval's `Requested` event as `{"type": its topic, "fields": its fields as
JSON}`: pydantic writes the fields and reads them back into the same dataclass, so what is
approved is exactly what was asked, idempotency key and actor included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic, resolve_topic
from pydantic import TypeAdapter

from . import commands as c
from .domain.errors import ValidationError


@dataclass(frozen=True)
class ResolveDifference:
    """Resolve a reconciliation difference (run by the reconciliation service, not a ledger handler)."""

    reconciliation_id: UUID
    seq: int
    action: str
    reason: str
    idempotency_key: str  # scoped
    by: str


# The commands an approval may hold.
HELD = (c.Adjust, c.SetChannelStatus, c.SetRoute, c.ConfigureProduct, c.GrantRole, ResolveDifference)


_ADAPTERS: dict[type, TypeAdapter[Any]] = {cls: TypeAdapter(cls) for cls in HELD}  # made once: pydantic builds a schema


def encode_command(command: object) -> dict[str, Any]:
    assert isinstance(command, HELD), f"an approval does not hold {type(command).__name__}"
    return {"type": get_topic(type(command)), "fields": _ADAPTERS[type(command)].dump_python(command, mode="json")}


def decode_command(held: dict[str, Any]) -> Any:
    cls = resolve_topic(held["type"])
    if cls not in HELD:
        raise ValidationError(f"an approval cannot hold {held['type']}")
    return _ADAPTERS[cls].validate_python(held["fields"])


@dataclass(frozen=True)
class RequestApproval:
    idempotency_key: str  # the held command's (scoped): the approval's id comes from it
    kind: str  # what the policy calls it: adjustment, write_off, channel_close...
    permission: str  # what an approver needs
    command: object  # one of HELD
    requested_by: str  # the maker's key id
    requested_by_holder: str
    expires_at: datetime


@dataclass(frozen=True)
class ApproveApproval:
    approval_id: UUID
    by: str
    holder: str


@dataclass(frozen=True)
class RejectApproval:
    approval_id: UUID
    by: str
    holder: str
    reason: str


@dataclass(frozen=True)
class RecordExecution:
    approval_id: UUID
    result: dict[str, Any] | None
    problem: dict[str, Any] | None
    by: str  # the key that ran it
