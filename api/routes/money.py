"""/v1/transfers, /v1/holds and /v1/admin/adjustments: the commands that move money."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request, Response

from ledger import LedgerError
from ledger.domain.access import Permission as P

from ..deps import IdempotencyKeyDep
from ..models import (
    AdjustmentIn,
    BatchIn,
    BatchOut,
    CaptureIn,
    HoldIn,
    HoldOut,
    ReleaseIn,
    TransferIn,
    TransferOut,
)
from ..models.common import Out
from ..problems import problem_body
from ..service import acting
from ..service.money import Money
from .approvals import PENDING
from .lean import LeanRoute, Pending, lean

router = APIRouter(tags=["money"], route_class=LeanRoute)  # the hot commands' plain case: api/routes/lean.py
Mover = Annotated[Money, acting(P.MONEY_MOVE, Money)]


def shown(model: type[Out], value: Any, status_code: int = 200) -> Response:
    """`value` as the route's `response_model` shows it (the same validation and JSON), made in the
    endpoint's thread: FastAPI would validate a plain `def` endpoint's answer in its thread pool, one
    more hand-off per request, and the money routes are the hot ones. `response_model` stays on the
    route for the OpenAPI document."""
    body = model.__pydantic_serializer__.to_json(model.model_validate(value, from_attributes=True), by_alias=True)
    return Response(body, status_code=status_code, media_type="application/json")


def pending(answer: Future[Any] | None, model: type[Out], status_code: int = 200) -> Pending | None:
    """A `soon`'s answer (api/routes/lean.py): the command's Future shown as `shown` shows it, or None."""
    return None if answer is None else Pending(answer, lambda value: shown(model, value, status_code))


def transfer_soon(body: TransferIn, key: str, api: Money) -> Pending | None:
    """`transfer`'s plain case on the event loop, when nothing needs reading first."""
    return pending(api.submit_transfer(body, key), TransferOut, 201)


@router.post("/v1/transfers", status_code=201, response_model=TransferOut)
@lean(TransferIn, P.MONEY_MOVE, Money, soon=transfer_soon)
def transfer(body: TransferIn, api: Mover, key: IdempotencyKeyDep):
    """An internal transfer between two customer accounts of one currency."""
    return shown(TransferOut, api.transfer(body, key), 201)


@router.post("/v1/transfers/batch", status_code=200, response_model=BatchOut)
@lean(BatchIn, P.MONEY_MOVE, Money, wants_request=True)
def transfer_batch(body: BatchIn, api: Mover, key: IdempotencyKeyDep, request: Request):
    """Up to 1000 transfers applied in order, each idempotent (its own key, or the batch key and its index).
    Saved in one transaction when all go through; a refused item refuses only itself."""
    results, position = [], None
    for index, outcome in enumerate(api.batch(body, key)):
        if isinstance(outcome, LedgerError):
            body_ = problem_body(outcome.status, outcome.code, outcome.detail, request)
            results.append({"index": index, "status": outcome.status, "problem": body_})
        else:
            results.append({"index": index, "status": 201, "transfer": outcome})
            position = max(position or 0, outcome.position or 0)
    return shown(BatchOut, {"results": results, "position": position})


def place_hold_soon(body: HoldIn, key: str, api: Money) -> Pending | None:
    return pending(api.submit_place_hold(body, key), HoldOut, 201)


def release_hold_soon(hold_id: UUID, body: ReleaseIn, key: str, api: Money) -> Pending | None:
    return pending(api.submit_release_hold(hold_id, body, key), HoldOut)


def capture_hold_soon(hold_id: UUID, body: CaptureIn, key: str, api: Money) -> Pending | None:
    return pending(api.submit_capture_hold(hold_id, body, key), TransferOut, 201)


@router.post("/v1/holds", status_code=201, response_model=HoldOut)
@lean(HoldIn, P.MONEY_MOVE, Money, soon=place_hold_soon)
def place_hold(body: HoldIn, api: Mover, key: IdempotencyKeyDep):
    """Freeze part of an account's balance, optionally until `expires_at`."""
    return shown(HoldOut, api.place_hold(body, key), 201)


@router.get("/v1/holds/{hold_id}", response_model=HoldOut)
def get_hold(hold_id: UUID, api: Annotated[Money, acting(P.ACCOUNTS_READ, Money)]):
    return api.hold(hold_id)


@router.post("/v1/holds/{hold_id}/release", response_model=HoldOut)
@lean(ReleaseIn, P.MONEY_MOVE, Money, path_uuids=("hold_id",), soon=release_hold_soon)
def release_hold(hold_id: UUID, body: ReleaseIn, api: Mover, key: IdempotencyKeyDep):
    """Unfreeze all that remains (no amount) or part of it."""
    return shown(HoldOut, api.release_hold(hold_id, body, key))


@router.post("/v1/holds/{hold_id}/capture", status_code=201, response_model=TransferOut)
@lean(CaptureIn, P.MONEY_MOVE, Money, path_uuids=("hold_id",), soon=capture_hold_soon)
def capture_hold(hold_id: UUID, body: CaptureIn, api: Mover, key: IdempotencyKeyDep):
    """Post all that remains (no amount) or part of a hold to another account."""
    return shown(TransferOut, api.capture_hold(hold_id, body, key), 201)


@router.post("/v1/admin/adjustments", status_code=201, response_model=TransferOut, tags=["admin"], responses=PENDING)
def adjust(body: AdjustmentIn, api: Annotated[Money, acting(P.ADJUSTMENTS, Money)], key: IdempotencyKeyDep):
    """An operator's manual adjustment against the `difference` system account. Above the approval policy's
    threshold it waits for a second staff key's approval (202)."""
    return api.adjust(body, key)
