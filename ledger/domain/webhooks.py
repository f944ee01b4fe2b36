"""Webhook endpoints: where a business (or the staff) wants to hear of the ledger's events.

An endpoint has a URL, the event types it subscribes to (`*` for all its owner may
see), an owner (a business, or None for a staff endpoint), a signing secret and a
status (`active`, `disabled`, `deleted`). The secret is what signing needs, so it
is kept (in the event, as `signing_secret`); it is shown once, when it is made
(at creation or on rotation), and never returned or logged after.

The URL's form is checked here (no I/O); whether its host resolves to a public
address is checked at the edge (ledger/webhook_urls.py), which may resolve names.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import event

from .aggregate import LedgerAggregate
from .errors import Conflict, NotFound, ValidationError

SECRET_BYTES = 32  # of randomness in a signing secret
URL_LENGTH_MAX = 2000
EVENT_TYPES_MAX = 50  # types one endpoint subscribes to
POSITION_MAX = 2**63 - 1  # a log position is a bigint

BUSINESS_TYPES = (
    "account.opened", "account.status_changed", "transfer.posted", "transfer.reversed",
    "hold.placed", "hold.released", "hold.captured", "recharge.succeeded", "recharge.failed",
    "withdrawal.succeeded", "withdrawal.failed", "withdrawal.returned",
)
STAFF_TYPES = ("reconciliation.closed", "projection.halted")
ALL_TYPES = "*"


class EndpointStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"
    DELETED = "deleted"


class WebhookEndpointNotFound(NotFound):
    pass


class EndpointDeleted(Conflict):
    code = "webhook-endpoint-deleted"


class UrlRefused(ValidationError):
    code = "webhook-url-refused"


def new_signing_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(SECRET_BYTES)


def check_event_types(types: object, business_id: str | None) -> tuple[str, ...]:
    """The subscribed types, checked: a business may subscribe to its own accounts' types;
    a staff endpoint (no business) to those and the staff types."""
    if not isinstance(types, list | tuple) or not types or len(types) > EVENT_TYPES_MAX:
        raise ValidationError(f"events must be a list of 1 to {EVENT_TYPES_MAX} types, or [\"*\"]")
    allowed = BUSINESS_TYPES if business_id is not None else BUSINESS_TYPES + STAFF_TYPES
    unknown = [t for t in types if t != ALL_TYPES and t not in allowed]
    if unknown:
        raise ValidationError(f"unknown or not allowed event types {unknown!r}; allowed: {', '.join(allowed)} or *")
    return tuple(dict.fromkeys(types))


class WebhookEndpoint(LedgerAggregate):
    id: UUID

    if TYPE_CHECKING:  # the event classes @event makes below, declared for mypy (test_domain_events_declared.py compares)
        class Created(LedgerAggregate.Created):
            url: str
            event_types: list[str]
            business_id: str | None
            description: str
            signing_secret: str
            created_by: str

        class Disabled(LedgerAggregate.Event):
            by: str

        class Enabled(LedgerAggregate.Event):
            by: str

        class Deleted(LedgerAggregate.Event):
            by: str

        class SecretRotated(LedgerAggregate.Event):
            signing_secret: str
            by: str

        class ReplayRequested(LedgerAggregate.Event):
            from_position: int
            by: str

    @event("Created")
    def __init__(self, id: UUID, url: str, event_types: list[str], business_id: str | None, description: str,
                 signing_secret: str, created_by: str) -> None:
        self.url = url
        self.event_types = list(event_types)
        self.business_id = business_id
        self.description = description
        self.signing_secret = signing_secret
        self.created_by = created_by
        self.status = EndpointStatus.ACTIVE.value

    def subscribes(self, event_type: str) -> bool:
        return ALL_TYPES in self.event_types or event_type in self.event_types

    def disable(self, by: str) -> bool:
        """Stop delivering (undelivered events are kept, for a replay). False if it was not active."""
        self._check_not_deleted()
        if self.status == EndpointStatus.DISABLED:
            return False
        self._disabled(by)
        return True

    def enable(self, by: str) -> bool:
        """Deliver again (what was queued meanwhile included). False if it was active."""
        self._check_not_deleted()
        if self.status == EndpointStatus.ACTIVE:
            return False
        self._enabled(by)
        return True

    def delete(self, by: str) -> bool:
        if self.status == EndpointStatus.DELETED:
            return False
        self._deleted(by)
        return True

    def rotate_secret(self, by: str) -> str:
        self._check_not_deleted()
        secret = new_signing_secret()
        self._secret_rotated(secret, by)
        return secret

    def request_replay(self, from_position: int, by: str) -> None:
        """Send the endpoint's webhooks from log position `from_position` on again (the outbox does it, in
        log order: the deliveries queued before this event)."""
        self._check_not_deleted()
        if isinstance(from_position, bool) or not isinstance(from_position, int) or not 0 <= from_position <= POSITION_MAX:
            raise ValidationError(f"from must be a log position, 0 to {POSITION_MAX}")
        self._replay_requested(from_position, by)

    def _check_not_deleted(self) -> None:
        if self.status == EndpointStatus.DELETED:
            raise EndpointDeleted(f"webhook endpoint {self.id} is deleted")

    @event("Disabled")
    def _disabled(self, by: str) -> None:
        assert self.status == EndpointStatus.ACTIVE, self.status
        self.status = EndpointStatus.DISABLED.value

    @event("Enabled")
    def _enabled(self, by: str) -> None:
        assert self.status == EndpointStatus.DISABLED, self.status
        self.status = EndpointStatus.ACTIVE.value

    @event("Deleted")
    def _deleted(self, by: str) -> None:
        assert self.status != EndpointStatus.DELETED
        self.status = EndpointStatus.DELETED.value

    @event("ReplayRequested")
    def _replay_requested(self, from_position: int, by: str) -> None:
        assert self.status != EndpointStatus.DELETED

    @event("SecretRotated")
    def _secret_rotated(self, signing_secret: str, by: str) -> None:
        assert self.status != EndpointStatus.DELETED
        self.signing_secret = signing_secret
