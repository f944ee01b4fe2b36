"""Who may do what: roles, their permissions, and API keys.

A key's secret is shown once, when it is created; the ledger keeps only its
SHA-256 hash. Creating and revoking keys and granting roles are events, so the
log says who could do what, and when. A `business` key is bound to one
business line (institution) and sees only that business's accounts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import event

from .aggregate import LedgerAggregate
from .errors import Conflict, ValidationError


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    FINANCE = "finance"
    AUDITOR = "auditor"
    BUSINESS = "business"


class Permission(StrEnum):
    ACCOUNTS_READ = "accounts:read"
    ACCOUNTS_OPEN_MEMBER = "accounts:open-member"
    ACCOUNTS_OPEN_ANY = "accounts:open-any"
    ACCOUNTS_STATUS = "accounts:status"
    MONEY_MOVE = "money:move"  # transfers and holds
    ADJUSTMENTS = "adjustments:create"
    TRANSACTIONS_READ = "transactions:read"
    REPORTS_READ = "reports:read"
    EVENTS_READ = "events:read"
    KEYS_MANAGE = "keys:manage"
    CHANNELS_MANAGE = "channels:manage"  # banks, channels, products, routes, settling by query
    RECONCILE = "reconciliation:write"  # import statements, resolve differences, close days
    WEBHOOKS_MANAGE = "webhooks:manage"  # a business: its own endpoints; the admin: the staff's


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset({P.ACCOUNTS_READ, P.ACCOUNTS_OPEN_MEMBER, P.ACCOUNTS_OPEN_ANY, P.ACCOUNTS_STATUS,
                              P.TRANSACTIONS_READ, P.CHANNELS_MANAGE}),
    Role.FINANCE: frozenset({P.ACCOUNTS_READ, P.ADJUSTMENTS, P.TRANSACTIONS_READ, P.REPORTS_READ, P.RECONCILE}),
    Role.AUDITOR: frozenset({P.ACCOUNTS_READ, P.TRANSACTIONS_READ, P.REPORTS_READ, P.EVENTS_READ}),
    Role.BUSINESS: frozenset({P.ACCOUNTS_READ, P.ACCOUNTS_OPEN_MEMBER, P.ACCOUNTS_STATUS, P.MONEY_MOVE,
                              P.TRANSACTIONS_READ, P.WEBHOOKS_MANAGE}),
}

KEY_PREFIX = "fc"


class KeyRevoked(Conflict):
    code = "key-revoked"


def check_role(role: object, business_id: str | None) -> Role:
    if not isinstance(role, str) or role not in Role.__members__.values():
        raise ValidationError(f"role must be one of {', '.join(Role)}; got {role!r}")
    if (role == Role.BUSINESS) != (business_id is not None):
        raise ValidationError("a business key needs a business_id, and only a business key takes one")
    return Role(role)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def format_key(key_id: UUID, secret: str) -> str:
    """What the holder presents as `Authorization: Bearer ...`."""
    return f"{KEY_PREFIX}_{key_id.hex}_{secret}"


def parse_key(token: str) -> tuple[UUID, str] | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    try:
        return UUID(hex=parts[1]), parts[2]
    except ValueError:
        return None


@dataclass(frozen=True)
class Principal:
    """The holder of a valid key, as the API sees it."""

    key_id: UUID
    role: Role
    business_id: str | None

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    @property
    def idempotency_scope(self) -> str:
        """Keys of one business share a scope; staff keys share theirs."""
        return f"business/{self.business_id}" if self.business_id else "staff"


class ApiKey(LedgerAggregate):
    id: UUID

    if TYPE_CHECKING:  # the event classes @event makes below, declared for mypy (test_domain_events_declared.py compares)
        class Created(LedgerAggregate.Created):
            name: str
            role: str
            business_id: str | None
            secret_hash: str
            created_by: str
            holder: str | None

        class Revoked(LedgerAggregate.Event):
            by: str

        class RoleGranted(LedgerAggregate.Event):
            role: str
            business_id: str | None
            by: str

    @event("Created")
    def __init__(self, id: UUID, name: str, role: str, business_id: str | None, secret_hash: str, created_by: str,
                 holder: str | None = None) -> None:
        self.name = name
        # Who holds the key (a person's name, for four-eyes approval); None (and keys made before
        # it was recorded): the key is its own holder, named by its id (`holder_name`).
        self.holder = holder
        self.role = role
        self.business_id = business_id
        self.secret_hash = secret_hash
        self.created_by = created_by
        self.revoked_by: str | None = None

    @property
    def holder_name(self) -> str:
        return self.holder if self.holder is not None else str(self.id)

    @property
    def revoked(self) -> bool:
        return self.revoked_by is not None

    def matches(self, secret: str) -> bool:
        return not self.revoked and hmac.compare_digest(self.secret_hash, hash_secret(secret))

    def revoke(self, by: str) -> None:
        self._revoked(by)

    def grant(self, role: str, business_id: str | None, by: str) -> None:
        if self.revoked:
            raise KeyRevoked(f"api key {self.id} is revoked")
        check_role(role, business_id)
        self._role_granted(role, business_id, by)

    @event("Revoked")
    def _revoked(self, by: str) -> None:
        assert not self.revoked, "a key is revoked once"
        self.revoked_by = by

    @event("RoleGranted")
    def _role_granted(self, role: str, business_id: str | None, by: str) -> None:
        assert not self.revoked, "a revoked key keeps its role"
        self.role = role
        self.business_id = business_id
