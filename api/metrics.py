"""Prometheus text metrics: requests, latencies, command outcomes, projection lag and health.

Kept by hand (a few counters and one histogram) rather than with a client library.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from typing import Any

BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.latency: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * (len(BUCKETS_S) + 2))
        self.problems: Counter[str] = Counter()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            histogram = self.latency[(method, route)]
            for i, bound in enumerate(BUCKETS_S):
                if seconds <= bound:
                    histogram[i] += 1
            histogram[-2] += seconds  # sum
            histogram[-1] += 1  # count

    def problem(self, code: str) -> None:
        with self._lock:
            self.problems[code] += 1

    def render(
        self, stats: Any, head: int, position: int, *, database_up: bool = True, projections: dict[str, Any] | None = None,
        reconciliation_overdue: dict[tuple[str, str], int] | None = None,
    ) -> str:
        lines = [
            "# HELP fundcenter_http_requests_total HTTP requests by route and status.",
            "# TYPE fundcenter_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self.requests.items()):
                lines.append(f'fundcenter_http_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}')
            lines += [
                "# HELP fundcenter_http_request_duration_seconds HTTP request latency.",
                "# TYPE fundcenter_http_request_duration_seconds histogram",
            ]
            for (method, route), h in sorted(self.latency.items()):
                labels = f'method="{method}",route="{route}"'
                for bound, in_bucket in zip(BUCKETS_S, h, strict=False):
                    lines.append(f'fundcenter_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {int(in_bucket)}')
                lines.append(f'fundcenter_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {int(h[-1])}')
                lines.append(f"fundcenter_http_request_duration_seconds_sum{{{labels}}} {h[-2]:.6f}")
                lines.append(f"fundcenter_http_request_duration_seconds_count{{{labels}}} {int(h[-1])}")
            lines += ["# HELP fundcenter_problems_total Error responses by problem type.",
                      "# TYPE fundcenter_problems_total counter"]
            lines += [f'fundcenter_problems_total{{type="{code}"}} {n}' for code, n in sorted(self.problems.items())]
        lines += [
            "# HELP fundcenter_commands_total Ledger command outcomes in this process.",
            "# TYPE fundcenter_commands_total counter",
            f'fundcenter_commands_total{{outcome="done"}} {stats.commands}',
            f'fundcenter_commands_total{{outcome="repeat"}} {stats.repeats}',
            f'fundcenter_commands_total{{outcome="conflict_retried"}} {stats.conflicts}',
            f'fundcenter_commands_total{{outcome="refusal_rechecked"}} {stats.rechecks}',
            "# HELP fundcenter_log_head Position of the newest event in the log.",
            "# TYPE fundcenter_log_head gauge",
            f"fundcenter_log_head {head}",
            "# HELP fundcenter_projection_position Position the read models have reached.",
            "# TYPE fundcenter_projection_position gauge",
            f"fundcenter_projection_position {position}",
            "# HELP fundcenter_projection_lag_events Events written but not yet in the read models.",
            "# TYPE fundcenter_projection_lag_events gauge",
            f"fundcenter_projection_lag_events {max(head - position, 0)}",
            "# HELP fundcenter_database_up Whether the database answered the last probe (1) or not (0).",
            "# TYPE fundcenter_database_up gauge",
            f"fundcenter_database_up {int(database_up)}",
        ]
        if projections is not None:
            since = projections.get("failing_since")
            lines += [
                "# HELP fundcenter_projection_halted Whether the projections are failing and retrying (1) or following (0).",
                "# TYPE fundcenter_projection_halted gauge",
                f"fundcenter_projection_halted {int(bool(projections.get('failing')))}",
                "# HELP fundcenter_projection_failing_seconds How long the current failure streak has lasted.",
                "# TYPE fundcenter_projection_failing_seconds gauge",
                f"fundcenter_projection_failing_seconds {0.0 if since is None else max(time.time() - since, 0.0):.3f}",
                "# HELP fundcenter_projection_retries_total Failed projection attempts, retried after a back-off.",
                "# TYPE fundcenter_projection_retries_total counter",
                f"fundcenter_projection_retries_total {projections.get('retries_total', 0)}",
            ]
        if reconciliation_overdue is not None:  # None: the database did not answer in time
            lines += [
                "# HELP fundcenter_reconciliation_overdue_items Reconciliation differences waiting for a later day's"
                " file longer than FUNDCENTER_RECONCILIATION_WAIT_MAX_DAYS, by channel and currency.",
                "# TYPE fundcenter_reconciliation_overdue_items gauge",
            ]
            lines += [f'fundcenter_reconciliation_overdue_items{{channel="{channel}",currency="{currency}"}} {n}'
                      for (channel, currency), n in sorted(reconciliation_overdue.items())]
        return "\n".join(lines) + "\n"
