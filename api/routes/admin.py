"""/v1/admin/api-keys and /v1/admin/roles: who may do what."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from ledger.domain.access import Permission as P
from projections.common import PAGE_SIZE_MAX

from ..deps import IdempotencyKeyDep, MinPositionQuery
from ..models import GrantIn, KeyIn, KeyListOut, KeyOut, NewKeyOut, RoleOut
from ..service import acting
from ..service.access import Access
from .approvals import PENDING

router = APIRouter(prefix="/v1/admin", tags=["admin"])
Admin = Annotated[Access, acting(P.KEYS_MANAGE, Access)]


@router.post("/api-keys", status_code=201, response_model=NewKeyOut)
def create_key(body: KeyIn, api: Admin, key: IdempotencyKeyDep):
    """A new API key. The response holds the key itself, this once; only its hash is kept.
    A retry with the same Idempotency-Key answers with the same key's id and `"key": null`
    (and a note): the secret cannot be shown again. It never makes a second key."""
    return api.create_key(body, key)


@router.get("/api-keys", response_model=KeyListOut)
def list_keys(api: Admin, limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100, cursor: str | None = None,
              min_position: MinPositionQuery = None):
    return api.keys(limit, cursor, min_position)


@router.delete("/api-keys/{key_id}", response_model=KeyOut)
def revoke_key(key_id: UUID, api: Admin):
    """Revoke a key: it stops working at once, in every process."""
    return api.revoke_key(key_id)


@router.post("/api-keys/{key_id}/role", response_model=KeyOut, responses=PENDING)
def grant_role(key_id: UUID, body: GrantIn, api: Admin, key: IdempotencyKeyDep):
    """Give a key another role (and, for a business key, its business)."""
    return api.grant(key_id, body, key)


@router.get("/roles", response_model=list[RoleOut])
def roles(api: Admin):
    """The roles and what each may do."""
    return api.roles()
