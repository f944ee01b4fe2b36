"""Handlers: create, disable, enable, delete webhook endpoints, rotate their secrets, ask for a replay.

The secret is returned once, by `create_webhook_endpoint` and `rotate_webhook_secret`.
With an idempotency key the endpoint's id comes from it: a retry answers with the
same endpoint and no secret, and never makes a second endpoint. Disable, enable, rotate and
replay take an optional key too (the API's Idempotency-Key): a retry answers the first outcome
(the endpoint at the version it answered with; a rotation's retry without the secret).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from ..domain import ids
from ..domain.inputs import TEXT_LENGTH_MAX, check_text
from ..domain.projection_halts import ProjectionHalt, halt_id
from ..domain.webhooks import WebhookEndpoint, WebhookEndpointNotFound, check_event_types, new_signing_secret
from ..idempotency import run_once
from ..unit_of_work import Attempt, UnitOfWork
from ..webhook_commands import (
    CreateWebhookEndpoint,
    DeleteWebhookEndpoint,
    DisableWebhookEndpoint,
    EnableWebhookEndpoint,
    RecordProjectionHalt,
    ReplayWebhooks,
    RotateWebhookSecret,
)
from ..webhook_views import WebhookEndpointView

Made = tuple[WebhookEndpointView, str | None]  # the endpoint and its secret (None on a repeat)


def create_webhook_endpoint(uow: UnitOfWork, cmd: CreateWebhookEndpoint) -> Made:
    types = check_event_types(list(cmd.event_types), cmd.business_id)
    check_text(cmd.description, "description", length_max=TEXT_LENGTH_MAX)
    endpoint_id = uuid4() if cmd.idempotency_key is None else ids.command_id("webhook-endpoint", cmd.idempotency_key)

    def decide(attempt: Attempt) -> Made:
        existing = attempt.find(WebhookEndpoint, endpoint_id)
        if existing is not None:  # made by a concurrent twin of this request
            return WebhookEndpointView.of(existing), None
        secret = new_signing_secret()
        endpoint = WebhookEndpoint(id=endpoint_id, url=cmd.url, event_types=list(types), business_id=cmd.business_id,
                                   description=cmd.description, signing_secret=secret, created_by=cmd.created_by)
        return WebhookEndpointView.of(endpoint, attempt.commit(endpoint)), secret

    if cmd.idempotency_key is None:
        return uow.run(decide)
    return run_once(
        uow, cmd.idempotency_key, "create-webhook-endpoint",
        ids.fingerprint(url=cmd.url, events=list(types), business_id=cmd.business_id, description=cmd.description),
        lambda: uow.run(decide), lambda states: (WebhookEndpointView.of(*states[0]), None),
        target=lambda a: a.id == endpoint_id, refer=lambda result: [endpoint_id],
    )


def endpoint(uow: UnitOfWork, endpoint_id: UUID) -> WebhookEndpoint:
    """The endpoint as stored now (a rotation made by another process counts at once)."""
    return uow.fresh(uow.get(WebhookEndpoint, endpoint_id, WebhookEndpointNotFound, "webhook endpoint"))


def disable_webhook_endpoint(uow: UnitOfWork, cmd: DisableWebhookEndpoint) -> WebhookEndpointView:
    return _changed(uow, cmd.endpoint_id, cmd.idempotency_key, "disable-webhook-endpoint", {},
                    lambda found: found.disable(cmd.by))


def enable_webhook_endpoint(uow: UnitOfWork, cmd: EnableWebhookEndpoint) -> WebhookEndpointView:
    return _changed(uow, cmd.endpoint_id, cmd.idempotency_key, "enable-webhook-endpoint", {},
                    lambda found: found.enable(cmd.by))


def delete_webhook_endpoint(uow: UnitOfWork, cmd: DeleteWebhookEndpoint) -> WebhookEndpointView:
    return _changed(uow, cmd.endpoint_id, None, "delete-webhook-endpoint", {}, lambda found: found.delete(cmd.by))


def replay_webhooks(uow: UnitOfWork, cmd: ReplayWebhooks) -> WebhookEndpointView:
    """Record the request; the outbox sends the deliveries queued before it again (its view's `position`)."""
    def request(found: WebhookEndpoint) -> bool:
        found.request_replay(cmd.from_position, cmd.by)
        return True

    return _changed(uow, cmd.endpoint_id, cmd.idempotency_key, "replay-webhooks", {"from": cmd.from_position}, request)


def rotate_webhook_secret(uow: UnitOfWork, cmd: RotateWebhookSecret) -> Made:
    """A new secret; a retry with the same key answers the endpoint with no secret (it was shown once)."""
    def decide(attempt: Attempt) -> Made:
        found = uow.fresh(attempt.get(WebhookEndpoint, cmd.endpoint_id, WebhookEndpointNotFound, "webhook endpoint"))
        secret = found.rotate_secret(cmd.by)
        return WebhookEndpointView.of(found, attempt.commit(found)), secret

    if cmd.idempotency_key is None:
        return uow.run(decide)
    return run_once(
        uow, cmd.idempotency_key, "rotate-webhook-secret", ids.fingerprint(endpoint=str(cmd.endpoint_id)),
        lambda: uow.run(decide), lambda states: (WebhookEndpointView.of(*states[0]), None),
        target=lambda a: a.id == cmd.endpoint_id, refer=lambda made: [made[0].id],
    )


def _changed(uow: UnitOfWork, endpoint_id: UUID, key: str | None, operation: str, arguments: dict[str, Any],
             change: Callable[[WebhookEndpoint], bool]) -> WebhookEndpointView:
    """Change the endpoint as stored now (`change` says whether it wrote); with a key, once per key."""
    def decide(attempt: Attempt) -> WebhookEndpointView:
        found = uow.fresh(attempt.get(WebhookEndpoint, endpoint_id, WebhookEndpointNotFound, "webhook endpoint"))
        return WebhookEndpointView.of(found, attempt.commit(found) if change(found) else None)

    if key is None:
        return uow.run(decide)
    return run_once(
        uow, key, operation, ids.fingerprint(endpoint=str(endpoint_id), **arguments),
        lambda: uow.run(decide), lambda states: WebhookEndpointView.of(*states[0]),
        target=lambda a: a.id == endpoint_id, refer=lambda view: [view.id],
    )


def record_projection_halt(uow: UnitOfWork, cmd: RecordProjectionHalt) -> bool:
    """Record that the projections halted at a position (for `projection.halted`); False if it already was."""
    def decide(attempt: Attempt) -> bool:
        if attempt.find(ProjectionHalt, halt_id(cmd.projection, cmd.position)) is not None:
            return False
        attempt.commit(ProjectionHalt.of(cmd.projection, cmd.position, cmd.error))
        return True

    return uow.run(decide)
