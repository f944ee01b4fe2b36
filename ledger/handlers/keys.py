"""Handlers: create, revoke and re-role API keys.

The secret is returned once, by `create_api_key`, and never stored: the key's
aggregate keeps its hash. With an idempotency key, the new key's id comes from
it: a retry answers with the same key id and no secret (there is none left to
show), and never makes a second key.
"""

from __future__ import annotations

from uuid import uuid4

from ..commands import CreateApiKey, GrantRole, RevokeApiKey
from ..domain import ids
from ..domain.access import ApiKey, check_role, format_key, hash_secret, new_secret
from ..domain.errors import KeyNotFound
from ..domain.inputs import NAME_LENGTH_MAX, check_code, check_text
from ..idempotency import run_once
from ..unit_of_work import Attempt, UnitOfWork
from ..views import ApiKeyView


def create_api_key(uow: UnitOfWork, cmd: CreateApiKey) -> tuple[ApiKeyView, str | None]:
    """A new key; returns its view and the bearer token, which is shown this once.

    With `idempotency_key`, a repeat returns the first key's view and None for the
    token (only its hash was kept); the same key with other arguments is refused."""
    check_role(cmd.role, cmd.business_id)
    if cmd.business_id is not None:
        check_code(cmd.business_id, "business_id")
    check_text(cmd.name, "name", length_max=NAME_LENGTH_MAX)
    if cmd.holder is not None:
        check_text(cmd.holder, "holder", required=True, length_max=NAME_LENGTH_MAX)
    if cmd.idempotency_key is None:
        secret = new_secret()
        key = ApiKey(id=uuid4(), name=cmd.name, role=cmd.role, business_id=cmd.business_id,
                     secret_hash=hash_secret(secret), created_by=cmd.created_by, holder=cmd.holder)
        return ApiKeyView.of(key, uow.save(key)[-1].notification.id), format_key(key.id, secret)
    key_id = ids.command_id("api-key", cmd.idempotency_key)

    def decide(attempt: Attempt) -> tuple[ApiKeyView, str | None]:
        existing = attempt.find(ApiKey, key_id)
        if existing is not None:  # made by a concurrent twin of this request: its record answers
            return ApiKeyView.of(existing), None
        secret = new_secret()
        key = ApiKey(id=key_id, name=cmd.name, role=cmd.role, business_id=cmd.business_id,
                     secret_hash=hash_secret(secret), created_by=cmd.created_by, holder=cmd.holder)
        return ApiKeyView.of(key, attempt.commit(key)), format_key(key.id, secret)

    return run_once(
        uow, cmd.idempotency_key, "create-api-key",
        ids.fingerprint(role=cmd.role, business_id=cmd.business_id, name=cmd.name, created_by=cmd.created_by,
                        **({} if cmd.holder is None else {"holder": cmd.holder})),
        lambda: uow.run(decide), lambda states: (ApiKeyView.of(*states[0]), None),
        target=lambda a: a.id == key_id, refer=lambda result: [key_id],
    )


def revoke_api_key(uow: UnitOfWork, cmd: RevokeApiKey) -> ApiKeyView:
    def decide(attempt: Attempt) -> ApiKeyView:
        key = uow.fresh(attempt.get(ApiKey, cmd.key_id, KeyNotFound, "api key"))
        if key.revoked:
            return ApiKeyView.of(key)
        key.revoke(cmd.by)
        return ApiKeyView.of(key, attempt.commit(key))

    return uow.run(decide)


def grant_role(uow: UnitOfWork, cmd: GrantRole) -> ApiKeyView:
    def decide(attempt: Attempt) -> ApiKeyView:
        key = uow.fresh(attempt.get(ApiKey, cmd.key_id, KeyNotFound, "api key"))
        key.grant(cmd.role, cmd.business_id, cmd.by)
        return ApiKeyView.of(key, attempt.commit(key))

    if cmd.idempotency_key is None:
        return uow.run(decide)
    return run_once(
        uow, cmd.idempotency_key, "grant-role",
        ids.fingerprint(key_id=cmd.key_id, role=cmd.role, business_id=cmd.business_id, by=cmd.by),
        lambda: uow.run(decide), lambda states: ApiKeyView.of(*states[0]),
        target=lambda a: a.id == cmd.key_id, refer=lambda view: [view.id],
    )
