"""Handlers: create, disable, delete webhook endpoints and rotate their secrets.

The secret is returned once, by `create_webhook_endpoint` and `rotate_webhook_secret`.
With an idempotency key the endpoint's id comes from it: a retry answers with the
same endpoint and no secret, and never makes a second endpoint.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from ..domain import ids
from ..domain.inputs import TEXT_LENGTH_MAX, check_text
from ..domain.webhooks import WebhookEndpoint, WebhookEndpointNotFound, check_event_types, new_signing_secret
from ..idempotency import run_once
from ..unit_of_work import Attempt, UnitOfWork
from ..webhook_commands import (
    CreateWebhookEndpoint,
    DeleteWebhookEndpoint,
    DisableWebhookEndpoint,
    EnableWebhookEndpoint,
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
    def decide(attempt: Attempt) -> WebhookEndpointView:
        found = uow.fresh(attempt.get(WebhookEndpoint, cmd.endpoint_id, WebhookEndpointNotFound, "webhook endpoint"))
        return WebhookEndpointView.of(found, attempt.commit(found) if found.disable(cmd.by) else None)

    return uow.run(decide)


def enable_webhook_endpoint(uow: UnitOfWork, cmd: EnableWebhookEndpoint) -> WebhookEndpointView:
    def decide(attempt: Attempt) -> WebhookEndpointView:
        found = uow.fresh(attempt.get(WebhookEndpoint, cmd.endpoint_id, WebhookEndpointNotFound, "webhook endpoint"))
        return WebhookEndpointView.of(found, attempt.commit(found) if found.enable(cmd.by) else None)

    return uow.run(decide)


def delete_webhook_endpoint(uow: UnitOfWork, cmd: DeleteWebhookEndpoint) -> WebhookEndpointView:
    def decide(attempt: Attempt) -> WebhookEndpointView:
        found = uow.fresh(attempt.get(WebhookEndpoint, cmd.endpoint_id, WebhookEndpointNotFound, "webhook endpoint"))
        return WebhookEndpointView.of(found, attempt.commit(found) if found.delete(cmd.by) else None)

    return uow.run(decide)


def rotate_webhook_secret(uow: UnitOfWork, cmd: RotateWebhookSecret) -> Made:
    def decide(attempt: Attempt) -> Made:
        found = uow.fresh(attempt.get(WebhookEndpoint, cmd.endpoint_id, WebhookEndpointNotFound, "webhook endpoint"))
        secret = found.rotate_secret(cmd.by)
        return WebhookEndpointView.of(found, attempt.commit(found)), secret

    return uow.run(decide)
