"""The deliverer: sends the outbox's webhooks, signed, and records every attempt.

Each round (`run_once`) brings the outbox up to the log (projections/webhook_outbox.py),
then takes the deliveries that are due, oldest first, skipping any whose account has
an earlier delivery to the same endpoint still pending: one account's webhooks reach
an endpoint in log order (the next is sent only once the previous is delivered or
failed). Only active endpoints' deliveries are sent. In production each attempt resolves
the endpoint's host once, refuses it if any address is not public, and connects to the
address it checked (ledger/webhook_urls.pin: no DNS rebinding between check and connect).

A delivery is first claimed (its next attempt moved LEASE_S ahead, only if no other
deliverer moved it): a deliverer that dies mid-delivery leaves it to be taken again
when the lease runs out, by itself after a restart or by another process. Delivery is
at least once: the receiver dedupes by `Fundcenter-Event-Id`.

The request: `POST` of the JSON body `{id, type, created_at, data}` with headers
`Fundcenter-Event-Id` (the body's id) and `Fundcenter-Signature: t=<unix seconds>,
v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. A 2xx within TIMEOUT_S is delivered;
anything else is retried after a back-off that starts under FIRST_RETRY_S and doubles
(with jitter: a random 50-100% of it), capped at RETRY_S_MAX, until GIVE_UP_S after the
event was queued, then the delivery is failed. Every attempt is a webhook_attempts row:
its time, status code, latency and error. Times come from the injected clock; jitter
from the injected random generator.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import httpx

from ledger import FundCenter
from ledger.domain.aggregate import Clock
from ledger.domain.errors import LedgerError
from ledger.domain.instants import iso
from ledger.domain.webhooks import EndpointStatus
from ledger.outages import database_unavailable
from ledger.webhook_urls import Resolver, pin, resolve

from .store import ViewStore
from .webhook_outbox import Outbox

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0  # a 2xx within this is delivered
FIRST_RETRY_S = 10.0  # the first retry comes within this
RETRY_S_MAX = 6 * 3600.0  # the longest pause between two attempts
GIVE_UP_S = 3 * 24 * 3600.0  # after this since the event was queued, a delivery is failed
LEASE_S = 60.0  # a claimed delivery is left to its deliverer this long (more than TIMEOUT_S)
BATCH_SIZE = 50  # deliveries per round
ERROR_LENGTH_MAX = 500
IDLE_WAIT_S = 0.5  # between rounds with nothing to send
assert LEASE_S > TIMEOUT_S and FIRST_RETRY_S > 0


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `Fundcenter-Signature` header's value."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def retry_delay_s(failures: int, rng: random.Random) -> float:
    """The pause after the `failures`-th failed attempt: under 10 s first, doubling, with jitter."""
    return min(FIRST_RETRY_S * 2 ** (min(failures, 32) - 1), RETRY_S_MAX) * rng.uniform(0.5, 1.0)


class Deliverer:
    def __init__(
        self, ledger: FundCenter, store: ViewStore, *, clock: Clock | None = None, development: bool = False,
        client: httpx.Client | None = None, rng: random.Random | None = None, resolver: Resolver = resolve,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.ledger, self.store = ledger, store
        self.outbox = Outbox(ledger, store)
        self.clock: Clock = clock or ledger.clock
        self.development, self.resolver, self.batch_size = development, resolver, batch_size
        # No connection is kept between attempts: each is pinned to the address its own resolution checked, and
        # a TLS connection verified for one name is never reused for another name on the same address.
        self.client = client or httpx.Client(timeout=TIMEOUT_S, follow_redirects=False,
                                             limits=httpx.Limits(max_keepalive_connections=0))
        self._own_client = client is None
        self.rng = rng or random.Random()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered_total = self.failed_attempts_total = 0
        # Told of each attempt: its outcome (delivered, retrying, failed) and its HTTP latency (api/metrics.py).
        self.on_attempt: Callable[[str, float], None] | None = None

    # -- one round -----------------------------------------------------------------

    def run_once(self) -> int:
        """Bring the outbox up to the log, then send what is due; return how many attempts were made."""
        self.outbox.catch_up()
        attempts = 0
        for row in self._due(self._now_s()):
            if self._stop.is_set():
                break
            if self._claim(row):
                self._deliver(row)
                attempts += 1
        return attempts

    def _now_s(self) -> float:
        return self.clock().timestamp()

    def _due(self, now_s: float) -> list[dict[str, Any]]:
        return self.store.query(
            "SELECT d.delivery_id, d.endpoint_id, d.event_id, d.body, d.attempts, d.queued_s, d.next_attempt_s, e.url"
            " FROM webhook_deliveries d JOIN webhook_endpoints e ON e.endpoint_id = d.endpoint_id"
            " WHERE d.status = 'pending' AND d.next_attempt_s <= ? AND e.status = ?"
            " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id"
            " AND p.ordering_key = d.ordering_key AND p.status = 'pending' AND p.position < d.position)"
            " ORDER BY d.position, d.delivery_id LIMIT ?",
            (now_s, EndpointStatus.ACTIVE.value, self.batch_size),
        )

    def _claim(self, row: dict[str, Any]) -> bool:
        with self.store.transaction() as cur:
            return bool(cur.execute(
                "UPDATE webhook_deliveries SET next_attempt_s = ? WHERE delivery_id = ? AND status = 'pending'"
                " AND next_attempt_s = ? RETURNING delivery_id",
                (self._now_s() + LEASE_S, row["delivery_id"], row["next_attempt_s"]),
            ))

    def _deliver(self, row: dict[str, Any]) -> None:
        started, status_code, error = self.clock(), None, None
        body = row["body"].encode()
        began = time.perf_counter()
        try:
            target = pin(row["url"], development=self.development, resolver=self.resolver)  # resolved once, checked
            secret = self.ledger.webhook_signing_secret(UUID(row["endpoint_id"]))
            headers = {"Content-Type": "application/json", "Fundcenter-Event-Id": row["event_id"],
                       "Fundcenter-Signature": signature(secret, int(started.timestamp()), body),
                       "User-Agent": "FundCenter-Webhooks/1", **target.headers}
            extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else None
            response = self.client.post(target.url, content=body, headers=headers, timeout=TIMEOUT_S,
                                        extensions=extensions)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"answered {status_code}"
        except (httpx.HTTPError, httpx.InvalidURL, LedgerError, OSError) as failure:
            error = f"{type(failure).__name__}: {failure}"
        latency_s = time.perf_counter() - began
        outcome = self._record(row, started, status_code, round(latency_s * 1000), error)
        if self.on_attempt is not None:
            try:
                self.on_attempt(outcome, latency_s)
            except Exception as failure:  # never worth a delivery
                log.debug("webhook attempt listener failed: %s", failure)

    def _record(self, row: dict[str, Any], started: Any, status_code: int | None, latency_ms: int,
                error: str | None) -> str:
        """Record the attempt and the delivery's new state; the outcome: delivered, retrying or failed."""
        attempt = row["attempts"] + 1
        now_s = self._now_s()
        if error is None:
            status, next_s, delivered_at = "delivered", now_s, iso(self.clock())
            self.delivered_total += 1
        else:
            self.failed_attempts_total += 1
            next_s, delivered_at = now_s + retry_delay_s(attempt, self.rng), None
            status = "failed" if next_s > row["queued_s"] + GIVE_UP_S else "pending"
            error = error[:ERROR_LENGTH_MAX]
        outcome = "retrying" if status == "pending" else status
        with self.store.transaction() as cur:
            cur.execute(
                "INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, latency_ms, error)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (row["delivery_id"], attempt, iso(started), status_code, latency_ms, error),
            )
            cur.execute(
                "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_s = ?, delivered_at = ?,"
                " last_error = ? WHERE delivery_id = ?",
                (status, attempt, next_s, delivered_at, error, row["delivery_id"]),
            )
        return outcome

    # -- in the background (`serve`, `fundcenter deliver`) ---------------------------

    def follow(self, idle_wait_s: float = IDLE_WAIT_S, on_error: Callable[[Exception], None] | None = None) -> None:
        """Deliver until stop(); a failed round (the database went away) is logged and tried again."""
        failing = False
        while not self._stop.is_set():
            try:
                sent = self.run_once()
                if failing:
                    log.warning("webhook delivery resumed")
                failing = False
            except Exception as error:
                if not failing:
                    log.error("webhook delivery failing, retrying: %s", error,
                              exc_info=None if database_unavailable(error) else error)  # an outage in one line
                failing, sent = True, 0
                if on_error is not None:
                    on_error(error)
            if sent == 0:
                self._stop.wait(idle_wait_s)

    def start(self) -> Deliverer:
        self._stop.clear()
        self._thread = threading.Thread(target=self.follow, name="fundcenter-webhooks", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        self.stop()
        if self._own_client:
            self.client.close()
