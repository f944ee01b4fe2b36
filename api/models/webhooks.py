"""Webhook endpoints and their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints

from ledger.domain.webhooks import EVENT_TYPES_MAX, URL_LENGTH_MAX

from .common import Body, Out, Text

EventType = Annotated[str, StringConstraints(max_length=64)]


class EndpointIn(Body):
    url: Annotated[str, StringConstraints(min_length=1, max_length=URL_LENGTH_MAX)] = Field(
        description="https in production (its host must resolve to public addresses only); http and private"
                    " addresses only in a development run.")
    events: list[EventType] = Field(min_length=1, max_length=EVENT_TYPES_MAX,
                                    description='The types to receive, or ["*"] for all.')
    description: Text = ""


class EndpointOut(Out):
    id: UUID
    url: str
    events: list[str]
    business_id: str | None
    description: str
    status: str
    created_by: str
    created_at: datetime
    position: int | None = None


class NewSecretOut(EndpointOut):
    secret: str | None = Field(description="The signing secret. Shown on this response only; null on a retry of a"
                                           " create with the same Idempotency-Key (rotate it if it was lost).")


class EndpointListOut(Out):
    items: list[EndpointOut]
    next_cursor: str | None


class ReplayOut(Out):
    replayed: int


class AttemptOut(Out):
    attempt: int
    attempted_at: str
    status_code: int | None
    latency_ms: int
    error: str | None


class DeliveryOut(Out):
    event_id: str
    event_type: str
    position: int
    status: str
    attempts: int
    delivered_at: str | None
    last_error: str | None
    attempt_log: list[AttemptOut]


class DeliveryListOut(Out):
    items: list[DeliveryOut]
    next_cursor: str | None
