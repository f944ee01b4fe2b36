"""The HTTP API, made by a factory: `api.app:create_app`.

Everything the app holds (the ledger, the views' store, the projection runner,
metrics) is built in the lifespan, never at import time. Endpoints are plain
`def`: the ledger is synchronous and FastAPI runs them in its thread pool.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from ledger import FundCenter
from projections import ProjectionRunner, ViewStore

from . import problems
from .deps import Services
from .metrics import Metrics
from .routes import accounts, admin, money, ops, queries
from .settings import Settings


def create_app(database_url: str | None = None, *, settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    if database_url is not None:
        settings = settings.model_copy(update={"database_url": database_url})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ledger = FundCenter(settings.database_url)
        views = ViewStore(ledger.database)
        runner = ProjectionRunner(ledger, views)
        if settings.run_projections:
            runner.start()
        app.state.services = Services(ledger, views, runner, Metrics(), settings)
        try:
            yield
        finally:
            runner.stop()
            views.close()
            ledger.close()

    app = FastAPI(
        title="Fund Center",
        version="1",
        summary="An event-sourced double-entry ledger: accounts, transfers, holds, reports.",
        lifespan=lifespan,
    )
    problems.install(app)

    @app.middleware("http")
    async def measure(request: Request, call_next):  # noqa: ANN001, ANN202
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        services = getattr(request.app.state, "services", None)
        if services is not None:
            services.metrics.observe(request.method, route, response.status_code, time.perf_counter() - started)
        return response

    for module in (accounts, money, queries, admin):
        app.include_router(module.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(ops.router)
    return app
