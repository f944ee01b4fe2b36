"""Lookups: a reversal's reason; accounts listed from the views; the catalog's banks and routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import StringConstraints

from .channels import BindingOut, PaymentOut
from .common import Body, Out
from .money import HoldOut, TransferOut


class ReverseIn(Body):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class AccountRowOut(Out):
    """An account as the views hold it: its posted balance, without holds (`GET /v1/accounts/{id}` has those)."""

    id: UUID
    kind: str
    business_id: str
    external_ref: str
    currency: str
    name: str
    status: str
    role: str | None
    channel: str | None
    posted: int
    opened_at: datetime
    position: int


class AccountsOut(Out):
    items: list[AccountRowOut]
    next_cursor: str | None


class BanksOut(Out):
    banks: dict[str, str]


class RoutesOut(Out):
    routes: dict[str, list[dict[str, Any]]]


class TransfersFound(Out):
    items: list[TransferOut]


class HoldsFound(Out):
    items: list[HoldOut]


class PaymentsFound(Out):
    items: list[PaymentOut]


class BindingsOut(Out):
    items: list[BindingOut]
    next_cursor: str | None
