"""`fundcenter deliver --metrics-port`: a standalone deliverer's Prometheus metrics, served by
prometheus_client's own HTTP server in a thread: the attempts this process made, and the backlog
read from the views at each scrape (within the database's timeout; a scrape while the database is
away answers `fundcenter_database_up 0` and leaves the backlog out)."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, start_http_server

from api.bootstrap import System
from api.metrics import DelivererMetrics
from ledger.outages import database_unavailable
from projections.webhook_outbox import backlog

log = logging.getLogger(__name__)


def serve_metrics(system: System, host: str, port: int) -> str:
    """Start serving; `host:port` as listened on (port 0: one the system chose)."""

    def read_backlog() -> tuple[int, dict[str, float]] | None:
        try:
            return system.ledger.head(), backlog(system.views, system.ledger.clock().timestamp())
        except Exception as error:
            if not database_unavailable(error):
                raise
            log.warning("metrics: the database did not answer: %s", error)
            return None

    metrics = DelivererMetrics(read_backlog)
    system.deliverer.on_attempt = metrics.webhook_attempt
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    server, _ = start_http_server(port, addr=host, registry=registry)
    return f"{host}:{server.server_port}"
