"""/console/keys: the admin's API keys: create one (its secret shown once), revoke one, change its role."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import pydantic
from fastapi import Form, Query

from ledger.domain.access import Permission as P
from ledger.domain.access import Role
from ledger.domain.errors import LedgerError
from projections.common import PAGE_SIZE_MAX

from ... import models
from ...deps import POSITION_MAX
from ...problems import ApiProblem
from ...service.access import Access
from .. import inputs
from ..paging import paging
from ..web import Desk, Refused, command_key, needs, page_router, readable, sessions

router = page_router("/console/keys")
Admin = Annotated[Desk, needs(P.KEYS_MANAGE)]
ROLES = [role.value for role in Role]
Text = Annotated[str, Form(max_length=400)]


def _body(model: type[pydantic.BaseModel], **fields: Any) -> Any:
    try:
        return model(**fields)
    except pydantic.ValidationError as error:
        raise Refused(422, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])) from None


def _keys_page(desk: Desk, status: int = 200, min_position: int | None = None, **context: Any):
    """The keys as the views have them, once they include `min_position` (the change just made)."""
    cursor = inputs.blank(desk.request.query_params.get("cursor"))
    keys = desk.service(Access).keys(PAGE_SIZE_MAX, cursor, min_position)
    return desk.render("keys/keys.html", status, keys=keys["items"], roles=ROLES,
                       **paging(desk, {}, cursor, keys["next_cursor"]), **context)


@router.get("")
def keys_page(desk: Admin, min_position: Annotated[int | None, Query(ge=0, le=POSITION_MAX)] = None):
    return _keys_page(desk, min_position=min_position)


@router.post("")
def create_key(desk: Admin, role: Text, name: Text = "", business_id: Text = "", holder: Text = "",
               idempotency_key: Text = ""):
    """The new key's secret is on this response only (no redirect: the secret is never kept to show later).
    Submitting the same form again answers with the same key and no secret."""
    try:
        body = _body(models.KeyIn, role=role, name=" ".join(name.split()), business_id=inputs.blank(business_id),
                     holder=" ".join(holder.split()) or None)
        created = desk.service(Access).create_key(body, command_key(idempotency_key))
    except (Refused, LedgerError, ApiProblem) as error:
        return _keys_page(desk, error.status, error=readable(error))
    return _keys_page(desk, 201, created["position"], created=created)


@router.post("/{key_id}/revoke")
def revoke_key(desk: Admin, key_id: UUID):
    def run() -> Any:
        revoked = desk.service(Access).revoke_key(key_id)
        sessions(desk.request).end_key(key_id)  # its console sessions end at once
        return revoked

    return desk.act(run, lambda key: f"Key {key.name or key.id} is revoked.", "/console/keys", _after)


@router.post("/{key_id}/role")
def change_role(desk: Admin, key_id: UUID, role: Text, business_id: Text = "", idempotency_key: Text = ""):
    def run() -> Any:
        body = _body(models.GrantIn, role=role, business_id=inputs.blank(business_id))
        return desk.service(Access).grant(key_id, body, command_key(idempotency_key))

    return desk.act(run, lambda key: f"Key {key.name or key.id} now has the {key.role} role.", "/console/keys", _after)


def _after(key: Any) -> str:
    """The keys page, once the views show the change."""
    return f"/console/keys?min_position={key.position}" if key.position is not None else "/console/keys"
