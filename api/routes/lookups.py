"""Lookups: /v1/transfers/{id} (+ /reverse), /v1/accounts listed, /v1/admin/banks and /v1/admin/routes."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query

from ledger.domain.access import Permission as P
from projections.common import PAGE_SIZE_MAX

from ..deps import IdempotencyKeyDep, MinPositionQuery
from ..models import Code, Ref, TransferOut
from ..models.lookups import AccountsOut, BanksOut, BindingsOut, HoldsFound, PaymentsFound, ReverseIn, RoutesOut, TransfersFound
from ..service import acting
from ..service.lookups import Lookups

router = APIRouter(tags=["lookups"])
Reader = Annotated[Lookups, acting(P.ACCOUNTS_READ, Lookups)]
Operator = Annotated[Lookups, acting(P.CHANNELS_MANAGE, Lookups)]
Limit = Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)]


Reference = Annotated[Ref, Query(description="The business's own reference the command was made with.")]


@router.get("/v1/transfers", response_model=TransfersFound)
def find_transfers(api: Reader, reference: Reference, business_id: Code | None = None,
                   min_position: MinPositionQuery = None):
    """The transfer made with `reference`: a business finds its own; staff those of `business_id`, or of any."""
    return api.transfers(reference, business_id, min_position)


@router.get("/v1/holds", response_model=HoldsFound)
def find_holds(api: Reader, reference: Reference, business_id: Code | None = None, min_position: MinPositionQuery = None):
    """The hold placed with `reference`: a business finds its own; staff those of `business_id`, or of any."""
    return api.holds(reference, business_id, min_position)


@router.get("/v1/recharges", response_model=PaymentsFound, tags=["payments"])
def find_recharges(api: Reader, reference: Reference, business_id: Code | None = None,
                   min_position: MinPositionQuery = None):
    """The recharge made with `reference`, as it is now: a business finds its own; staff those of `business_id`, or of any."""
    return api.payments("recharge", reference, business_id, min_position)


@router.get("/v1/withdrawals", response_model=PaymentsFound, tags=["payments"])
def find_withdrawals(api: Reader, reference: Reference, business_id: Code | None = None,
                     min_position: MinPositionQuery = None):
    """The withdrawal made with `reference`, as it is now: a business finds its own; staff those of `business_id`, or of any."""
    return api.payments("withdrawal", reference, business_id, min_position)


@router.get("/v1/bindings", response_model=BindingsOut, tags=["payments"])
def list_bindings(api: Reader, account: UUID, limit: Limit = 100, cursor: str | None = None,
                  min_position: MinPositionQuery = None):
    """An account's card bindings (verified or refused, bound or unbound), oldest first."""
    return api.bindings(account, limit, cursor, min_position)


@router.get("/v1/transfers/{transfer_id}", response_model=TransferOut)
def get_transfer(transfer_id: UUID, api: Reader):
    """A transfer with its postings; a business sees those that touch its accounts."""
    return api.transfer(transfer_id)


@router.post("/v1/transfers/{transfer_id}/reverse", status_code=201, response_model=TransferOut)
def reverse_transfer(transfer_id: UUID, body: ReverseIn, api: Annotated[Lookups, acting(P.MONEY_MOVE, Lookups)],
                     key: IdempotencyKeyDep):
    """Post the transfer's postings again with the sides swapped, once per transfer (a second is
    `409 already-reversed`). A business reverses transfers between its own accounts."""
    return api.reverse(transfer_id, body.reason, key)


@router.get("/v1/accounts", response_model=AccountsOut)
def list_accounts(
    api: Reader, business_id: Code | None = None,
    kind: Literal["institution", "settlement", "member", "system"] | None = None,
    external_ref: Ref | None = None, status: Literal["active", "frozen", "closed"] | None = None,
    limit: Limit = 100, cursor: str | None = None, min_position: MinPositionQuery = None,
):
    """Accounts in id order, from the views; a business sees its own."""
    return api.accounts(min_position, business_id=business_id, kind=kind, external_ref=external_ref, status=status,
                        limit=limit, cursor=cursor)


@router.get("/v1/admin/banks", response_model=BanksOut, tags=["channels"])
def banks(api: Operator):
    """The banks the catalog knows: code -> name."""
    return api.banks()


@router.get("/v1/admin/routes", response_model=RoutesOut, tags=["channels"])
def routes(api: Operator, business_id: Code | None = None):
    """The routes (`business/method` -> channels with priorities), of one business or all."""
    return api.routes(business_id)
