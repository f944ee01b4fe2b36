"""One writer per process: every command, from every thread, applied one after another.

`FundCenter`'s command methods hand their command to the ledger's `Writer`.
While nothing else is being written, the command runs at once in the caller's
thread (a batch of one needs no hand-off); otherwise it joins a queue, and the
writer's thread takes whatever has gathered (up to `batch_size_max`) and runs it
as a batch (`ledger.batch.Batch`): the commands one after another on the
same in-memory aggregates, then one save, one transaction. Only one thread
writes at a time (`_lock`), so commands of one process never conflict with each
other and a hot account costs nothing more than any other.

Each caller gets the answer of a sequential run:
- a command that fails in a batch (refused, say) is taken out of it: the batch
  starts again without it if it had changed the batch's aggregates, and the
  command runs on its own right after the batch's save, on fresh state, as any
  command does (ledger.unit_of_work), so its answer is that of running after
  the batch;
- a repeat of a command of the same batch is answered from the first, in memory;
- a save that fails on a conflict (another process wrote first, or a command
  repeats one already stored) brings the batch's cached aggregates up to date
  (`UnitOfWork.refresh`) and runs the batch again on fresh state, each command
  first looking for its stored outcome; after BATCH_ATTEMPTS_MAX such tries, each command runs on its own, with the
  unit of work's own retries: across processes, optimistic concurrency stays
  the safety net.

Writers of several processes on one database (`serve --workers N`) take turns
(`turns`, ledger/writer_turns.py): each batch, or command run alone, holds the
database's turn and first applies to the cache what the others wrote, so that
their saves do not conflict.

Commands that are not posting commands (`BATCHED`), and those that carry a
pending idempotency record (ledger.idempotency), run on their own, in their
turn. Each runs in a copy of its caller's context. A caller that must not
block (the API's event loop) hands its command over with `submit` and gets a
Future: the same answer, never run in its own thread. If the writer's thread
dies, the callers waiting on it get the error and the next command starts a
new one; `stop` runs what is queued, then refuses new commands.
"""

from __future__ import annotations

import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from eventsourcing.persistence import IntegrityError

from . import idempotency
from .batch import Batch, Refused, open_batch
from .domain.aggregate import stamped_by
from .domain.errors import LedgerError
from .handlers import accounts, holds, transfers
from .unit_of_work import UnitOfWork
from .writer_turns import WriterTurns

R = TypeVar("R")
C = TypeVar("C")
Handler = Callable[[UnitOfWork, Any], Any]

BATCH_SIZE_MAX = 200  # commands saved together
BATCH_ATTEMPTS_MAX = 3  # saves of one batch that meet a conflict before its commands run on their own
STOP_TIMEOUT_S = 30  # how long `stop` waits for the queue to drain
assert BATCH_SIZE_MAX >= 1 and BATCH_ATTEMPTS_MAX >= 1

# Handlers that run once through the unit of work and answer with a view: these share batches.
BATCHED: frozenset[Handler] = frozenset({
    transfers.transfer, transfers.book_recharge, transfers.adjust, transfers.reverse_transfer,
    holds.place_hold, holds.release_hold, holds.capture_hold, accounts.open_account,
})


class WriterStopped(LedgerError):
    """The ledger is closing: it takes no more commands."""


@dataclass
class WriterStats:
    """Counters a test or a benchmark can read."""

    batches: int = 0  # saves of more than one command
    batched: int = 0  # commands answered from such saves
    alone: int = 0  # commands run on their own by the writer's thread
    direct: int = 0  # commands run at once in their caller's thread
    set_aside: int = 0  # commands taken out of a batch to run on their own after it
    restarts: int = 0  # batches started again without a command that failed after changing them
    conflicts: int = 0  # batch saves that met another writer's
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)


@dataclass(eq=False)
class _Job:
    handler: Handler
    command: Any
    context: contextvars.Context
    future: Future[Any] = field(default_factory=Future)

    @property
    def batched(self) -> bool:
        return self.handler in BATCHED and not idempotency.pending_in(self.context)

    def settle(self, run: Callable[[], Any]) -> None:
        if self.future.done():  # refused in a batch before it read anything
            return
        try:
            result = run()
        except Exception as error:
            self.fail(error)
        else:
            self.future.set_result(result)

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)


_STOP = object()


