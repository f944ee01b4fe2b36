"""/healthz and /metrics: for load balancers and Prometheus (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from ..deps import ServicesDep

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz(services: ServicesDep) -> dict:
    """Alive, with the log head and how far the read models are behind it."""
    head, position = services.ledger.head(), services.runner.position
    status = "degraded" if services.runner.error is not None else "ok"
    return {"status": status, "log_head": head, "projection_position": position, "projection_lag": head - position}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(services: ServicesDep) -> str:
    """Prometheus text format."""
    return services.metrics.render(services.ledger.stats, services.ledger.head(), services.runner.position)
