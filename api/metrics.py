"""Prometheus metrics, kept and written by `prometheus_client`: requests, latencies, problems,
command outcomes, projection lag and health, webhook deliveries and their backlog.

Each app has its own registry (no process-wide default registry: tests make many apps in one
process). What the requests and this process's webhook deliverer feed (counts, latencies,
problems, delivery attempts) lives in it; what a scrape reads from the ledger, the runner and the
views (command outcomes, log head, projection position and lag, health, overdue reconciliation
items, the webhooks' backlog) is a snapshot collected once per scrape. Counters' `_created`
series are left out: the names and labels are those the service has always written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
WEBHOOK_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # a 2xx within 10 s is delivered
WEBHOOK_OUTCOMES = ("delivered", "retrying", "failed")  # failed: given up after 3 days
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the text format Prometheus scrapes


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("fundcenter_http_requests", "HTTP requests by route and status.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("fundcenter_http_request_duration_seconds", "HTTP request latency.",
                                 ["method", "route"], buckets=BUCKETS_S, registry=self.registry)
        self.problems = Counter("fundcenter_problems", "Error responses by problem type.", ["type"],
                                registry=self.registry)
        self.webhook_attempts = Counter("fundcenter_webhook_attempts", "Webhook delivery attempts by outcome.",
                                        ["outcome"], registry=self.registry)
        self.webhook_latency = Histogram("fundcenter_webhook_attempt_duration_seconds",
                                         "Webhook delivery attempts' latency (request to answer, or to the error).",
                                         buckets=WEBHOOK_BUCKETS_S, registry=self.registry)
        for outcome in WEBHOOK_OUTCOMES:
            self.webhook_attempts.labels(outcome)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}  # observe()'s, per label set

    def webhook_attempt(self, outcome: str, seconds: float) -> None:
        """What the deliverer tells of each attempt (projections/webhook_delivery.py: on_attempt). The
        latency first: a scrape collects the count before it (the registry's order), so a scrape that
        counts an attempt has its latency too."""
        self.webhook_latency.observe(seconds)
        self.webhook_attempts.labels(outcome).inc()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._children.get((method, route, status))
        if children is None:  # each label set's counter and histogram looked up once, then kept
            children = self._children[(method, route, status)] = (
                self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)

    def problem(self, code: str) -> None:
        self.problems.labels(code).inc()

    def render(
        self, stats: Any, head: int, position: int, *, database_up: bool = True, projections: dict[str, Any] | None = None,
        reconciliation_overdue: dict[tuple[str, str], int] | None = None, webhooks: dict[str, float] | None = None,
        writer_turns: dict[str, float] | None = None, live: list[Metric] | None = None,
    ) -> str:
        """The text exposition format: this process's live metrics (`live`, else as they stand now),
        then the scrape's snapshot."""
        snapshot = list(_snapshot(stats, head, position, database_up, projections, reconciliation_overdue))
        if writer_turns is not None:  # None: this process's writer takes no turns
            snapshot += _writer_turns(writer_turns)
        if webhooks is not None:  # None: the views did not answer in time
            snapshot += _webhooks(head, webhooks)
        scrape = CollectorRegistry(auto_describe=False)
        scrape.register(_Collected(self.live() if live is None else live))
        scrape.register(_Collected(snapshot))
        return generate_latest(scrape).decode()

    def live(self) -> list[Metric]:
        """This process's live metrics as they stand now. `/metrics` takes them before it reads the
        database: what they count (a webhook attempt, recorded before it is counted) is then in what
        the scrape reads there (the backlog), as in a standalone deliverer's scrape."""
        return list(_without_created(self.registry.collect()))


class _Collected:
    """A collector of families already made (registered in one scrape's registry only)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def _without_created(families: Iterable[Metric]) -> Iterator[Metric]:
    for family in families:
        family.samples = [s for s in family.samples if not s.name.endswith("_created")]
        yield family


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=value)


def _snapshot(
    stats: Any, head: int, position: int, database_up: bool, projections: dict[str, Any] | None,
    overdue: dict[tuple[str, str], int] | None,
) -> Iterator[Metric]:
    commands = CounterMetricFamily("fundcenter_commands_total", "Ledger command outcomes in this process.",
                                   labels=["outcome"])
    for outcome, value in (("done", stats.commands), ("repeat", stats.repeats), ("conflict_retried", stats.conflicts),
                           ("refusal_rechecked", stats.rechecks)):
        commands.add_metric([outcome], value)
    yield commands
    yield _gauge("fundcenter_log_head", "Position of the newest event in the log.", head)
    yield _gauge("fundcenter_projection_position", "Position the read models have reached.", position)
    yield _gauge("fundcenter_projection_lag_events", "Events written but not yet in the read models.",
                 max(head - position, 0))
    yield _gauge("fundcenter_database_up", "Whether the database answered the last probe (1) or not (0).",
                 int(database_up))
    if projections is not None:
        now = time.time()
        since = projections.get("failing_since")
        yield _gauge("fundcenter_projection_halted",
                     "Whether the projections are failing and retrying (1) or following (0).",
                     int(bool(projections.get("failing"))))
        yield _gauge("fundcenter_projection_failing_seconds", "How long the current failure streak has lasted.",
                     0.0 if since is None else max(now - since, 0.0))
        caught_up = projections.get("caught_up_at") or projections.get("started_at")
        behind_s = 0.0 if head <= position or caught_up is None else max(now - caught_up, 0.0)
        yield _gauge("fundcenter_projection_behind_seconds",
                     "How long the read models have been behind the log (0 when caught up).", behind_s)
        retries = CounterMetricFamily("fundcenter_projection_retries_total",
                                      "Failed projection attempts, retried after a back-off.")
        retries.add_metric([], projections.get("retries_total", 0))
        yield retries
    if overdue is not None:  # None: the database did not answer in time
        items = GaugeMetricFamily(
            "fundcenter_reconciliation_overdue_items",
            "Reconciliation differences waiting for a later day's file longer than"
            " FUNDCENTER_RECONCILIATION_WAIT_MAX_DAYS, by channel and currency.",
            labels=["channel", "currency"])
        for (channel, currency), n in sorted(overdue.items()):
            items.add_metric([channel, currency], n)
        yield items


def _writer_turns(turns: dict[str, float]) -> Iterator[Metric]:
    for name, key, text in (
        ("turns", "turns", "Turns this process's writer took among the processes' writers (ledger/writer_turns.py)."),
        ("turn_wait_seconds", "waited_s", "Time this process's writer waited for its turns."),
        ("turn_events_applied", "applied", "Other writers' events applied to this process's cache at its turns."),
        ("turn_cache_cleared", "cleared", "Turns that cleared this process's cache (the first one, or one far behind)."),
    ):
        family = CounterMetricFamily(f"fundcenter_writer_{name}_total", text)
        family.add_metric([], turns[key])
        yield family


def _webhooks(head: int, backlog: dict[str, float]) -> Iterator[Metric]:
    yield _gauge("fundcenter_webhook_backlog", "Webhook deliveries to active endpoints not yet delivered or failed.",
                 backlog["pending"])
    yield _gauge("fundcenter_webhook_backlog_due", "Of those, the ones due now (the rest wait for a retry's back-off).",
                 backlog["due"])
    yield _gauge("fundcenter_webhook_oldest_pending_seconds", "Age of the oldest of those (0 when there is none).",
                 backlog["oldest_s"])
    yield _gauge("fundcenter_webhook_outbox_lag_events", "Events written but not yet queued as webhooks by the outbox.",
                 max(head - int(backlog["position"]), 0))


class DelivererMetrics:
    """The metrics of a standalone deliverer (`fundcenter deliver --metrics-port`), a prometheus_client
    collector: this process's delivery attempts (fed through `webhook_attempt`, as in `serve`) and, read
    at each scrape by `read_backlog` (the log head and the backlog, or None if the database did not
    answer), the backlog gauges `serve`'s /metrics writes, with `fundcenter_database_up`."""

    def __init__(self, read_backlog: Callable[[], tuple[int, dict[str, float]] | None]) -> None:
        self.attempts = Metrics()
        self.webhook_attempt = self.attempts.webhook_attempt
        self.read_backlog = read_backlog

    def collect(self) -> Iterator[Metric]:
        yield from (f for f in self.attempts.live() if f.name.startswith("fundcenter_webhook"))
        read = self.read_backlog()
        yield _gauge("fundcenter_database_up", "Whether the database answered the last probe (1) or not (0).",
                     int(read is not None))
        if read is not None:
            yield from _webhooks(*read)
