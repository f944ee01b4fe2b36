"""/healthz and /metrics: for load balancers and Prometheus (no key needed).

Both answer within `healthz_timeout_s` whatever the database does: they are
`async` (no wait for a worker thread behind requests stuck on the database), and
the database is probed in a thread of its own (one probe at a time, shared by
concurrent callers) under that deadline. A probe that does not answer in time
counts as "database unreachable".
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from ledger.outages import database_unavailable
from projections.webhook_outbox import backlog

from ..deps import Services
from ..metrics import CONTENT_TYPE
from ..problems import RETRY_AFTER_S

router = APIRouter(tags=["ops"])
T = TypeVar("T")

HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "Not ready: `reason` is database-unavailable, projections-failing or projections-lagging",
        "content": {"application/json": {"example": {
            "status": "unavailable", "reason": "database-unavailable",
            "detail": "the database did not answer within 1.5s", "log_head": 1234, "projection_position": 1234,
        }}},
    },
}


class _Probe:
    """Ask the database for the log head (and the views' position when no runner here
    follows the log) in a daemon thread; concurrent callers share the probe in flight."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._lock = threading.Lock()
        self._flight: Future[tuple[int, int]] | None = None
        self.head = 0  # as last read
        self.position = 0

    async def run(self, deadline_s: float) -> tuple[bool, str | None]:
        """(answered, why not): waits at most `deadline_s`."""
        with self._lock:
            future = self._flight
            if future is None or future.done():
                future = self._flight = Future()
                threading.Thread(target=self._probe, args=(future, deadline_s), name="fundcenter-healthz",
                                 daemon=True).start()
        try:
            self.head, self.position = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), deadline_s)
        except TimeoutError:
            return False, f"the database did not answer within {deadline_s:g}s"
        except Exception as error:
            return False, f"{type(error).__name__}: {' '.join(str(error).split())}"[:300]
        return True, None

    def _probe(self, future: Future[tuple[int, int]], deadline_s: float) -> None:
        services = self.services
        try:
            services.views.ping(timeout_s=min(1.0, deadline_s))
            head = services.ledger.head()
            position = services.runner.applied if services.runner.following else services.runner.position
        except BaseException as error:
            future.set_exception(error)
        else:
            future.set_result((head, position))


def _probe_of(request: Request) -> tuple[Services, _Probe]:
    services: Services = request.app.state.services
    probe = getattr(request.app.state, "health_probe", None)
    if probe is None or probe.services is not services:
        probe = request.app.state.health_probe = _Probe(services)
    return services, probe


def _when(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()


def _projections(state: dict[str, Any]) -> dict[str, Any]:
    return {
        "running": state["running"], "failing": state["failing"], "error": state["error"],
        "failing_since": _when(state["failing_since"]), "attempts": state["attempts"],
        "retries_total": state["retries_total"], "caught_up_at": _when(state["caught_up_at"]),
    }


@router.get("/healthz", responses=HEALTH_RESPONSES)
async def healthz(request: Request) -> JSONResponse:
    """200 `{"status": "ok", ...}` when the database answers and the projections follow the
    log; else 503 with `status` (`unavailable` or `degraded`), `reason`
    (`database-unavailable`, `projections-failing`, `projections-lagging`) and `detail`.
    Answers within `healthz_timeout_s` (1.5 s) in every state.

    `projections-failing` is a runner failing for a reason of its own (a view raises). A
    runner whose last attempt failed because the database was away, once the database
    answers again, is retrying on its own and is not reported (its `projections` state
    still shows it); if it stays behind, that is `projections-lagging`."""
    services, probe = _probe_of(request)
    settings = services.settings
    answered, why = await probe.run(settings.healthz_timeout_s)
    state = services.runner.state()
    failure = services.runner.error  # a runner that failed only because the database was away is not failing now
    position = state["position"] if state["running"] else probe.position
    body: dict[str, Any] = {
        "status": "ok", "log_head": probe.head, "projection_position": position,
        "projection_lag": max(probe.head - position, 0),
        "database": {"up": answered}, "projections": _projections(state),
    }
    reachability = services.ledger.database.reachability
    if not answered:
        body["database"].update(error=why or reachability.error, down_since=_when(reachability.down_since))
        body.update(status="unavailable", reason="database-unavailable", detail=why)
    elif state["running"] and failure is not None and not database_unavailable(failure):
        body.update(status="degraded", reason="projections-failing",
                    detail=f"the projections fail and retry: {state['error']}")
    elif state["running"] and body["projection_lag"] > 0:
        behind_s = time.time() - (state["caught_up_at"] or state["started_at"] or time.time())
        if behind_s > settings.projection_lag_max_s:
            body.update(status="degraded", reason="projections-lagging",
                        detail=f"the views have not caught up with the log for {behind_s:.0f}s")
    if body["status"] == "ok":
        return JSONResponse(body)
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format (the log head as last read if the database does not answer in time)."""
    services, probe = _probe_of(request)
    live = services.metrics.live()  # first: what it counts is in the database's answers below (Metrics.live)
    answered, _ = await probe.run(services.settings.healthz_timeout_s)
    state = services.runner.state()
    position = state["position"] if state["running"] else probe.position
    overdue = await _overdue(services) if answered else None
    now_s = services.ledger.clock().timestamp()
    webhooks = await _within(services, lambda: backlog(services.views, now_s)) if answered else None
    turns = services.ledger.writer.turns
    text = services.metrics.render(
        services.ledger.stats, probe.head, position, database_up=answered, projections=state,
        reconciliation_overdue=overdue, webhooks=webhooks, writer_turns=None if turns is None else turns.state(),
        live=live,
    )
    return PlainTextResponse(text, media_type=CONTENT_TYPE)


async def _within(services: Services, read: Callable[[], T]) -> T | None:
    """What `read` answers, or None if the views do not answer within the deadline (left out of that scrape)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(read), services.settings.healthz_timeout_s)
    except Exception:
        return None


async def _overdue(services: Services) -> dict[tuple[str, str], int] | None:
    """The overdue reconciliation differences per channel and currency, or None if the views do
    not answer within the deadline (the gauge is left out of that scrape)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(services.reconciler.overdue_counts),
                                      services.settings.healthz_timeout_s)
    except Exception:
        return None
