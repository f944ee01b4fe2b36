"""The HTTP API, made by a factory: `api.app:create_app`.

Everything the app holds (the ledger, the views' store, the projection runner and the
services, which `api/bootstrap.py` builds; its metrics) is made in the lifespan, never at
import time. Endpoints are plain `def`: the ledger is synchronous and FastAPI runs them
in its thread pool (the money commands' plain case, in the services' own: api/routes/lean.py).
Every request gets a request id, a metric and an access-log line (`api/access_log.py`); the
OpenAPI document and the docs pages are `api/openapi.py`'s. `serve` tunes the garbage collector
after start-up (api/gc_tuning.py) and sends each response in one write (api/http_writes.py); the
money commands' plain case is answered before the routers (api/lean_front.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ledger.channels.gateway import GatewayRegistry
from ledger.domain.aggregate import Clock

from . import access_log, console, gc_tuning, openapi, problems
from .bootstrap import bootstrap
from .deps import Services
from .lean_front import LeanFront
from .metrics import Metrics
from .routes import accounts, admin, approvals, channels, days, lookups, money, ops, queries, reconciliations, webhooks
from .routes import payments as payment_routes
from .routes import verifications as verification_routes
from .service_secrets import load_secrets
from .settings import Settings


def create_app(
    database_url: str | None = None, *, settings: Settings | None = None, gateways: GatewayRegistry | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The app. Channels reach it through `gateways`; by default the built-in
    simulator plays every channel in the catalog. `clock` (default: the system's)
    is the one time of the ledger, the simulated channels and the accounting day.

    The secrets are loaded here, so a production app without them fails to be
    made (MissingSecrets, naming what is missing) rather than failing later."""
    settings = settings or Settings()
    if database_url is not None:
        settings = settings.model_copy(update={"database_url": database_url})
    secrets = load_secrets(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        system = bootstrap(settings, clock=clock, gateways=gateways, secrets=secrets)
        try:
            if gateways is None:  # the simulator plays the catalog's channels: each needs its callback secret
                secrets.require_channels(sorted(system.ledger.catalog().channels))
            if settings.run_projections:
                system.runner.start()
            metrics = Metrics()
            if settings.deliver_webhooks:
                system.deliverer.on_attempt = metrics.webhook_attempt  # delivery metrics
                system.deliverer.start()
            app.state.services = Services(system.ledger, system.views, system.runner, metrics, settings,
                                          system.payments, system.reconciler)
            if settings.tune_gc:
                gc_tuning.settle()
        except BaseException:
            system.close()
            raise
        try:
            yield
        finally:
            app.state.services.close()
            system.close()

    app = FastAPI(
        title="Fund Center",
        version="1",
        summary="An event-sourced double-entry ledger: accounts, transfers, holds, reports.",
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry, off: the service ships no OpenTelemetry SDK (its observability is
        # /metrics and the access log), so it could never be on, but FastAPI asked the global providers
        # whether it was on for every request (reading the environment each time: 15 us a request).
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url=None,  # served by api/openapi.py, with their assets from the app (no CDN)
        redoc_url=None,
    )
    problems.install(app)
    approvals.install(app)
    openapi.install(app)
    access_log.configure()
    app.add_middleware(LeanFront)  # inside the access log: the money commands' plain case, before the routers
    app.add_middleware(access_log.AccessLog)
    for module in (accounts, money, payment_routes, queries, admin, channels, reconciliations, lookups, webhooks,
                   approvals, days):
        app.include_router(module.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(channels.callbacks, responses=problems.PROBLEM_RESPONSES)
    app.include_router(verification_routes.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(ops.router)
    app.include_router(console.router)  # the web back office at /console (api/console/)
    return app