class Writer:
    def __init__(self, uow: UnitOfWork, batch_size_max: int = BATCH_SIZE_MAX) -> None:
        assert batch_size_max >= 1, batch_size_max
        self.uow, self.batch_size_max = uow, batch_size_max
        self.stats = WriterStats()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()  # held by whoever is writing: the writer's thread or a caller alone
        self._owner: int | None = None  # the thread holding `_lock`
        self._state = threading.Lock()  # guards _thread and _stopped
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._waiting = 0  # commands handed to the writer's thread, not answered yet
        self.turns: WriterTurns | None = None  # several processes' writers taking turns (ledger/writer_turns.py)

    def run(self, handler: Callable[[UnitOfWork, C], R], command: C) -> R:
        """Run `handler(uow, command)` as the process's writer (see the module's docstring)."""
        if self._owner == threading.get_ident():  # a command inside a command: already the writer
            return handler(self.uow, command)
        if self._stopped:
            raise WriterStopped("the ledger is closed")
        if self._queue.empty() and self._lock.acquire(blocking=False):
            try:
                self._owner = threading.get_ident()
                self.stats.direct += 1  # under `_lock`, as every count of the writer's stats is
                with self._turn():
                    return handler(self.uow, command)
            finally:
                self._owner = None
                self._lock.release()
        return self._queued(handler, command).result()

    def submit(self, handler: Callable[[UnitOfWork, C], R], command: C) -> Future[R]:
        """Hand `handler(uow, command)` to the writer's thread and return at once: a Future of what
        `run` would answer (its result, or the error it would raise). For a caller that must not
        block, an event loop: the command never runs in the caller's thread, even when nothing
        else is being written."""
        if self._owner == threading.get_ident():
            raise RuntimeError("a command inside a command runs at once (run), not through the queue")
        return self._queued(handler, command)

    def _queued(self, handler: Handler, command: Any) -> Future[Any]:
        """Queue the command for the writer's thread (started if it is not running), in a copy of
        the caller's context; its Future."""
        job = _Job(handler, command, contextvars.copy_context())
        job.future.set_running_or_notify_cancel()  # never cancelled: once queued, it runs and is answered
        with self._state:
            if self._stopped:
                raise WriterStopped("the ledger is closed")
            self._waiting += 1
            job.future.add_done_callback(self._answered)
            self._queue.put(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._write_forever, name="fundcenter-writer", daemon=True)
                self._thread.start()
        return job.future

    def waiting(self) -> int:
        """How many commands wait for the writer's thread (queued or being run)."""
        return self._waiting

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Write nothing during the block: other threads' commands queue, then run as batches."""
        with self._lock:
            yield

    def _turn(self) -> contextlib.AbstractContextManager[None]:
        """The writer's turn among several processes' writers, if they take turns; else nothing."""
        return contextlib.nullcontext() if self.turns is None else self.turns.taken()

    def _answered(self, _: Future[Any]) -> None:
        with self._state:
            self._waiting -= 1

    def stop(self) -> None:
        """Run what is queued, then take no more commands."""
        with self._state:
            self._stopped = True
            thread = self._thread
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout=STOP_TIMEOUT_S)

    # -- the writer's thread ---------------------------------------------------------------------------

    def _write_forever(self) -> None:
        jobs: list[_Job] = []
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                jobs, stop = [first], False
                with self._lock:
                    while len(jobs) < self.batch_size_max:
                        try:
                            job = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if job is _STOP:
                            stop = True
                            break
                        jobs.append(job)
                    self._owner = threading.get_ident()
                    try:
                        with self._turn():
                            self._run(jobs)
                    except Exception as error:  # a bug of the writer's own, or no turn: no caller waits for ever
                        for job in jobs:
                            job.fail(error)
                    finally:
                        self._owner = None
                jobs = []
                if stop:
                    return
        except BaseException as error:  # the thread ends here; its callers get the error
            self._died(jobs, error)

    def _died(self, jobs: list[_Job], error: BaseException) -> None:
        """The thread is dying: fail what it holds and what is queued; the next command starts a new one."""
        with self._state:
            self._thread = None
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is not _STOP:
                    jobs.append(job)
        failure = error if isinstance(error, Exception) else RuntimeError(f"the ledger's writer stopped: {error!r}")
        for job in jobs:
            job.fail(failure)

    def _run(self, jobs: list[_Job]) -> None:
        """Run the jobs in order: each run of batched jobs as one batch, the others on their own."""
        start = 0
        while start < len(jobs):
            end = start
            while end < len(jobs) and jobs[end].batched:
                end += 1
            if end - start >= 2:
                self._batch(jobs[start:end])
                start = end
            else:
                self._alone(jobs[start])
                start += 1

    def _alone(self, job: _Job) -> None:
        self.stats.add("alone")
        job.settle(lambda: job.context.run(job.handler, self.uow, job.command))

    def _batch(self, jobs: list[_Job]) -> None:
        with stamped_by(self.uow.clock):
            for n in range(BATCH_ATTEMPTS_MAX):
                outcome = self._try_batch(jobs, fresh=n > 0)
                if outcome is None:
                    continue  # a conflict: again, on fresh state
                done, aside = outcome
                self.stats.add("batches")
                self.stats.add("batched", done)
                self.stats.add("set_aside", len(aside))
                for job in aside:
                    self._alone(job)
                return
        for job in jobs:
            self._alone(job)

    def _try_batch(self, jobs: list[_Job], fresh: bool) -> tuple[int, list[_Job]] | None:
        """One try: the jobs' results set and (how many, the jobs set aside), or None on a conflict."""
        aside: set[_Job] = set()
        while True:  # again without a job that failed after changing the batch's aggregates
            with open_batch(self.uow, fresh) as batch:
                results: list[tuple[_Job, Any]] = []
                failed = None
                for job in jobs:
                    if job in aside:
                        continue
                    batch.attempt = None
                    try:
                        results.append((job, job.context.run(job.handler, self.uow, job.command)))
                    except Refused:
                        aside.add(job)
                        failed = job if batch.attempt is not None and batch.touched(batch.attempt) else None
                    except Exception as error:
                        if batch.attempt is None:  # refused before reading anything: the same on its own
                            job.fail(error)
                            continue
                        aside.add(job)
                        failed = job if batch.touched(batch.attempt) else None
                    if failed is not None:
                        break
                if failed is not None:
                    self.stats.add("restarts")
                    continue
                try:
                    positions = batch.save()
                except IntegrityError:
                    self.stats.add("conflicts")
                    self.uow.stats.add("conflicts")
                    self.uow.refresh(batch.owned)
                    return None
                except Exception as error:  # the database: each caller gets the error
                    self.uow.evict(batch.owned)
                    for job, _ in results:
                        job.fail(error)
                    return 0, [job for job in jobs if job in aside]
                for job, result in results:
                    job.future.set_result(batch.resolve(result, positions))
                self.uow.stats.add("commands", len(results))
                return len(results), [job for job in jobs if job in aside]


__all__ = ["BATCHED", "Batch", "Writer", "WriterStopped"]
