"""What routes depend on: the services, the caller, its permission, its key, its wait."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from ledger import FundCenter
from ledger.channels.service import Payments
from ledger.domain.access import ApiKey, Permission, Principal
from ledger.domain.inputs import CLIENT_KEY_LENGTH_MAX
from projections import ProjectionRunner, ViewStore
from projections.key_follower import EventFollower
from projections.reconciliation import Reconciler

from .metrics import Metrics
from .problems import ApiProblem, forbidden, unauthorized
from .settings import Settings

log = logging.getLogger(__name__)


def _key_changes() -> list[type]:
    """The events that change an existing key (all of ApiKey's but Created): a revocation, a new role..."""
    return [v for v in vars(ApiKey).values()
            if isinstance(v, type) and issubclass(v, ApiKey.Event) and v not in (ApiKey.Event, ApiKey.Created)]


class KeyCache:
    """The principals of API keys recently presented, in memory, following the log.

    A request's key is looked up by the hash of its token; on a miss, the ledger
    authenticates it from the event store (as every request did before) and a valid
    key is remembered. Any change to any key (a revocation, a new role) empties the
    cache: made by this process, as soon as it is committed (the event recorder
    tells the cache of each insert, `ledger/recorders.py`); made by another
    process, as soon as this process's projection runner applies it (it follows
    the one log through LISTEN/NOTIFY), before any `?min_position=` waiter hears of
    it (when another process's runner applied that batch, its key events are looked
    up by topic). A process that does not run the projections (`serve
    --no-projections`) is given a `follower` instead: a thread that follows the
    log's key events alone (`projections/key_follower.py`), and empties the cache
    before such a waiter hears of the position (`Services.wait_for`). While the
    runner (or the follower) is not following the log (stopped, or retrying a
    failed read), the cache is not used: every request reads its key from the event
    store, as it does when the recorder cannot tell of inserts."""

    SIZE_MAX = 10_000  # entries; past it, the cache starts again empty

    def __init__(self, ledger: FundCenter, runner: ProjectionRunner, *, follow_alone: bool = False) -> None:
        """`follow_alone`: this process does not run `runner`; a follower of the key events starts
        with the cache (and stops with `close()`)."""
        self.ledger, self.runner = ledger, runner
        self._principals: dict[bytes, Principal] = {}
        self._lock = threading.Lock()
        self._epoch = 0  # moves on each emptying: a lookup that raced one is not remembered
        self._changes = tuple(_key_changes())
        self._topics = [get_topic(e) for e in self._changes]
        listen = getattr(ledger.recorder, "listen", None)
        self.usable = listen is not None
        self.follower: EventFollower | None = None
        if listen is not None:
            listen(self._inserted)
            if follow_alone:
                self.follower = EventFollower(ledger, self._changes, lambda after, upto: self._forget()).start()
            else:
                runner.watch(self._applied, kinds=self._changes)  # the runner need decode no other event for it

    def known(self, token: str) -> Principal | None:
        """The key's principal if the cache may answer and holds it (reads nothing)."""
        if not self._trusted():
            return None
        return self._principals.get(hashlib.sha256(token.encode()).digest())

    def authenticate(self, token: str) -> Principal | None:
        if not self._trusted():
            return self.ledger.authenticate(token)
        digest = hashlib.sha256(token.encode()).digest()
        found = self._principals.get(digest)
        if found is not None:
            return found
        epoch = self._epoch
        found = self.ledger.authenticate(token)
        if found is not None:
            with self._lock:
                if self._epoch == epoch:
                    if len(self._principals) >= self.SIZE_MAX:
                        self._principals.clear()
                    self._principals[digest] = found
        return found

    def _trusted(self) -> bool:
        if self.follower is not None:
            return self.follower.following
        return self.usable and self.runner.following and self.runner.watching and self.runner.error is None

    def wait(self, position: int, timeout: float) -> None:
        """Until key changes up to `position` are applied here (at once unless a follower applies them)."""
        if self.follower is not None:
            self.follower.wait(position, timeout)

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()

    def _inserted(self, stored_events: Sequence[StoredEvent]) -> None:
        if any(e.topic in self._topics for e in stored_events):
            self._forget()

    def _applied(self, after: int, upto: int, batch: list | None) -> None:
        if batch is not None:
            changed = any(isinstance(event, self._changes) for _, event in batch)
        else:
            try:
                changed = bool(self.ledger.recorder.select_notifications(
                    start=after, limit=1, stop=upto, topics=self._topics, inclusive_of_start=False))
            except Exception as error:  # cannot tell: forget every key
                log.warning("api key cache emptied: could not read the log's key events (%s)", error)
                changed = True
        if changed:
            self._forget()

    def _forget(self) -> None:
        with self._lock:
            self._principals.clear()
            self._epoch += 1


@dataclass
class Services:
    ledger: FundCenter
    views: ViewStore
    runner: ProjectionRunner
    metrics: Metrics
    settings: Settings
    payments: Payments
    reconciler: Reconciler
    keys: KeyCache = field(init=False)  # API keys' principals, in memory, following the log
    endpoints: ThreadPoolExecutor = field(init=False)  # where the money commands' plain case runs (routes/lean.py)

    ENDPOINT_THREADS_MAX = 40  # as many as the thread pool FastAPI runs the other endpoints in

    def __post_init__(self) -> None:
        self.keys = KeyCache(self.ledger, self.runner, follow_alone=not self.settings.run_projections)
        self.endpoints = ThreadPoolExecutor(self.ENDPOINT_THREADS_MAX, thread_name_prefix="fundcenter-endpoint")

    def close(self) -> None:
        self.endpoints.shutdown(wait=True)
        self.keys.close()

    def wait_for(self, position: int | None) -> None:
        """Read-your-writes: block until the views include `position`."""
        if position is None:
            return
        head = self.ledger.head()
        if position > head:
            raise ApiProblem(422, "validation-error", f"min_position {position} is past the end of the log ({head})")
        deadline = time.monotonic() + self.settings.wait_timeout_s
        try:
            self.runner.wait(position, timeout=self.settings.wait_timeout_s)
            self.keys.wait(position, timeout=max(deadline - time.monotonic(), 0.0))  # key changes before the views'
        except TimeoutError:
            raise ApiProblem(
                503, "views-lagging",
                f"the read models have not reached position {position} within {self.settings.wait_timeout_s}s;"
                " retry shortly",
                {"Retry-After": "1"},
            ) from None


# The dependencies that read nothing are `async def`: FastAPI runs a plain `def` dependency in its
# thread pool, a hand-off per dependency per request; these run on the event loop instead.


async def services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(services)]


