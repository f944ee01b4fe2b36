"""The caller every service of the API serves: its scope (business, idempotency keys) and its
actor; and `acting`, the routes' dependency that makes one."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from fastapi import Depends

from ledger.domain.access import Permission, Principal
from ledger.domain.errors import AccountNotFound

from ..deps import Services, ServicesDep, allowed


class Caller:
    """One API caller: each route makes one call on the service of its concept (a subclass)."""

    def __init__(self, services: Services, who: Principal) -> None:
        self.services, self.ledger, self.views, self.who = services, services.ledger, services.views, who
        self.by = str(who.key_id)  # who made it, on every staff command's events

    def _key(self, key: str) -> str:
        return f"{self.who.idempotency_scope}/{key}"

    def _own(self, account_id: UUID) -> UUID:
        if self.who.business_id is not None and self.ledger.account_business(account_id) != self.who.business_id:
            raise AccountNotFound(f"account {account_id} not found")
        return account_id

    def _known_own(self, account_id: UUID) -> bool:
        """Whether `_own` is known to pass without a read (the cache holds the account, of the caller's
        business): an event loop asks this, and leaves anything else to `_own` in a thread."""
        if self.who.business_id is None:
            return True
        return self.ledger.known_account_business(account_id) == self.who.business_id


C = TypeVar("C", bound=Caller)


def acting(permission: Permission, service: type[C]) -> Any:
    """A route's dependency: the caller, allowed `permission`, as the concept's `service` (made on the
    event loop: it reads nothing)."""

    async def make(services: ServicesDep, who: Principal = allowed(permission)) -> C:  # noqa: B008 - FastAPI's Depends
        return service(services, who)

    return Depends(make)
