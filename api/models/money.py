"""Money: transfers (one, or a batch), holds, adjustments."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from ledger import HoldView, TransferView
from ledger.handlers.transfers import BATCH_SIZE_MAX

from .common import (
    DATETIME_RULE,
    REFERENCE_RULE,
    Amount,
    Body,
    BoundedDatetime,
    ClientKey,
    Currency,
    Out,
    Ref,
    Text,
    derived_from,
)


class TransferIn(Body):
    from_account: UUID
    to_account: UUID
    amount: Amount
    currency: Currency
    memo: Text = ""
    reference: Ref | None = Field(None, description=REFERENCE_RULE)


class PostingOut(Out):
    account: UUID
    side: str
    amount: int


POSTED_FIELDS = ("id", "kind", "currency", "amount", "postings", "memo")
@derived_from(TransferView, exclude=[name for name in TransferView.__dataclass_fields__ if name not in POSTED_FIELDS],
              shown={"postings": (list[PostingOut], ...)})
class PostedOut(Out):
    """A transfer a resolution (or a close) posted, with its postings."""


@derived_from(TransferView)
class TransferOut(PostedOut):
    pass


class BatchItemIn(TransferIn):
    idempotency_key: ClientKey | None = Field(None, description="Defaults to the batch's Idempotency-Key and the item's index.")


class BatchIn(Body):
    transfers: Annotated[list[BatchItemIn], Field(min_length=1, max_length=BATCH_SIZE_MAX)]


class BatchItemOut(Out):
    index: int
    status: int
    transfer: TransferOut | None = None
    problem: dict[str, Any] | None = None


class BatchOut(Out):
    results: list[BatchItemOut]
    position: int | None


class HoldIn(Body):
    account: UUID
    amount: Amount
    reason: Text = ""
    expires_at: BoundedDatetime | None = Field(None, description=DATETIME_RULE)
    reference: Ref | None = Field(None, description=REFERENCE_RULE)


class ReleaseIn(Body):
    amount: Amount | None = None


class CaptureIn(Body):
    to_account: UUID
    amount: Amount | None = None
    memo: Text = ""


@derived_from(HoldView)
class HoldOut(Out):
    pass


class AdjustmentIn(Body):
    account: UUID
    amount: Amount
    currency: Currency
    direction: Literal["credit", "debit"]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]