# The OpenAPI's `bearer` security scheme (Swagger's Authorize button); our own 401 answers, not FastAPI's.
bearer = HTTPBearer(auto_error=False, scheme_name="bearer", description="An API key: `Authorization: Bearer <key>`.")


async def principal(
    services: ServicesDep, request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise unauthorized("send an API key as `Authorization: Bearer <key>`")
    found = services.keys.known(credentials.credentials)  # in memory; a key not there is read in the thread pool
    if found is None:
        found = await run_in_threadpool(services.keys.authenticate, credentials.credentials)
    if found is None:
        raise unauthorized("the API key is unknown, malformed or revoked")
    request.state.key_id = str(found.key_id)  # for the access log
    return found


PrincipalDep = Annotated[Principal, Depends(principal)]


def allowed(permission: Permission):
    async def check(who: PrincipalDep) -> Principal:
        if not who.can(permission):
            raise forbidden(f"the {who.role.value} role may not do this (needs {permission.value})")
        return who

    return Depends(check)


async def idempotency_key(
    _who: PrincipalDep, key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> str:
    """The Idempotency-Key as the client sent it: 1-255 characters, no control characters.

    Asked for after the caller is known (a request without a valid API key is answered 401, not
    told what else it lacks); the routes name it after the caller's permission, so a role that may
    not run the command hears 403 first.

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
