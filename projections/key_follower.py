"""Following the log for some events only, without the views: what a process that leaves the
projections to another (`serve --no-projections`) needs to keep its API-key cache honest.

A thread reads the log's head, then whether any event of the given classes lies between the
position it had read and that head (one look-up by topic, `select_notifications(topics=...)`),
tells its listener if so, and only then moves its position on. Every position up to a head it
read is committed (saves take the event table's lock, so ids commit in order), so no event of
those classes can turn up later below it. On PostgreSQL the LISTEN that wakes the runner wakes
it (each commit NOTIFYs), else it polls; after a wake-up it lingers a moment, so that a busy log
costs at most 20 reads a second, not one per commit (a read is two look-ups: at one per commit,
under load, they took about 6% of `serve`'s interpreter); a waiter for a position it has not
read yet cuts the lingering short.

It never dies of a failure: a failed read leaves its position where it was, marks it failing
(`following` is false until a read goes through again, which starts from that position), and is
tried again after a back-off. `wait(position)` returns once the listener has heard of every
change up to `position`, or at once while it is not following (whoever trusts it does not then)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from eventsourcing.utils import get_topic

from ledger import FundCenter

from .wakers import waker_for

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.1  # without a wake-up, the log is read this often: bounds the delay when a NOTIFY is missed
LINGER_S = 0.05  # after each read, unless a waiter needs a newer one: at most 20 reads a second
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.1, 2.0  # between attempts while failing: doubling, capped


class EventFollower:
    """Tells `listener(after, upto)` when events of `kinds` were committed in (after, upto]."""

    def __init__(self, ledger: FundCenter, kinds: Iterable[type], listener: Callable[[int, int], None]) -> None:
        self.ledger, self.listener = ledger, listener
        self.topics = [get_topic(kind) for kind in kinds]
        self.error: BaseException | None = None  # the current failure; None while following
        self._position: int | None = None  # every change up to here has been told (None: not read yet)
        self._progress = threading.Condition()
        self._stop = threading.Event()
        self._nudge = threading.Event()  # a waiter needs a read now
        self._thread: threading.Thread | None = None

    @property
    def position(self) -> int | None:
        return self._position

    @property
    def following(self) -> bool:
        """Running, past its first read, and its last read went through."""
        return (self._thread is not None and self._thread.is_alive() and self._position is not None
                and self.error is None)

    def start(self) -> EventFollower:
        self._stop.clear()
        self._thread = threading.Thread(target=self._follow, name="fundcenter-key-follower", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._nudge.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._progress:
            self._progress.notify_all()  # waiters go on: it no longer follows

    def step(self) -> None:
        """One read: the head, then whether a change lies below it; told before the position moves."""
        head = self.ledger.head()
        after = self._position
        if after is not None and head > after and self.ledger.recorder.select_notifications(
                start=after, limit=1, stop=head, topics=self.topics, inclusive_of_start=False):
            self.listener(after, head)
        with self._progress:
            if after is None or head > after:
                self._position = head
            self.error = None
            self._progress.notify_all()

    def wait(self, position: int, timeout: float) -> None:
        """Until every change up to `position` is told, or it is not following (TimeoutError past `timeout`)."""
        deadline = time.monotonic() + timeout
        with self._progress:
            while self.following and (self._position or 0) < position:
                self._nudge.set()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"the API keys are followed up to {self._position}, not yet {position}")
                self._progress.wait(min(remaining, IDLE_WAIT_S))

    def _follow(self) -> None:
        attempts = 0
        with waker_for(self.ledger, self._stop) as wait:
            while not self._stop.is_set():
                try:
                    self.step()
                except Exception as error:
                    attempts += 1
                    with self._progress:
                        first, self.error = self.error is None, error
                        self._progress.notify_all()
                    if first:
                        log.warning("api keys: could not read the log (%s); every request reads its key until it can",
                                    error)
                    self._stop.wait(min(BACKOFF_MIN_S * 2 ** (attempts - 1), BACKOFF_MAX_S))
                    continue
                if attempts:
                    log.warning("api keys: following the log again after %s failed reads", attempts)
                    attempts = 0
                wait(IDLE_WAIT_S)
                self._nudge.wait(LINGER_S)
                self._nudge.clear()
