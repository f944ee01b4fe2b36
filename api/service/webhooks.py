"""Webhooks: a caller's endpoints (a business's own; the admin's are the staff's) and their deliveries.

Another owner's endpoint does not exist for a caller (404). The URL is checked against SSRF
here, at the edge (ledger.webhook_urls), before the ledger records it. The signing secret is
in the answers of create (the first time) and rotate-secret, and in no other.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger.domain.webhooks import EndpointStatus, WebhookEndpointNotFound
from ledger.webhook_urls import check_url
from ledger.webhook_views import WebhookEndpointView
from projections.webhook_outbox import Outbox, list_deliveries, list_endpoints, replayed

from ..models.webhooks import EndpointIn
from .caller import Caller


class Webhooks(Caller):
    """The webhook routes' calls."""

    @property
    def _development(self) -> bool:
        return self.services.settings.environment == "development"

    def create(self, body: EndpointIn, key: str) -> dict[str, Any]:
        url = check_url(body.url, development=self._development)
        view, secret = self.ledger.create_webhook_endpoint(url, body.events, self.who.business_id, body.description,
                                                           created_by=self.by, idempotency_key=self._key(key))
        return {**vars(view), "secret": secret}

    def endpoint(self, endpoint_id: UUID) -> WebhookEndpointView:
        view = self.ledger.get_webhook_endpoint(endpoint_id)
        if view.business_id != self.who.business_id or view.status == EndpointStatus.DELETED:
            raise WebhookEndpointNotFound(f"webhook endpoint {endpoint_id} not found")
        return view

    def endpoints(self, limit: int, cursor: str | None) -> dict[str, Any]:
        self._outbox_caught_up()
        items, following = list_endpoints(self.views, self.who.business_id, limit=limit, cursor=cursor)
        return {"items": items, "next_cursor": following}

    def disable(self, endpoint_id: UUID, key: str) -> WebhookEndpointView:
        return self.ledger.disable_webhook_endpoint(self.endpoint(endpoint_id).id, self.by, self._key(key))

    def enable(self, endpoint_id: UUID, key: str) -> WebhookEndpointView:
        return self.ledger.enable_webhook_endpoint(self.endpoint(endpoint_id).id, self.by, self._key(key))

    def delete(self, endpoint_id: UUID) -> WebhookEndpointView:
        return self.ledger.delete_webhook_endpoint(self.endpoint(endpoint_id).id, by=self.by)

    def rotate_secret(self, endpoint_id: UUID, key: str) -> dict[str, Any]:
        view, secret = self.ledger.rotate_webhook_secret(self.endpoint(endpoint_id).id, self.by, self._key(key))
        return {**vars(view), "secret": secret}

    def replay(self, endpoint_id: UUID, from_position: int, key: str) -> dict[str, Any]:
        """Recorded as the endpoint's event; the outbox, caught up here, has queued them again at its position."""
        view = self.ledger.replay_webhooks(self.endpoint(endpoint_id).id, from_position, self.by, self._key(key))
        assert view.position is not None  # a replay always writes its event
        self._outbox_caught_up()
        return {"replayed": replayed(self.views, view.id, from_position, view.position)}

    def deliveries(self, endpoint_id: UUID, limit: int, cursor: str | None) -> dict[str, Any]:
        found = self.endpoint(endpoint_id)
        self._outbox_caught_up()
        items, following = list_deliveries(self.views, found.id, limit=limit, cursor=cursor)
        return {"items": items, "next_cursor": following}

    def _outbox_caught_up(self) -> None:
        """Read-your-writes: the outbox includes the log as of now (what the deliverer does each round)."""
        Outbox(self.ledger, self.views).catch_up()
