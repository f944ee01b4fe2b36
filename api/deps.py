"""What routes depend on: the services, the caller, its permission, its key, its wait."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from ledger import FundCenter
from ledger.channels.service import Payments
from ledger.domain.access import Permission, Principal
from ledger.domain.inputs import CLIENT_KEY_LENGTH_MAX
from ledger.group_commit import GroupCommitter
from projections import ProjectionRunner, ViewStore
from projections.reconciliation import Reconciler

from .metrics import Metrics
from .problems import ApiProblem, forbidden, unauthorized
from .settings import Settings


@dataclass
class Services:
    ledger: FundCenter
    views: ViewStore
    runner: ProjectionRunner
    metrics: Metrics
    settings: Settings
    payments: Payments
    reconciler: Reconciler
    committer: GroupCommitter | None = None  # concurrent transfers, one transaction per group

    def wait_for(self, position: int | None) -> None:
        """Read-your-writes: block until the views include `position`."""
        if position is None:
            return
        head = self.ledger.head()
        if position > head:
            raise ApiProblem(422, "validation-error", f"min_position {position} is past the end of the log ({head})")
        try:
            self.runner.wait(position, timeout=self.settings.wait_timeout_s)
        except TimeoutError:
            raise ApiProblem(
                503, "views-lagging",
                f"the read models have not reached position {position} within {self.settings.wait_timeout_s}s;"
                " retry shortly",
                {"Retry-After": "1"},
            ) from None


def services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(services)]


def principal(services: ServicesDep, authorization: Annotated[str | None, Header()] = None) -> Principal:
    if not authorization:
        raise unauthorized("send an API key as `Authorization: Bearer <key>`")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("send an API key as `Authorization: Bearer <key>`")
    found = services.ledger.authenticate(token.strip())
    if found is None:
        raise unauthorized("the API key is unknown, malformed or revoked")
    return found


PrincipalDep = Annotated[Principal, Depends(principal)]


def allowed(permission: Permission):
    def check(who: PrincipalDep) -> Principal:
        if not who.can(permission):
            raise forbidden(f"the {who.role.value} role may not do this (needs {permission.value})")
        return who

    return Depends(check)


def idempotency_key(key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> str:
    """The Idempotency-Key as the client sent it: 1-255 characters, no control characters.

    Checked here, once: the ledger sees it with the caller's scope in front, which its
    own, larger limit (ledger.domain.inputs.KEY_LENGTH_MAX) leaves room for."""
    if key is None or not key.strip():
        raise ApiProblem(400, "idempotency-key-required", "commands that change state need an Idempotency-Key header")
    if len(key) > CLIENT_KEY_LENGTH_MAX:
        raise ApiProblem(
            422, "validation-error", f"Idempotency-Key is longer than {CLIENT_KEY_LENGTH_MAX} characters ({len(key)})"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise ApiProblem(422, "validation-error", "Idempotency-Key contains control characters")
    return key


IdempotencyKeyDep = Annotated[str, Depends(idempotency_key)]
POSITION_MAX = 2**63 - 1  # a log position is a bigint
MinPositionQuery = Annotated[
    int | None, Query(ge=0, le=POSITION_MAX, description="Wait until the read models include this log position.")
]
