"""Idempotency keys for the commands whose own ids do not come from one.

A transfer, a hold, a recharge take their id from the idempotency key, so a retry
finds the first outcome by that id. Other commands change an aggregate that has
an id of its own (an account's status, the catalog, an API key's role, a
reconciliation) or act on many (a sweep). For them an `IdempotentRequest`
records, under `uuid5("request", scoped key)`, what the key was first used for:
the request's fingerprint and the aggregates (id and version) its answer showed.

`run_once(uow, key, operation, request, run, replay, target=...)` (the ledger's
`FundCenter.idempotent`) runs a command once per key:

- a key already recorded answers from the record: the same request gets the
  first outcome again (each aggregate as it was at the recorded version, with the
  position of that version), another request is `IdempotencyConflict`, and
  nothing is written (with `assume_new`, a record the cache does not hold is
  found by the save that fails on it, not by a read first: then the command runs
  again and answers from the record);
- otherwise `run()` runs with the request pending, and the first `save()` that
  holds an aggregate `target` picks out also saves the record, in the same
  transaction: the change and its record are written together or not at all;
- a run that saved no such aggregate (a no-op, such as closing a channel that is
  closed, or a command of many saves like a sweep) has its answer recorded on
  its own afterwards, with each aggregate `refer` names at its latest version;
- a refusal raises out of `run()` and records nothing: the key is free again.

The pending record lives in a context variable, and the process's writer
(ledger.writer) runs each command in a copy of its caller's context: the record
travels with the command to whichever thread saves it. A record that goes with the
command's own aggregate (a reference's claim) is saved in the writer's batch with
it (`staged_with_record`); one recorded after the command ran (`pending_in`) makes
the writer run that command on its own, not in a batch.

Two concurrent requests with one key: one record wins (optimistic concurrency on
its id) and the other answers from it. The hook is the unit of work's `save()`
(`save_with_record`), so it serves every command, including those that run
through the payments and reconciliation services, without a parameter threaded
through each of them.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from contextvars import Context, ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from .domain import ids
from .domain.errors import IdempotencyConflict
from .domain.inputs import check_key

if TYPE_CHECKING:
    from .unit_of_work import UnitOfWork

T = TypeVar("T")
Replay = Callable[[list[tuple[Any, int | None]]], T]  # [(aggregate at its recorded version, its position)] -> answer


class IdempotentRequest(Aggregate):
    """What one idempotency key (in its caller's scope) was first used for."""

    id: UUID

    @event("Recorded")
    def __init__(self, id: UUID, key: str, operation: str, request_hash: str, results: list[dict[str, Any]]) -> None:
        self.key = key
        self.operation = operation
        self.request_hash = request_hash
        self.results = results  # [{"id": str, "version": int}]: the aggregates the first answer showed


def request_id(key: str) -> UUID:
    return ids.command_id("request", key)


@dataclass
class _Pending:
    record_id: UUID
    key: str
    operation: str
    request: str
    target: Callable[[Any], bool] | None
    recorded: bool = False
    failed: bool = False  # a save with the record failed: the record may exist now
    assumed_new: bool = False  # taken for new without a read (`run_once(..., assume_new=True)`)


_PENDING: ContextVar[_Pending | None] = ContextVar("fundcenter_pending_request", default=None)


def pending_in(context: Context) -> bool:
    """Whether a command run in `context` may have to save a pending request's record after it ran
    (one whose record does not go with an aggregate of the command's save: the writer runs such a
    command on its own). A record that goes with the command's own aggregate (a reference's claim)
    is staged with it in a batch (`staged_with_record`)."""
    pending = context.get(_PENDING)
    return pending is not None and not pending.recorded and pending.target is None


class _Recorded(Exception):
    """A concurrent request with the same key recorded first: answer from its record."""


def run_once(
    uow: UnitOfWork, key: str, operation: str, request: str, run: Callable[[], T], replay: Replay[T], *,
    target: Callable[[Any], bool] | None = None, refer: Callable[[T], Iterable[UUID]] = lambda result: (),
    assume_new: bool = False,
) -> T:
    """Run `run` once per `key` (see the module's docstring). `request` is the request's
    fingerprint (ids.fingerprint of its arguments); `operation` names the command.

    `assume_new` (with a `target` the command creates): a key the cache does not know is taken for
    new, without a read, as a command's own id is (ledger/unit_of_work.py). The record is saved in
    the transaction of the aggregate it goes with, so if it exists that save fails whole and the
    command, run again, answers from it; and a refusal on fresh state looks for it first
    (`raise_if_recorded`)."""
    check_key(key)
    request = ids.fingerprint(operation=operation, request=request)  # one key, one command
    record_id = request_id(key)
    assumed_new = assume_new and target is not None
    found = uow.in_cache(IdempotentRequest, record_id) if assumed_new else _record(uow, record_id)
    if found is not None:
        return _replay(uow, found, operation, request, replay)
    pending = _Pending(record_id, key, operation, request, target, assumed_new=assumed_new)
    token = _PENDING.set(pending)
    try:
        result = run()
    except _Recorded:
        return _replay(uow, _record(uow, record_id), operation, request, replay)
    finally:
        _PENDING.reset(token)
    return _recorded_after(uow, pending, result, replay, refer)


class Unfinished(Exception):
    """What a claim submitted from an event loop (`submit_once`) raises when its answer needs the
    store: `finish()`, called where blocking is allowed, gives that answer or raises its error."""

    def __init__(self, finish: Callable[[], Any]) -> None:
        super().__init__("the answer needs a read")
        self.finish = finish


def submit_once(
    uow: UnitOfWork, key: str, operation: str, request: str, submit: Callable[[], Future[T]], replay: Replay[T], *,
    target: Callable[[Any], bool], refer: Callable[[T], Iterable[UUID]],
) -> Future[T] | None:
    """`run_once(..., assume_new=True)` for a caller that must not block (an event loop): `submit()`
    hands the command to the writer with the request pending, and the Future answers as `run_once`
    would. None if the cache holds the key's record (a repeat: answering it reads the store). When
    the command's run ends another way than by saving the record with it (a repeat found on the
    way, or the record found by a failed save), the Future raises `Unfinished`, whose `finish()`
    gives the answer `run_once` would have given."""
    check_key(key)
    request = ids.fingerprint(operation=operation, request=request)  # one key, one command
    record_id = request_id(key)
    if uow.in_cache(IdempotentRequest, record_id) is not None:
        return None
    pending = _Pending(record_id, key, operation, request, target, assumed_new=True)
    context = contextvars.copy_context()
    context.run(_PENDING.set, pending)
    ran = context.run(submit)  # the writer runs it in a copy of this context: the request travels with it
    answer: Future[T] = Future()
    answer.set_running_or_notify_cancel()

    def settle(done: Future[T]) -> None:  # in the writer's thread: nothing that blocks
        try:
            result = done.result()
        except _Recorded:
            answer.set_exception(Unfinished(lambda: _replay(uow, _record(uow, record_id), operation, request, replay)))
        except BaseException as error:
            answer.set_exception(error)
        else:
            if pending.recorded:
                answer.set_result(result)
            else:
                answer.set_exception(Unfinished(lambda: _recorded_after(uow, pending, result, replay, refer)))

    ran.add_done_callback(settle)
    return answer


def _recorded_after(uow: UnitOfWork, pending: _Pending, result: T, replay: Replay[T],
                    refer: Callable[[T], Iterable[UUID]]) -> T:
    """`result`, once its record is saved: with the command's aggregate, or now (see the module's docstring)."""
    if pending.recorded:
        return result
    results = [{"id": str(a), "version": v} for a in refer(result) if (v := uow.latest_version(a)) is not None]
    try:
        uow.save(IdempotentRequest(id=pending.record_id, key=pending.key, operation=pending.operation,
                                   request_hash=pending.request, results=results))
    except IntegrityError:  # a concurrent request with this key recorded first
        return _replay(uow, _record(uow, pending.record_id), pending.operation, pending.request, replay)
    return result


def raise_if_recorded(uow: UnitOfWork) -> None:
    """Before a command run on fresh state answers with a refusal: if its pending request was taken
    for new without a read and is recorded after all, answer from the record instead (a repeat
    whose first run took what the command would need, funds say, is answered as the first)."""
    pending = _PENDING.get()
    if pending is not None and pending.assumed_new and not pending.recorded and _record(uow, pending.record_id) is not None:
        raise _Recorded


def request_pending() -> bool:
    """Whether a command's request is still to be recorded, by the save of the aggregate it targets."""
    pending = _PENDING.get()
    return pending is not None and not pending.recorded and pending.target is not None


def save_with_record(uow: UnitOfWork, objs: Sequence[Aggregate], save: Callable[..., list[Any]]) -> list[Any]:
    """`save(*objs)`, with the pending request's record if `objs` hold the aggregate it targets."""
    due = _due(uow, objs)
    if due is None:
        return save(*objs)
    pending, record = due
    try:
        # First, so that the command's own aggregate stays last: the save's position is its event's.
        recordings = save(record, *objs)
    except IntegrityError:
        pending.failed = True
        raise
    pending.recorded = True
    return recordings


def staged_with_record(uow: UnitOfWork, objs: Sequence[Aggregate]) -> tuple[list[Aggregate], _Pending | None]:
    """What a batch stages for a command (ledger/batch.py): `objs`, after the pending request's record
    if they hold the aggregate it targets, as `save_with_record` saves them; and that request, which
    the batch marks `recorded` once its save went through, or `failed` if it did not."""
    due = _due(uow, objs)
    if due is None:
        return list(objs), None
    pending, record = due
    return [record, *objs], pending


def _due(uow: UnitOfWork, objs: Sequence[Aggregate]) -> tuple[_Pending, IdempotentRequest] | None:
    """The pending request and its record, if `objs` hold the aggregate the record goes with."""
    pending = _PENDING.get()
    if pending is None or pending.recorded or pending.target is None:
        return None
    result = next((o for o in objs if pending.target(o)), None)
    if result is None:
        return None
    if pending.failed and _record(uow, pending.record_id) is not None:
        raise _Recorded
    record = IdempotentRequest(id=pending.record_id, key=pending.key, operation=pending.operation,
                               request_hash=pending.request, results=[{"id": str(result.id), "version": result.version}])
    return pending, record


def _record(uow: UnitOfWork, record_id: UUID) -> IdempotentRequest | None:
    return uow.find(IdempotentRequest, record_id)  # a record never changes: the cache may answer


def _replay(uow: UnitOfWork, record: IdempotentRequest | None, operation: str, request: str, replay: Replay[T]) -> T:
    assert record is not None
    if record.request_hash != request:
        what = "this request" if record.operation == operation else f"another command ({record.operation})"
        raise IdempotencyConflict(f"idempotency key was already used for {what} with different arguments")
    uow.stats.add("repeats")
    states: list[tuple[Any, int | None]] = []
    for result in record.results:
        aggregate_id, version = UUID(result["id"]), result["version"]
        states.append((uow.app.repository.get(aggregate_id, version=version), uow.position(aggregate_id, version)))
    return replay(states)
