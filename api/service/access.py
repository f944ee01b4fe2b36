"""Access: API keys (create, revoke, re-role, list) and the roles."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger.commands import GrantRole
from ledger.domain.access import ROLE_PERMISSIONS, Role
from projections.api_keys import list_api_keys

from .. import models
from .approvals import submit
from .caller import Caller

SECRET_SHOWN_ONCE = ("this Idempotency-Key already created this API key: its secret was shown on the first"
                     " response only and cannot be shown again (revoke the key and create another if it was lost)")


class Access(Caller):
    """The API-key routes' calls."""

    def create_key(self, body: models.KeyIn, key: str) -> dict[str, Any]:
        view, token = self.ledger.create_api_key(body.role, body.business_id, body.name, created_by=self.by,
                                                 idempotency_key=self._key(key), holder=body.holder)
        return {**vars(view), "key": token, "note": None if token is not None else SECRET_SHOWN_ONCE,
                "holder": body.holder or str(view.id)}

    def revoke_key(self, key_id: UUID) -> Any:
        return self.ledger.revoke_api_key(key_id, by=self.by)

    def grant(self, key_id: UUID, body: models.GrantIn, key: str) -> Any:
        return submit(self, GrantRole(key_id, body.role, body.business_id, by=self.by, idempotency_key=self._key(key)))

    def keys(self, limit: int, cursor: str | None, min_position: int | None) -> dict[str, Any]:
        self.services.wait_for(min_position)
        items, following = list_api_keys(self.views, limit=limit, cursor=cursor)
        return {"items": [{**i, "id": i["key_id"], "revoked": i["revoked_by"] is not None} for i in items],
                "next_cursor": following}

    @staticmethod
    def roles() -> list[dict[str, Any]]:
        return [{"role": role.value, "permissions": sorted(p.value for p in ROLE_PERMISSIONS[role])} for role in Role]
