"""A batch: commands of several callers run one after another on shared in-memory aggregates,
then saved in one transaction. The writer (ledger/writer.py) opens one per round of queued
commands; each command still runs through the unit of work's `Attempt`, which stages its
aggregates here instead of saving them."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from . import idempotency
from .unit_of_work import Attempt, Once, UnitOfWork

R = TypeVar("R")
A = TypeVar("A", bound=Aggregate)


@contextlib.contextmanager
def open_batch(uow: UnitOfWork, fresh: bool) -> Iterator[Batch]:
    """Run the commands of the block as one batch in this thread (see `Batch`)."""
    assert uow.batch() is None and uow.current() is None, "batches do not nest"
    batch = Batch(uow, fresh)
    uow._current.batch = batch
    try:
        yield batch
    finally:
        uow._current.batch = None


class Refused(Exception):
    """A command of a batch that is to run on its own after the batch (its `cause`: why)."""


class Batch:
    """Commands run one after another on shared in-memory aggregates, saved in one transaction.

    Each aggregate is loaded once (`owned`: the batch's identity map) and every
    command after that sees it as the commands before left it. `stage` adds a
    command's aggregates to the save and answers with a stand-in position (a
    negative number) that `resolve` replaces after the save. `fresh`: after a
    failed save, each command first looks for its first outcome (`Once`).
    """

    def __init__(self, uow: UnitOfWork, fresh: bool) -> None:
        self.uow, self.fresh = uow, fresh
        self.owned: dict[UUID, Aggregate] = {}  # every aggregate the batch loaded or created
        self.staged: dict[UUID, Aggregate] = {}  # those to save, in the order first staged
        self.staged_events: dict[UUID, int] = {}  # pending events of each owned aggregate as the last stage left it
        self.system_account_ids = set(uow._system_account_ids)
        self.attempt: Attempt | None = None  # the attempt of the command running now
        self.pending_requests: list[Any] = []  # the idempotency records staged (ledger/idempotency.py)
        self._stand_ins: dict[int, tuple[UUID, int]] = {}
        self._stand_in_of: dict[tuple[UUID, int], int] = {}

    def run(self, decide: Callable[[Attempt], R], once: Once | None) -> R:
        attempt = self.attempt = Attempt(self.uow, self.uow.current(), batch=self)
        self.uow._current.attempt = attempt
        try:
            if once is not None:
                found = attempt.find(once.cls, once.aggregate_id) if self.fresh else self.known(once)
                if isinstance(found, once.cls):  # a repeat: of a stored command, or of one earlier in the batch
                    return once.answer(found, self.uow.repeat(found, once.request, once.what))
            return decide(attempt)
        finally:
            self.uow._current.attempt = attempt.outer

    def find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        found = self.owned.get(aggregate_id)
        if found is None:
            try:
                found = self.uow.app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
            self.owned[aggregate_id] = found
        return found if isinstance(found, cls) else None

    def known(self, once: Once) -> Aggregate | None:
        """The aggregate if this batch or the cache holds it (no read: a command not known here is assumed new)."""
        return self.owned.get(once.aggregate_id) or self.uow.cached(once)

    def stage(self, aggregates: list[Aggregate]) -> int:
        aggregates, pending = idempotency.staged_with_record(self.uow, aggregates)
        for aggregate in aggregates:
            known = self.owned.get(aggregate.id)
            if known is not None and known is not aggregate:
                raise Refused(f"{type(aggregate).__name__} {aggregate.id} is already in this batch")
        for aggregate in aggregates:
            self.owned[aggregate.id] = aggregate
            self.staged.setdefault(aggregate.id, aggregate)
            self.staged_events[aggregate.id] = len(aggregate.pending_events)
        if pending is not None:
            self.pending_requests.append(pending)
        last = aggregates[-1]
        return self.stand_in(last.id, last.version)

    def touched(self, attempt: Attempt) -> bool:
        """Whether a failed command changed the batch's aggregates (then the batch starts again without it)."""
        if attempt.committed:
            return True
        return any(
            len(aggregate.pending_events) != self.staged_events.get(aggregate_id, 0)
            for aggregate_id in {*attempt.read, *attempt.accounts}
            if (aggregate := self.owned.get(aggregate_id)) is not None
        )

    def unsaved(self, aggregate_id: UUID, version: int) -> bool:
        aggregate = self.staged.get(aggregate_id)
        return aggregate is not None and version > aggregate.version - len(aggregate.pending_events)

    def stand_in(self, aggregate_id: UUID, version: int) -> int:
        key = (aggregate_id, version)
        if key not in self._stand_in_of:
            self._stand_in_of[key] = -1 - len(self._stand_ins)
            self._stand_ins[self._stand_in_of[key]] = key
        return self._stand_in_of[key]

    def save(self) -> dict[tuple[UUID, int], int]:
        """Save every staged aggregate in one transaction; the position of each event saved."""
        if not self.staged:
            return {}
        try:
            recordings = self.uow.app.save(*self.staged.values())
        except IntegrityError:
            for pending in self.pending_requests:  # a record may exist now: each command looks again
                pending.failed = True
            raise
        for pending in self.pending_requests:
            pending.recorded = True
        self.uow._system_account_ids.update(self.system_account_ids)
        return {(r.domain_event.originator_id, r.domain_event.originator_version): r.notification.id for r in recordings}

    def resolve(self, result: R, positions: dict[tuple[UUID, int], int]) -> R:
        """The result with its stand-in position replaced by the saved one."""
        position = getattr(result, "position", None)
        if isinstance(position, int) and position < 0 and dataclasses.is_dataclass(result):
            return cast(R, dataclasses.replace(cast(Any, result), position=positions[self._stand_ins[position]]))
        return result
