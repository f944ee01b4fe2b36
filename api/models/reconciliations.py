"""Reconciliation: import or fetch a statement, resolve, close; the lines and the list."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import ConfigDict, Field, StringConstraints

from .common import Body, BoundedDate, Code, Currency, Out
from .money import PostedOut


class ImportIn(Body):
    channel: Code
    date: BoundedDate
    file: Annotated[str, StringConstraints(min_length=1, max_length=64 * 1024 * 1024)] = Field(
        description="The statement CSV: channel_txn_id,reference,kind,amount,fee,status,time")
    currency: Currency = "CNY"


class FetchIn(Body):
    channel: Code
    date: BoundedDate
    currency: Currency = "CNY"


class ResolveIn(Body):
    action: Literal["complete", "reverse", "book_difference", "write_off", "dismiss", "wait"]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class ResolutionOut(Out):
    seq: int
    action: str
    by: str
    reason: str
    transfers: list[PostedOut]
    waited: dict[str, Any] | None = None


class OverdueOut(Out):
    reconciliation_id: UUID
    seq: int
    channel: str
    currency: str
    day: str
    since: str
    age_days: int
    line_class: str = Field(alias="class")
    reference: str | None
    channel_txn_id: str | None
    kind: str | None
    our_amount: int | None
    their_amount: int | None

    model_config = ConfigDict(from_attributes=True, populate_by_name=True, serialize_by_alias=True)


class ReconciliationOut(Out):
    id: UUID
    channel: str
    currency: str
    day: str
    file_hash: str
    lines: int
    ours: int
    carried: int = Field(description="Lines that matched a difference waiting from an earlier day.")
    summary: dict[str, dict[str, int]]
    differences: int
    open_differences: int
    waiting: list[int] = Field(description="Differences resolved with `wait` that are still open (carry-over).")
    resolutions: dict[str, dict[str, Any]]
    closed_by: str | None
    close_transfer_id: UUID | None
    moved: int
    stale: list[int] = Field(description="Carried lines another day had matched first: not moved by this close.")
    position: int | None = None
    resolution: ResolutionOut | None = Field(None, description="On a resolve: the resolution, with its postings.")
    overdue: list[OverdueOut] | None = Field(
        None, description="On a get: this channel's and currency's differences waiting longer than the configured age.")


class ReconciliationListItem(Out):
    id: UUID
    channel: str
    currency: str
    day: str
    status: str
    lines: int
    ours: int
    differences: int
    open_differences: int
    waiting: int
    carried: int
    file_hash: str
    imported_by: str
    imported_at: str
    closed_by: str | None
    closed_at: str | None
    moved: int
    position: int


class ReconciliationListOut(Out):
    items: list[ReconciliationListItem]
    next_cursor: str | None


class ReconciliationLineOut(Out):
    seq: int
    line_class: str = Field(alias="class")
    payment_id: str | None
    reference: str | None
    channel_txn_id: str | None
    kind: str | None
    our_amount: int | None
    our_fee: int | None
    our_status: str | None
    their_amount: int | None
    their_fee: int | None
    their_status: str | None
    their_time: str | None = None
    carried_from: str | None = None
    carried_seq: int | None = None
    carried_day: str | None = None
    note: str | None = None

    model_config = ConfigDict(from_attributes=True, populate_by_name=True, serialize_by_alias=True)


class ReconciliationLinesOut(Out):
    items: list[ReconciliationLineOut]
    next_cursor: str | None
