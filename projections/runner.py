"""The projection runner: applies the event log to the views, a batch at a time.

One loop serves both stores (eventsourcing's own runner needs `subscribe()`,
which its SQLite recorder lacks, and spends a transaction on every event). It
pulls up to `batch_size` notifications after the views' tracking position,
applies them to every view and records the new position, all in one
transaction. On PostgreSQL, LISTEN on the channel the recorder NOTIFYs on each
insert wakes it; on SQLite it polls. A view that fails halts the runner with its
error: the batch rolls back, nothing is skipped, and a restart resumes there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import Tracking

from ledger import FundCenter

from .api_keys import ApiKeysView
from .balances import BalancesView
from .payments import PaymentsView
from .statements import StatementsView
from .store import ViewStore
from .suspense import SuspenseView
from .transactions import TransactionsView

log = logging.getLogger(__name__)

# Balances first: the other views read account metadata from its table.
VIEWS = (BalancesView(), StatementsView(), TransactionsView(), SuspenseView(), ApiKeysView(), PaymentsView())
BATCH_SIZE = 1000


class ProjectionRunner:
    def __init__(
        self, ledger: FundCenter, store: ViewStore, *, batch_size: int = BATCH_SIZE, views: Sequence[Any] = VIEWS
    ) -> None:
        self.ledger, self.store, self.views = ledger, store, views
        self.batch_size = batch_size
        self.application_name = ledger.name
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def position(self) -> int:
        return self.store.max_tracking_id(self.application_name) or 0

    def catch_up(self, until: int | None = None, on_batch: Callable[[int, int], None] | None = None) -> int:
        """Apply every event up to `until` (default: the head of the log now); return how many."""
        position, head = self.position, until if until is not None else self.ledger.head()
        applied = 0
        while position < head and not self._stop.is_set():
            notifications = self.ledger.recorder.select_notifications(
                start=position, limit=self.batch_size, stop=head, inclusive_of_start=False
            )
            if not notifications:
                break
            batch = [(n.id, self.ledger.mapper.to_domain_event(n)) for n in notifications]
            with self.store.transaction() as cur:
                claimed = self.store.claim(cur, self.application_name)
                if claimed == position:
                    for view in self.views:
                        view.apply(cur, batch)
                    self.store.record_tracking(cur, Tracking(self.application_name, batch[-1][0]))
            if claimed != position:  # another runner (another `serve` process) got there first
                position = claimed
                continue
            position, applied = batch[-1][0], applied + len(batch)
            if on_batch is not None:
                on_batch(position, head)
        return applied

    def follow(self, idle_wait: float = 0.1, linger: float = 0.02) -> None:
        """Catch up, then keep applying new events until stop() is called.

        After a wake-up it lingers a moment, so that a busy log is applied in
        batches of many commands rather than a transaction per command.
        """
        with self._waker() as wait:
            while not self._stop.is_set():
                if self.catch_up() == 0:
                    wait(idle_wait)
                    self._stop.wait(linger)

    def start(self) -> ProjectionRunner:
        """Follow the log in a background thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._follow_in_thread, name="fundcenter-projections", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait(self, position: int | None, timeout: float = 5.0) -> None:
        """Block until the views include the log up to `position` (TimeoutError if they don't)."""
        if self.error is not None:
            raise RuntimeError(f"projections halted: {self.error!r}") from self.error
        self.store.wait(self.application_name, position, timeout=timeout)

    def _follow_in_thread(self) -> None:
        try:
            self.follow()
        except BaseException as error:
            self.error = error
            log.exception("projections halted; restart resumes at position %s", self.position)

    def _waker(self) -> Any:
        if self.ledger.database.kind == "postgresql":
            return _PostgresWaker(self.ledger, self._stop)
        return _PollingWaker(self._stop)


class _PollingWaker:
    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def __enter__(self) -> Callable[[float], None]:
        return lambda timeout: self.stop.wait(timeout)

    def __exit__(self, *exc: object) -> None:
        pass


class _PostgresWaker:
    """LISTEN on the channel the event recorder NOTIFYs on every insert."""

    def __init__(self, ledger: FundCenter, stop: threading.Event) -> None:
        self.db, self.channel, self.stop = ledger.database, ledger.recorder.channel_name, stop

    def __enter__(self) -> Callable[[float], None]:
        db = self.db
        self.conn = psycopg.connect(
            host=db.host, port=db.port, user=db.user, password=db.password, dbname=db.dbname, autocommit=True
        )
        self.conn.execute(f'LISTEN "{self.channel}"')

        def wait(timeout: float) -> None:
            for _ in self.conn.notifies(timeout=timeout, stop_after=1):
                pass

        return wait

    def __exit__(self, *exc: object) -> None:
        self.conn.close()
