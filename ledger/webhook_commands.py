"""The webhook endpoints' commands (handled by ledger/handlers/webhooks.py)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class CreateWebhookEndpoint:
    url: str  # checked (form and, outside development, the addresses it resolves to) by the caller
    event_types: tuple[str, ...]
    business_id: str | None  # None: a staff endpoint
    description: str
    created_by: str
    idempotency_key: str | None = None


@dataclass(frozen=True)
class DisableWebhookEndpoint:
    endpoint_id: UUID
    by: str
    idempotency_key: str | None = None


@dataclass(frozen=True)
class EnableWebhookEndpoint:
    endpoint_id: UUID
    by: str
    idempotency_key: str | None = None


@dataclass(frozen=True)
class DeleteWebhookEndpoint:
    endpoint_id: UUID
    by: str


@dataclass(frozen=True)
class RotateWebhookSecret:
    endpoint_id: UUID
    by: str
    idempotency_key: str | None = None


@dataclass(frozen=True)
class ReplayWebhooks:
    endpoint_id: UUID
    from_position: int
    by: str
    idempotency_key: str | None = None


@dataclass(frozen=True)
class RecordProjectionHalt:
    projection: str  # the runner's name (its tracking name)
    position: int  # the views include the log up to here; what follows fails
    error: str
