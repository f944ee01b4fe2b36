"""The projection runner: applies the event log to the views, a batch at a time.

One loop serves both stores (eventsourcing's own runner needs `subscribe()`,
which its SQLite recorder lacks, and spends a transaction on every event). It
pulls up to `batch_size` notifications after the views' tracking position,
applies them to every view and records the new position, all in one
transaction. Unless told a batch size, it takes BATCH_SIZE while near the head and
CATCH_UP_BATCH_SIZE while more than BATCH_SIZE behind (a rebuild, a restart after a while):
each batch folds its changes per row, so fewer, larger batches mean fewer rows written (a
balance updated once per batch, not once per 1,000 events). On PostgreSQL, LISTEN on the channel the recorder NOTIFYs on each
insert wakes it; on SQLite it polls. A view that says which events concern it (`handles`)
is passed over for a batch of none of them, and an event that no view (nor listener) handles
is not decoded at all.

Each view takes a batch in two phases: its changes, collected from the events alone (no I/O),
then its statements, in the batch's transaction. Far behind the head on PostgreSQL, a writer
thread (`_Writer`) writes batch N while this thread reads and collects batch N+1, so the
server's work overlaps the client's Python; batches still commit one at a time, in order, each
with its tracking position.

A runner never dies of a failure. If a batch fails (the database went away, or a
view raised on an event), the batch rolls back, so nothing is skipped or applied
twice; the runner logs the failure once per streak (from memory: the handler does
not touch the database), keeps its state (`state()`: the error, since when, how
many attempts) for /healthz and /metrics, and tries again after a back-off that
doubles from 0.1 s to 5 s. When the cause goes away it resumes by itself. The
LISTEN connection that wakes it reconnects after a drop, and polls meanwhile.

Several processes on one PostgreSQL database (`serve --workers N`, or several `serve`s)
elect one runner with `elect=True`: the one holding a session advisory lock (per database
and application) applies the log; the others follow the views' tracking position (polled)
for `wait`, /healthz and their listeners, and try for the lock twice a second, so when
the leader dies (its connection closes, PostgreSQL releases the lock) another takes over.
Exactly-once never rests on the election: every batch claims the tracking record.

`wait(position)` answers from memory for positions already applied, whatever the
runner's state, and otherwise waits for the runner (TimeoutError if it does not
get there in time).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import Tracking

from ledger import FundCenter, collector
from ledger.outages import database_unavailable

from .api_keys import ApiKeysView
from .approvals import ApprovalsView
from .balances import BalancesView
from .common import Batch, Decoding, texts_shared
from .payments import PaymentsView
from .reconciliations import ReconciliationsView
from .statements import StatementsView
from .store import ViewStore
from .suspense import SuspenseView
from .transactions import TransactionsView
from .wakers import waker_for

log = logging.getLogger(__name__)


def all_views() -> tuple[Any, ...]:
    """A fresh set of the read models, for one store: a view may keep what it learnt of that store
    in memory (accounts' metadata), so no two runners share one. Balances first: the other views
    read account metadata from its table."""
    return (BalancesView(), StatementsView(), TransactionsView(), SuspenseView(), ApiKeysView(), PaymentsView(),
            ReconciliationsView(), ApprovalsView())


BATCH_SIZE = 1000  # events a batch while following the head
CATCH_UP_BATCH_SIZE = 5000  # while further behind than BATCH_SIZE: bounds a catch-up's memory and transaction
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.1, 5.0  # between attempts while failing: doubling, capped
ELECT_EVERY_S = 0.5  # a follower tries for the leader's lock, and a leader checks it still holds it, this often
PACE_S = 0.05  # while following a busy log, the longest pause between two batches when no one waits (`_pace`)
FOLLOW_POLL_S = 0.05  # a follower reads the views' tracking position this often
LEADER_LOCK_CLASS = 0x46430001  # the advisory lock's first key ("FC" 1); the second is hashtext(application)
# While a writer overlaps a catch-up, the process's interpreter is tuned (`_overlapping`):
# - the GIL passes to a thread back from the server within this (Python's default is 5 ms, and the writer
#   comes back from the server a dozen times a batch while the runner's thread collects the next one: at
#   5 ms a return, the writer was the slower of the two);
OVERLAP_SWITCH_INTERVAL_S = 0.0005
# - the cyclic collector's young generation is collected less often (ledger/collector.py): a batch's decoded
#   events and changes, some 100,000 objects alive until it is written, were walked over and over.


class ProjectionRunner:
    def __init__(
        self, ledger: FundCenter, store: ViewStore, *, batch_size: int | None = None, views: Sequence[Any] | None = None,
        elect: bool = False, on_failure: Callable[[int, BaseException, int], None] | None = None,
    ) -> None:
        self.ledger, self.store = ledger, store
        self.on_failure = on_failure  # told (position, error, attempts) of each failed attempt: projections/halts.py
        self.views = all_views() if views is None else views
        self.batch_size = batch_size  # None: BATCH_SIZE near the head, CATCH_UP_BATCH_SIZE further behind
        self.application_name = ledger.name
        self.backoff_min_s, self.backoff_max_s = BACKOFF_MIN_S, BACKOFF_MAX_S
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # What the runner knows without asking the database (guarded by _progress).
        self._progress = threading.Condition()
        self._applied = 0  # the views include the log up to here
        self._waiting = 0  # callers of wait() waiting for a position not yet applied
        # The tracking position as this runner's last batch committed it (or found it, under the record's lock),
        # where the next catch-up starts without reading it; None when unknown (a failed batch, a first one). If
        # another runner moved it since, the next batch's claim finds out, and the catch-up goes on from there.
        self._written: int | None = None
        self._head = 0  # the log's head as last read
        self.error: BaseException | None = None  # the current failure; None while following
        self.failing_since: float | None = None  # time.time() of the streak's first failure
        self.attempts = 0  # failed attempts in the current streak
        self.retries_total = 0  # failed attempts since start
        self.started_at: float | None = None
        self.caught_up_at: float | None = None  # time.time() the runner last reached the head it had read
        self._listeners: list[tuple[Callable[[int, int, Batch | None], None], tuple[type, ...] | None]] = []
        self._decoding = Decoding(self._wants)  # per topic: whether some view or listener handles its events
        self._told: int | None = None  # the listeners know the log up to here
        self._telling = threading.Lock()
        self._recoveries_seen = 0  # the database's recoveries as of the current attempt's start
        # Leader election (PostgreSQL only): the connection holding the advisory lock while this runner leads.
        self.elect = elect and ledger.database.kind == "postgresql"
        self._election: psycopg.Connection | None = None  # the session that holds, or tries for, the lock
        self._leading = False  # this runner's session holds the lock
        self._lock_checked = 0.0  # time.monotonic() the lock was last known held

    @property
    def position(self) -> int:
        """The views' tracking position, read from the database."""
        position = self.store.max_tracking_id(self.application_name) or 0
        self._advance(position)
        return position

    @property
    def applied(self) -> int:
        """The highest position known to be in the views (from memory: never blocks)."""
        return self._applied

    @property
    def following(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def state(self) -> dict[str, Any]:
        """For /healthz and /metrics: the runner as it knows itself, without the database."""
        with self._progress:
            return {
                "running": self.following,
                "position": self._applied,
                "log_head_seen": self._head,
                "failing": self.error is not None,
                "error": None if self.error is None else _describe(self.error),
                "failing_since": self.failing_since,
                "attempts": self.attempts,
                "retries_total": self.retries_total,
                "started_at": self.started_at,
                "caught_up_at": self.caught_up_at,
                "leading": self.leading,
            }

    @property
    def leading(self) -> bool:
        """Whether this runner applies the log itself (always, unless it elects and another process leads)."""
        return self.following and (not self.elect or self._leading)

    def catch_up(self, until: int | None = None, on_batch: Callable[[int, int], None] | None = None) -> int:
        """Apply every event up to `until` (default: the head of the log now); return how many.

        Each page of the log is decoded (only the events some view or listener handles) and
        collected into each view's changes, then written with the tracking position in one
        transaction. On PostgreSQL, while more than a page remains, the writes run in a thread
        of their own (`_Writer`) while the next page is read and collected: the server's work
        on one batch overlaps the client's Python on the next. The views' changes read nothing,
        so collecting a batch never depends on the writes of the one before."""
        position = self._written
        if position is None:  # not known from this runner's own last batch: read it
            position = self.store.max_tracking_id(self.application_name) or 0
        self._tell(self._told if self._told is not None else position, position, None)  # applied by another runner
        self._advance(position)
        head = until if until is not None else self.ledger.head()
        with self._progress:
            self._head = max(self._head, head)
        applied, writer = 0, None
        try:
            while position < head and not self._stop.is_set():
                notifications = self.ledger.recorder.select_notifications(
                    start=position, limit=self._batch_size(head - position), stop=head, inclusive_of_start=False
                )
                if not notifications:
                    break
                batch = self._decoding.decoded(notifications, self.ledger.mapper.to_domain_event)
                work = _Work(position, notifications[-1].id, len(notifications), batch, head)
                work.changes = self._collected(work.batch)
                if writer is None and work.last < head and self.store.kind == "postgresql":
                    writer = _Writer(self._write, on_batch, self._stop)  # more than this page to go: overlap
                if writer is None:
                    ahead = self._write(work, on_batch)
                    if ahead is None:
                        position, applied = work.last, applied + work.count
                    else:
                        position = ahead
                    continue
                writer.submit(work)
                position = work.last
                if writer.done():  # it failed, or another runner got ahead: what it was given since is void
                    finishing, writer = writer, None
                    position, written = finishing.finish()
                    applied += written
        finally:
            if writer is not None:  # what it was given commits (unless stop()), then a failure here is raised
                finishing, writer = writer, None
                position, written = finishing.finish()
                applied += written
        if until is None and position >= head:
            self.caught_up_at = time.time()
        return applied

    def _wants(self, kind: type) -> bool:
        """Whether some view or listener handles events of this class (the others are not decoded)."""
        kinds = {kind}
        return any(_concerns(view, kinds) for view in self.views) or any(
            wanted is None or issubclass(kind, wanted) for _, wanted in self._listeners
        )

    def _collected(self, batch: Batch) -> list[tuple[Any, Any]]:
        """Each concerned view with its changes from the batch (pure Python; a view that is not
        in two phases is applied whole when the batch is written)."""
        kinds = {event.__class__ for _, event in batch}
        with texts_shared():  # each transfer's ids and instant as text, made once for all the views
            return [(view, view.changes(batch) if hasattr(view, "changes") else batch)
                    for view in self.views if _concerns(view, kinds)]

    def _write(self, work: _Work, on_batch: Callable[[int, int], None] | None = None) -> int | None:
        """Write a batch's changes and its tracking position in one transaction, if the views are
        where it starts; then tell the listeners and the waiters. None if written, else the views'
        position (another runner, another `serve` process, got there first)."""
        self._written = None  # unknown until this transaction's outcome is
        with self.store.transaction() as cur:
            claimed = self.store.claim(cur, self.application_name)
            if claimed == work.start:
                for view, changes in work.changes:
                    if hasattr(view, "changes"):
                        view.write(cur, changes)
                    else:
                        view.apply(cur, changes)
                self.store.record_tracking(cur, Tracking(self.application_name, work.last))
        self._written = work.last if claimed == work.start else claimed
        if claimed != work.start:
            self._tell(work.start, claimed, None)
            self._advance(claimed)
            return claimed
        self._tell(work.start, work.last, work.batch)
        self._advance(work.last)
        if on_batch is not None:
            on_batch(work.last, work.head)
        return None

    def _batch_size(self, behind: int) -> int:
        if self.batch_size is not None:
            return self.batch_size
        return CATCH_UP_BATCH_SIZE if behind > BATCH_SIZE else BATCH_SIZE

    def follow(self, idle_wait: float = 0.1, linger: float = 0.02) -> None:
        """Catch up, then keep applying new events until stop() is called.

        After a wake-up it lingers a moment, and after a catch-up short of a batch it paces
        itself (`_pace`), so that a busy log is applied in batches of many commands rather
        than a transaction per command. A failed batch rolls back and is tried again after
        the back-off, until it goes through.
        """
        reachability = self.ledger.database.reachability
        while not self._stop.is_set():
            try:
                self._recoveries_seen = reachability.recoveries  # before this attempt
                if not self._lead():
                    self._follow_leader()
                    continue
                with self._waker() as wait:
                    while not self._stop.is_set() and self._still_leading():
                        self._recoveries_seen = reachability.recoveries  # before this attempt
                        applied = self.catch_up()
                        if self.error is not None:
                            self._recovered()
                        if applied == 0:
                            wait(idle_wait)
                            self._stop.wait(linger)
                        elif applied < (self.batch_size or BATCH_SIZE):  # near the head: more will come
                            self._pace()
            except Exception as error:
                self._resign()
                delay = self._failed(error)
                if self.on_failure is not None:
                    with contextlib.suppress(Exception):  # the runner never dies of what listens to it
                        self.on_failure(self._applied, error, self.attempts)
                self._back_off(delay)
        self._resign()

    def start(self) -> ProjectionRunner:
        """Follow the log in a background thread, through any failure, until stop()."""
        self._stop.clear()
        self.started_at = time.time()
        self._thread = threading.Thread(target=self._follow_in_thread, name="fundcenter-projections", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with self._progress:
            self._progress.notify_all()  # out of `_pace`
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait(self, position: int | None, timeout: float = 5.0) -> None:
        """Block until the views include the log up to `position` (TimeoutError if they don't).

        A position already applied answers at once, even while the runner is failing.
        While this process follows the log, the runner's progress is watched in
        memory; otherwise (`fundcenter project` applies it) the tracking record is polled."""
        if position is None or position <= self._applied:
            return
        if not self.following:
            self.store.wait(self.application_name, position, timeout=timeout)
            self._advance(position)
            return
        deadline = time.monotonic() + timeout
        with self._progress:
            self._waiting += 1
            self._progress.notify_all()  # a pacing runner goes on at once (`_pace`)
            try:
                while self._applied < position:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        why = f"; projections failing: {_describe(self.error)}" if self.error is not None else ""
                        raise TimeoutError(f"the views are at {self._applied}, not yet {position}{why}")
                    self._progress.wait(remaining)
            finally:
                self._waiting -= 1

    def watch(self, listener: Callable[[int, int, Batch | None], None], kinds: tuple[type, ...] | None = None) -> None:
        """Call `listener(after, upto, batch)` once the views include the log's events in
        (after, upto], before any waiter hears of it: `batch` holds them (given `kinds`, the
        events of those classes, and perhaps others: the runner decodes only the events that
        some view or listener handles), or is None when another runner (another process)
        applied them. From the first catch-up on, every stretch of the log is told once, in
        order (`watching` says since when). It runs in the runner's thread (or its writer's),
        so it must be quick, and must not raise."""
        self._listeners.append((listener, kinds))
        self._decoding.forget()

    @property
    def watching(self) -> bool:
        """Whether the listeners are told of every event from here on (after the first catch-up began)."""
        return self._told is not None

    def _tell(self, after: int, upto: int, batch: Batch | None) -> None:
        with self._telling:  # catch_up may run in more than one thread (the reconciler calls it)
            after = max(after, self._told if self._told is not None else after)
            if upto > after:
                for listener, _ in self._listeners:
                    listener(after, upto, batch)
            self._told = max(upto, self._told if self._told is not None else upto)

    def _lead(self) -> bool:
        """Whether this runner should apply the log: it does not elect, or it holds (or now takes) the lock."""
        if not self.elect or self._leading:
            return True
        if self._election is None or self._election.closed:
            # Named, so that pg_stat_activity (joined with pg_locks) tells which process leads.
            self._election = psycopg.connect(**self.ledger.database.connect_kwargs(), autocommit=True,
                                             application_name=f"fundcenter projections leader pid {os.getpid()}")
        try:
            row = self._election.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                                         (LEADER_LOCK_CLASS, self.application_name)).fetchone()
        except BaseException:
            self._resign()
            raise
        if not (row and row[0]):
            return False
        self._leading, self._lock_checked = True, time.monotonic()
        log.info("projections: this process leads (applies the log) from position %s", self._applied)
        return True

    def _still_leading(self) -> bool:
        """Whether the lock is still held (checked every ELECT_EVERY_S): a lost session lost the lock."""
        if not self.elect:
            return True
        if not self._leading or self._election is None:
            return False
        if time.monotonic() - self._lock_checked < ELECT_EVERY_S:
            return True
        try:
            self._election.execute("SELECT 1")
        except psycopg.Error as error:
            log.warning("projections: the leader's lock session dropped (%s); standing for election again", error)
            self._resign()
            return False
        self._lock_checked = time.monotonic()
        return True

    def _resign(self) -> None:
        """Give up the lock, if held, and the session (ending the session releases the lock)."""
        conn, self._election, self._leading = self._election, None, False
        if conn is not None:
            with contextlib.suppress(psycopg.Error):  # it may be closing because it failed
                conn.close()

    def _follow_leader(self) -> None:
        """While another process leads, for ELECT_EVERY_S: follow the views' tracking position it records."""
        until = time.monotonic() + ELECT_EVERY_S
        while not self._stop.is_set() and time.monotonic() < until:
            head = self.ledger.head()
            position = self.store.max_tracking_id(self.application_name) or 0
            with self._progress:
                self._head = max(self._head, head)
            self._tell(self._told if self._told is not None else position, position, None)
            self._advance(position)
            if position >= head:
                self.caught_up_at = time.time()
            if self.error is not None:
                self._recovered()
            self._stop.wait(FOLLOW_POLL_S)

    def _pace(self) -> None:
        """Between two batches while the log is busy: wait up to PACE_S for more of it, unless a
        caller waits for a position the views do not have yet (`wait`), or stop().

        A batch has a fixed cost (its transaction, a statement or COPY per view, the tracking
        record): about 1.2 ms of the process's CPU, so that a batch of 15 events cost 90 us an event
        and one of 1,000, 18 us. Under load the batches were as small as what arrived while the one
        before was written, and the runner took a fifth of `serve`'s interpreter. A reader who asked
        for a position (`?min_position=`) is answered as soon as a batch reaches it."""
        with self._progress:
            if not self._waiting:
                self._progress.wait(PACE_S)

    def _advance(self, position: int) -> None:
        with self._progress:
            if position > self._applied:
                self._applied = position
                self._progress.notify_all()

    def _follow_in_thread(self) -> None:
        self.follow()

    def _failed(self, error: Exception) -> float:
        """Record a failed attempt (memory only: the database may be what failed); the back-off."""
        with self._progress:
            first, previous = self.error is None, self.error
            self.error, self.attempts, self.retries_total = error, self.attempts + 1, self.retries_total + 1
            if first:
                self.failing_since = time.time()
            attempts, position = self.attempts, self._applied
        delay = min(self.backoff_min_s * 2 ** (attempts - 1), self.backoff_max_s)
        if first:
            log.error(
                "projections failing at position %s, retrying (every %.1fs up to %.0fs) until it clears: %s",
                position, self.backoff_min_s, self.backoff_max_s, _describe(error),
                exc_info=None if database_unavailable(error) else error,  # an outage in one line, a bug with its traceback
            )
        elif previous is not None and _describe(error) != _describe(previous):
            log.warning("projections still failing at position %s, now: %s", position, _describe(error))
        else:
            log.debug("projections: attempt %s failed: %s", attempts, _describe(error))
        return delay

    def _back_off(self, delay: float) -> None:
        """Sleep `delay`, or less: until stop(), or until the database comes back (at once if it
        came back while the failed attempt was under way: that attempt may have begun before)."""
        reachability = self.ledger.database.reachability
        seen, deadline = self._recoveries_seen, time.monotonic() + delay
        while not self._stop.is_set() and reachability.recoveries == seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._stop.wait(min(remaining, 0.05))

    def _recovered(self) -> None:
        with self._progress:
            error, since, attempts = self.error, self.failing_since, self.attempts
            self.error, self.failing_since, self.attempts = None, None, 0
        if error is not None:
            log.warning(
                "projections resumed at position %s after %s failed attempts over %.1fs (%s)",
                self._applied, attempts, time.time() - (since or time.time()), _describe(error),
            )

    def _waker(self) -> Any:
        return waker_for(self.ledger, self._stop)


class _Work:
    """A page of the log on its way to the views: (start, last], its decoded events, each
    concerned view's changes (filled in once collected)."""

    __slots__ = ("batch", "changes", "count", "head", "last", "start")

    def __init__(self, start: int, last: int, count: int, batch: Batch, head: int) -> None:
        self.start, self.last, self.count, self.batch, self.head = start, last, count, batch, head
        self.changes: list[tuple[Any, Any]] = []


class _Writer:
    """The thread that writes a catch-up's batches, one transaction each, in the order given,
    while the runner's thread reads and collects the next (at most one waits: `submit` blocks).
    It releases the GIL while it waits on the server. After a failure, once another runner is
    found ahead, or once the runner stops, it writes nothing more; `finish()` says where the
    views are and how many events it applied, and raises its failure."""

    def __init__(self, write: Callable[[_Work, Callable[[int, int], None] | None], int | None],
                 on_batch: Callable[[int, int], None] | None, stop: threading.Event) -> None:
        self._write, self._on_batch, self._stop = write, on_batch, stop
        self._queue: queue.Queue[_Work | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.position: int | None = None  # where the views are, as far as this writer knows
        self.written = 0  # events applied
        self._ahead: int | None = None  # another runner's position, found ahead of a batch
        self._thread = threading.Thread(target=self._run, name="fundcenter-projections-writer", daemon=True)
        _overlapping(True)
        self._thread.start()

    def submit(self, work: _Work) -> None:
        if self.position is None:
            self.position = work.start
        self._queue.put(work)

    def done(self) -> bool:
        """Whether it stopped writing (a failure, or another runner ahead)."""
        return self.error is not None or self._ahead is not None

    def finish(self) -> tuple[int, int]:
        """Wait for what was given to be written (or passed over after a failure); the views'
        position and the events applied. Raises the failure, if any."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
            _overlapping(False)
        if self.error is not None:
            raise self.error
        return self._ahead if self._ahead is not None else self.position or 0, self.written

    def _run(self) -> None:
        while (work := self._queue.get()) is not None:
            if self.done() or self._stop.is_set():
                continue  # void (it assumed the batches before it were written), or the runner stops
            try:
                ahead = self._write(work, self._on_batch)
            except BaseException as error:  # told to the runner's thread by finish()
                self.error = error
                continue
            if ahead is not None:
                self._ahead = ahead
            else:
                self.position, self.written = work.last, self.written + work.count


class _Tuning:
    """The interpreter's switch interval while writers overlap catch-ups (the process's: the first
    writer to start sets it, the last to finish puts back what was there, unless something else
    changed it meanwhile); the collector's thresholds likewise, by ledger/collector.py."""

    lock = threading.Lock()
    writers = 0
    before = 0.0
    during = 0.0


def _overlapping(starting: bool) -> None:
    with _Tuning.lock:
        if starting:
            if _Tuning.writers == 0:
                _Tuning.before = sys.getswitchinterval()
                _Tuning.during = min(OVERLAP_SWITCH_INTERVAL_S, _Tuning.before)
                sys.setswitchinterval(_Tuning.during)
            _Tuning.writers += 1
            collector.enter()
            return
        collector.leave()
        _Tuning.writers -= 1
        if _Tuning.writers == 0 and abs(sys.getswitchinterval() - _Tuning.during) < 1e-9:
            sys.setswitchinterval(_Tuning.before)


def _concerns(view: Any, kinds: set[type]) -> bool:
    """Whether a batch of events of these classes can change the view: a view that says which
    (`handles`, common.py's `Collects`) is passed over for a batch of none of them."""
    handles = getattr(view, "handles", None)
    return handles is None or any(handles(kind) for kind in kinds)


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}"[:500] if text else type(error).__name__
