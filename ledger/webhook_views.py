"""What the ledger answers about a webhook endpoint: never its secret (that is returned on its own,
once, by the commands that make one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from .domain.webhooks import WebhookEndpoint


@dataclass(frozen=True)
class WebhookEndpointView:
    id: UUID
    url: str
    events: list[str]
    business_id: str | None
    description: str
    status: str
    created_by: str
    created_at: datetime
    position: int | None = None  # the log position of the command's write, when it wrote

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, position: int | None = None) -> WebhookEndpointView:
        return cls(endpoint.id, endpoint.url, list(endpoint.event_types), endpoint.business_id, endpoint.description,
                   endpoint.status, endpoint.created_by, endpoint.created_on, position)
