"""API keys: the commands that create, revoke and re-role them, and authentication.

Mixed into FundCenter. The secret is returned once, by `create_api_key`, and
never stored: the key's aggregate keeps its hash. With an idempotency key, the
new key's id comes from it: a retry answers with the same key id and no secret
(there is none left to show), and never makes a second key.

KeyCommands also brings `RequestCommands` (ledger.idempotency) into FundCenter,
for every command that records its idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from .domain import ids
from .domain.access import ApiKey, Principal, Role, check_role, format_key, hash_secret, new_secret, parse_key
from .domain.errors import NotFound
from .domain.inputs import check_code, check_text
from .idempotency import RequestCommands

if TYPE_CHECKING:
    from .application import FundCenter


class KeyNotFound(NotFound):
    pass


@dataclass(frozen=True)
class ApiKeyView:
    id: UUID
    name: str
    role: str
    business_id: str | None
    created_by: str
    revoked: bool
    created_at: datetime
    position: int | None = None

    @classmethod
    def of(cls, key: ApiKey, position: int | None = None) -> ApiKeyView:
        return cls(key.id, key.name, key.role, key.business_id, key.created_by, key.revoked, key.created_on, position)


class KeyCommands(RequestCommands):
    def create_api_key(
        self: FundCenter, role: str, business_id: str | None = None, name: str = "", created_by: str = "cli",
        *, idempotency_key: str | None = None,
    ) -> tuple[ApiKeyView, str | None]:
        """A new key; returns its view and the bearer token, which is shown this once.

        With `idempotency_key`, a repeat returns the first key's view and None for the
        token (only its hash was kept); the same key with other arguments is refused."""
        check_role(role, business_id)
        if business_id is not None:
            check_code(business_id, "business_id")
        check_text(name, "name", length_max=200)
        if idempotency_key is None:
            secret = new_secret()
            key = ApiKey(id=uuid4(), name=name, role=role, business_id=business_id,
                         secret_hash=hash_secret(secret), created_by=created_by)
            return ApiKeyView.of(key, self._save(key)), format_key(key.id, secret)
        key_id = ids.command_id("api-key", idempotency_key)

        def attempt() -> tuple[ApiKeyView, str | None]:
            existing = self._find(ApiKey, key_id)
            if existing is not None:  # made by a concurrent twin of this request: its record answers
                return ApiKeyView.of(existing), None
            secret = new_secret()
            key = ApiKey(id=key_id, name=name, role=role, business_id=business_id,
                         secret_hash=hash_secret(secret), created_by=created_by)
            return ApiKeyView.of(key, self._save(key)), format_key(key.id, secret)

        return self.idempotent(
            idempotency_key, "create-api-key",
            ids.fingerprint(role=role, business_id=business_id, name=name, created_by=created_by),
            lambda: self._run(attempt), lambda states: (ApiKeyView.of(*states[0]), None),
            target=lambda a: a.id == key_id, refer=lambda result: [key_id],
        )

    def revoke_api_key(self: FundCenter, key_id: UUID, by: str) -> ApiKeyView:
        def attempt() -> ApiKeyView:
            key = self._fresh(self._get(ApiKey, key_id, KeyNotFound, "api key"))
            if key.revoked:
                return ApiKeyView.of(key)
            key.revoke(by)
            return ApiKeyView.of(key, self._save(key))

        return self._run(attempt)

    def grant_role(
        self: FundCenter, key_id: UUID, role: str, business_id: str | None, by: str, *, idempotency_key: str | None = None
    ) -> ApiKeyView:
        def attempt() -> ApiKeyView:
            key = self._fresh(self._get(ApiKey, key_id, KeyNotFound, "api key"))
            key.grant(role, business_id, by)
            return ApiKeyView.of(key, self._save(key))

        if idempotency_key is None:
            return self._run(attempt)
        return self.idempotent(
            idempotency_key, "grant-role", ids.fingerprint(key_id=key_id, role=role, business_id=business_id, by=by),
            lambda: self._run(attempt), lambda states: ApiKeyView.of(*states[0]),
            target=lambda a: a.id == key_id, refer=lambda view: [view.id],
        )

    def get_api_key(self: FundCenter, key_id: UUID) -> ApiKeyView:
        return ApiKeyView.of(self._fresh(self._get(ApiKey, key_id, KeyNotFound, "api key")))

    def authenticate(self: FundCenter, token: str) -> Principal | None:
        """The principal a bearer token stands for, or None (unknown, malformed, wrong secret, revoked)."""
        parsed = parse_key(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        key: Any = self._find(ApiKey, key_id)
        if key is None or key.revoked:
            return None
        key = self._fresh(key)  # a revocation or a new role made by another process counts at once
        if not key.matches(secret):
            return None
        return Principal(key.id, Role(key.role), key.business_id)
