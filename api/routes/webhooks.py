"""/v1/webhook-endpoints: where a business (or, for the admin, the staff) hears of the ledger's events."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from ledger.domain.access import Permission as P
from projections.common import PAGE_SIZE_MAX

from ..deps import POSITION_MAX, IdempotencyKeyDep
from ..models.webhooks import (
    DeliveryListOut,
    EndpointIn,
    EndpointListOut,
    EndpointOut,
    NewSecretOut,
    ReplayOut,
)
from ..service import acting
from ..service.webhooks import Webhooks

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"])
Api = Annotated[Webhooks, acting(P.WEBHOOKS_MANAGE, Webhooks)]
Limit = Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)]


@router.post("", status_code=201, response_model=NewSecretOut)
def create_endpoint(body: EndpointIn, api: Api, key: IdempotencyKeyDep):
    """A new endpoint. The response holds its signing secret, this once (a retry with the same
    Idempotency-Key answers the same endpoint with `"secret": null`)."""
    return api.create(body, key)


@router.get("", response_model=EndpointListOut)
def list_endpoints(api: Api, limit: Limit = 100, cursor: str | None = None):
    return api.endpoints(limit, cursor)


@router.get("/{endpoint_id}", response_model=EndpointOut)
def get_endpoint(endpoint_id: UUID, api: Api):
    return api.endpoint(endpoint_id)


@router.post("/{endpoint_id}/disable", response_model=EndpointOut)
def disable_endpoint(endpoint_id: UUID, api: Api, key: IdempotencyKeyDep):
    """Stop sending; the endpoint's events are still queued, for when it is enabled again or replayed."""
    return api.disable(endpoint_id, key)


@router.post("/{endpoint_id}/enable", response_model=EndpointOut)
def enable_endpoint(endpoint_id: UUID, api: Api, key: IdempotencyKeyDep):
    return api.enable(endpoint_id, key)


@router.delete("/{endpoint_id}", response_model=EndpointOut)
def delete_endpoint(endpoint_id: UUID, api: Api):
    return api.delete(endpoint_id)


@router.post("/{endpoint_id}/rotate-secret", response_model=NewSecretOut)
def rotate_secret(endpoint_id: UUID, api: Api, key: IdempotencyKeyDep):
    """A new signing secret, shown this once; the old one stops signing at once (a retry with the same
    Idempotency-Key answers the endpoint with `"secret": null`: it rotates once)."""
    return api.rotate_secret(endpoint_id, key)


@router.post("/{endpoint_id}/replay", response_model=ReplayOut)
def replay(endpoint_id: UUID, api: Api, key: IdempotencyKeyDep,
           from_position: Annotated[int, Query(alias="from", ge=0, le=POSITION_MAX)] = 0):
    """Send the endpoint's webhooks again from log position `from` on (delivered and failed ones too), those
    queued before the request (recorded as the endpoint's event); `replayed` says how many, the same on a retry."""
    return api.replay(endpoint_id, from_position, key)


@router.get("/{endpoint_id}/deliveries", response_model=DeliveryListOut)
def deliveries(endpoint_id: UUID, api: Api, limit: Limit = 100, cursor: str | None = None):
    """The endpoint's deliveries in log order, each with every attempt: time, status code, latency, error."""
    return api.deliveries(endpoint_id, limit, cursor)
