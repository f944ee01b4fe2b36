"""The unit of work: the one way every command writes.

A handler (ledger.handlers) gets an `Attempt`, loads the aggregates it needs
through it, decides (calls their methods), and commits once: `attempt.commit()`
saves the transfer with every account it changes in one `save()`, one database
transaction. Command ids are deterministic (`uuid5` of scope and idempotency
key), so a retry, or a lost commit acknowledgement, finds the first outcome
instead of writing twice.

The first attempt is optimistic: it takes aggregates from the in-process cache
as they are (no fast-forward query) and assumes the command is new (no look-up
of its id; only a repeat the cache holds is answered at once). Every aggregate
a decision reads is also one it saves, so optimistic concurrency catches a stale
read: the save fails with IntegrityError, as it does
when the id exists already. A refusal (insufficient funds, say) might also come
from a stale cache. Either way the attempt's aggregates are brought up to
date with the store (`refresh`: the events stored after the cached version,
if any, applied) and the command runs again on fresh state, first answering a
repeat from the stored outcome (its `Once`), at most ATTEMPTS_MAX times. So a new command costs one
transaction and no reads, and no answer, refusal or repeat, is ever given from
stale state.

An attempt is an object, not the calling thread: a batch of commands
(`ledger.handlers.transfers.transfer_many`) runs in one attempt and commits
once, whichever threads asked for them; its save goes to the database in parts
as the batch is posted (`Attempt.commit_in_parts`, ledger/staged_save.py).

A `Batch` is how the process's one writer (ledger.writer) runs many commands,
one after another, and saves them in one transaction: while a batch is open in
the writer's thread, `run` gives each command its own attempt over the batch's
aggregates (each loaded once, then shared in memory: no copy per command), and
`commit` stages instead of saving, answering with a stand-in position that the
batch's save resolves. A command that fails leaves the batch as it found it, or
the batch starts again without it (see `Batch.touched`).

Staff commands record who made them (`by`); without one, the ledger's default
`actor` (say "cli" or "demo") is recorded.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from . import idempotency, store
from .aggregate_cache import AggregateCache
from .domain import days, ids
from .domain.accounting_day import AccountingDay
from .domain.accounts import CHANNEL_ROLES, SYSTEM_BUSINESS_ID, Account, AccountKind, SystemRole
from .domain.aggregate import Clock, stamped_by
from .domain.errors import AccountNotFound, Contention, IdempotencyConflict, LedgerError, ValidationError
from .domain.inputs import NAME_LENGTH_MAX, check_text

if TYPE_CHECKING:
    from .application import FundCenter
    from .batch import Batch

R = TypeVar("R")
A = TypeVar("A", bound=Aggregate)

ATTEMPTS_MAX = 50  # per command, on optimistic-concurrency conflicts
BACKOFF_MS_MAX = 20  # the longest pause between two attempts on fresh state
BACKOFF_MS_MIN = 0.5  # the first pause's bound; it doubles per attempt up to BACKOFF_MS_MAX
assert 0 < BACKOFF_MS_MIN <= BACKOFF_MS_MAX and ATTEMPTS_MAX >= 2  # one optimistic attempt, then fresh ones


@dataclass
class CommandStats:
    """Counters a test or /metrics can read."""

    commands: int = 0
    repeats: int = 0  # idempotent repeats answered from the first outcome
    conflicts: int = 0  # saves that lost to a concurrent writer (or met their own first outcome), retried
    rechecks: int = 0  # refusals checked again on fresh state before being returned
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)


@dataclass(frozen=True)
class Once:
    """The aggregate a command creates, by which a repeat of the command is answered."""

    cls: type
    aggregate_id: UUID
    request: str  # the request's fingerprint: the same key with another request is a conflict
    what: str  # how a conflict names the key
    answer: Callable[[Any, int | None], Any]  # (the stored aggregate, its position) -> the command's result


class _Current(threading.local):
    """What runs in one thread: None until set (class defaults: no failed look-up per read)."""

    attempt: Attempt | None = None
    batch: Batch | None = None


class UnitOfWork:
    """Runs commands: attempts, the cache discipline, and the one save of each attempt."""

    def __init__(
        self, app: FundCenter, clock: Clock, accounting_day: AccountingDay, actor: str | None,
        database: store.Database,
    ) -> None:
        self.app, self.clock, self.accounting_day, self.database = app, clock, accounting_day, database
        self.actor = check_actor(actor)  # who staff commands called without `by` were made by
        self.stats = CommandStats()
        self._system_account_ids: set[UUID] = set()  # known to exist: never loaded again
        self._current = _Current()  # the attempt (and batch) running in this thread, if any
        self._open_days: set[str] = set()  # accounting days found open (not closed: ledger/domain/days.py)
        self._open_span: tuple[datetime, datetime, str] | None = None  # the last open day found: its bounds, its text

    def current(self) -> Attempt | None:
        """The attempt running in this thread (None between commands: queries track nothing)."""
        return self._current.attempt

    def batch(self) -> Batch | None:
        """The batch open in this thread (the writer's), if any."""
        return self._current.batch

    @property
    def system_account_ids(self) -> set[UUID]:
        """System accounts known to exist (in a batch: also those it opens, until its save fails)."""
        batch = self.batch()
        return self._system_account_ids if batch is None else batch.system_account_ids

    # -- the attempt loop --------------------------------------------------------------------------

    def run(self, decide: Callable[[Attempt], R], once: Once | None = None) -> R:
        """Run a command: optimistically first, then on fresh state (see the module's docstring)."""
        batch = self.batch()
        if batch is not None:
            return batch.run(decide, once)
        fresh = False
        with stamped_by(self.clock):
            for n in range(1, ATTEMPTS_MAX + 1):
                attempt = self.begin()
                try:
                    found = None if once is None else attempt.find(once.cls, once.aggregate_id) if fresh else self.cached(once)
                    if once is not None and found is not None:
                        result = once.answer(found, self.repeat(found, once.request, once.what))
                    else:
                        result = decide(attempt)
                except IntegrityError:
                    self.stats.add("conflicts")
                    self.refresh(attempt.read)
                    if n == ATTEMPTS_MAX:
                        raise Contention(f"gave up after {n} conflicting attempts; try again") from None
                    if fresh:
                        time.sleep(random.uniform(0, min(BACKOFF_MS_MAX, BACKOFF_MS_MIN * 2**n)) / 1000)
                    fresh = True
                except LedgerError:
                    if fresh:
                        idempotency.raise_if_recorded(self)  # a repeat taken for new: answer from its record
                        raise
                    self.stats.add("rechecks")
                    self.refresh(attempt.read)
                    fresh = True
                else:
                    self.stats.add("commands")
                    return result
                finally:
                    self.end(attempt)
        raise AssertionError("unreachable")

    def begin(self) -> Attempt:
        attempt = Attempt(self, self.current())
        self._current.attempt = attempt
        return attempt

    def end(self, attempt: Attempt) -> None:
        assert self.current() is attempt, "attempts end in the order they began"
        self._current.attempt = attempt.outer

    # -- loading (queries use these too, outside any attempt) ------------------------------------

    def find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        try:
            aggregate: object = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, cls) else None

    def get(self, cls: type[A], aggregate_id: Any, error: type[Exception] = AccountNotFound, what: str = "") -> A:
        found = self.find(cls, aggregate_id) if isinstance(aggregate_id, UUID) else None
        if found is None:
            raise error(f"{what or cls.__name__.lower()} {aggregate_id} not found")
        return found

    def cached(self, once: Once) -> Any:
        """A command's first outcome if the cache holds it (no read: one it does not hold is assumed new)."""
        return self.in_cache(once.cls, once.aggregate_id)

    def in_cache(self, cls: type[A], aggregate_id: UUID) -> A | None:
        """The aggregate if the cache holds it, else None: never a read (so an event loop may ask)."""
        cache = self.app.repository.cache
        assert cache is not None, "FundCenter.env configures the aggregate cache"
        try:
            found = cache.get(aggregate_id)
        except KeyError:
            return None
        return found if isinstance(found, cls) else None

    def fresh(self, aggregate: A) -> A:
        """The aggregate with any events the cache has not seen yet (for answers that save nothing)."""
        newer = self.app.events.get(originator_id=aggregate.id, gt=aggregate.version)
        projected = project_aggregate(aggregate, newer)
        assert projected is not None, "projecting events onto an aggregate never loses it"
        return projected

    def refresh(self, aggregate_ids: Iterable[UUID]) -> None:
        """Bring the cached aggregates among these up to date with the store: the events stored after
        the cached version (another process's), applied to a copy that replaces it; none stored, the
        cached one stands. One indexed read each. What a failed attempt does to what it read, instead
        of evicting it: an evicted account is rebuilt from its last snapshot and up to
        ACCOUNT_SNAPSHOT_INTERVAL_EVENTS of its events (18 ms of CPU at 500), while the usual failures
        (a refusal, the repeat of a command the cache no longer holds) leave the cache as true as it
        was: a batch of 16 transfers among 32 accounts of about 430 events, one of them the repeat of a
        transfer the cache no longer held, took the writer 192 ms with eviction, 22 ms so (4 ms without
        the repeat). (The cache holds only what was saved: an attempt works on copies.) If the store
        cannot be read, they are evicted."""
        cache = self.app.repository.cache
        assert isinstance(cache, AggregateCache), "FundCenter.construct_repository sets its cache"
        read = list(dict.fromkeys(aggregate_ids))
        try:
            for aggregate_id in read:
                try:
                    cached = cache.get(aggregate_id)
                except KeyError:
                    continue
                newer = list(self.app.events.get(originator_id=aggregate_id, gt=cached.version))
                if newer:
                    cache.advance(aggregate_id, cached, newer)
        except Exception:  # the store: whatever it holds is read again, later
            self.evict(read)

    def evict(self, aggregate_ids: Iterable[UUID]) -> None:
        for aggregate_id in aggregate_ids:
            cache = self.app.repository.cache
            assert cache is not None, "FundCenter.env configures the aggregate cache"
            with contextlib.suppress(KeyError):  # not cached
                cache.get(aggregate_id, evict=True)

    def position(self, aggregate_id: UUID, version: int) -> int | None:
        batch = self.batch()
        if batch is not None and batch.unsaved(aggregate_id, version):
            return batch.stand_in(aggregate_id, version)
        return store.position_of(self.database, self.app.recorder, aggregate_id, version)

    def latest_version(self, aggregate_id: UUID) -> int | None:
        newest = list(self.app.events.get(originator_id=aggregate_id, desc=True, limit=1))
        return newest[0].originator_version if newest else None

    def repeat(self, aggregate: Any, request: str, what: str) -> int | None:
        """The position of a command's first outcome, if `request` is the one it was made with."""
        if aggregate.request_hash != request:
            raise IdempotencyConflict(f"{what} was already used with different arguments")
        self.stats.add("repeats")
        return self.position(aggregate.id, 1)

    # -- saving ----------------------------------------------------------------------------------------

    def save(self, *aggregates: Aggregate) -> list[Any]:
        """Save in one transaction, with the idempotency record of the request being run, if it is due."""
        return idempotency.save_with_record(self, aggregates, self.app.save)

    # -- time and actors -------------------------------------------------------------------------------

    def day_of(self, moment: datetime) -> str:
        """The accounting day an instant belongs to, as the views key it (YYYY-MM-DD); if that day is
        closed, the next open day (what a posting at `moment` records). A day found open is not
        looked up again: a day closes only once it is over (ledger/domain/days.py)."""
        span = self._open_span
        if span is not None and span[0] <= moment < span[1]:
            return span[2]
        local_day = self.accounting_day.day_of(moment)
        day = local_day.isoformat()
        if day not in self._open_days:
            found = self.open_day(day)
            if found != day:
                return found
            self._open_days.add(day)
        bounds = self.accounting_day.steady_bounds(local_day)
        if bounds is not None:  # the instants of the open day: those of the next commands, mostly
            self._open_span = (*bounds, day)
        return day

    def open_day(self, day: str) -> str:
        """`day` if it is not closed, else the next day that is not."""
        return days.open_day(day, lambda d: self.find(days.DayClose, days.day_close_id(d)) is not None)

    def day_closed(self, day: str) -> None:
        """Called once `day`'s close is saved: postings no longer carry it."""
        self._open_days.discard(day)
        if self._open_span is not None and self._open_span[2] == day:
            self._open_span = None

    def by(self, by: str | None) -> str | None:
        """Who a staff command is made by: `by`, else the ledger's default actor."""
        return self.actor if by is None else check_actor(by)


class Attempt:
    """One try of one command (or of a batch of them): what it read, what it saves, once."""

    def __init__(self, uow: UnitOfWork, outer: Attempt | None = None, batch: Batch | None = None) -> None:
        self.uow, self.outer = uow, outer  # outer: the attempt this one runs inside, if any
        self.batch = batch  # the batch whose aggregates this attempt shares, if any
        self.read: list[UUID] = []  # evicted from the cache if the attempt fails
        self.accounts: dict[UUID, Account] = {}  # customer accounts the posting engine changes
        self.new_accounts: dict[UUID, Account] = {}  # system accounts opened in this save
        self.committed = False

    def find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        self.read.append(aggregate_id)
        if self.batch is not None:
            return self.batch.find(cls, aggregate_id)
        return self.uow.find(cls, aggregate_id)

    def get(self, cls: type[A], aggregate_id: Any, error: type[Exception] = AccountNotFound, what: str = "") -> A:
        found = self.find(cls, aggregate_id) if isinstance(aggregate_id, UUID) else None
        if found is None:
            raise error(f"{what or cls.__name__.lower()} {aggregate_id} not found")
        return found

    def account(self, account_id: Any) -> Account:
        return self.get(Account, account_id, AccountNotFound, "account")

    def customer_account(self, account_id: Any) -> Account:
        account = self.account(account_id)
        if not account.is_customer:
            raise ValidationError(f"account {account_id} is a system account; only the ledger posts to it")
        return account

    def system_account(self, role: SystemRole, currency: str, channel: str | None = None) -> UUID:
        """The id of a system account; opened in this attempt's save if it does not exist yet."""
        account_id = ids.system_account_id(role, currency, channel)
        if account_id in self.uow.system_account_ids or account_id in self.new_accounts:
            return account_id
        if self.find(Account, account_id) is not None:
            self.uow.system_account_ids.add(account_id)
            return account_id
        assert (channel is not None) == (role in CHANNEL_ROLES), (role, channel)
        self.new_accounts[account_id] = Account(
            id=account_id, kind=AccountKind.SYSTEM.value, business_id=SYSTEM_BUSINESS_ID,
            external_ref=f"{role.value}/{channel or '-'}/{currency}", currency=currency,
            name=f"{role.value} {channel or ''} {currency}".replace("  ", " "),
            request_hash="", role=role.value, channel=channel,
        )
        return account_id

    def commit(self, *aggregates: Aggregate) -> int:
        """Save, in one transaction, the accounts the posting engine changed, the system accounts
        opened, then `aggregates`: the command's own aggregate last, so the position of its event
        is the position of the whole save (and of a repeat). Once per attempt."""
        if self.batch is not None:
            assert not self.committed, "an attempt saves once"
            staged = self.batch.stage([*self.accounts.values(), *self.new_accounts.values(), *aggregates])
            self.committed = True
            return staged
        return self.commit_all(*aggregates)[-1].notification.id

    def commit_all(self, *aggregates: Aggregate) -> list[Any]:
        assert not self.committed, "an attempt saves once"
        assert self.batch is None, "a batch stages with commit()"
        self.committed = True
        recordings = self.uow.save(*self.accounts.values(), *self.new_accounts.values(), *aggregates)
        self.uow.system_account_ids.update(self.new_accounts)
        return recordings

    def commit_in_parts(self, parts: Iterable[Sequence[Aggregate]]) -> list[Any]:
        """`commit_all` of the aggregates of every part, the save sent part by part as `parts` makes
        them (ledger/staged_save.py): the database stores a part while the next is made. One
        transaction still: if making a part raises, nothing is saved."""
        assert not idempotency.request_pending(), "a request recorded with its save commits with commit_all"
        assert not self.committed, "an attempt saves once"
        assert self.batch is None, "a batch stages with commit()"
        self.committed = True
        save = self.uow.app.staged_save()
        try:
            for part in parts:
                save.send(*self.accounts.values(), *self.new_accounts.values(), *part)
            recordings = save.commit()
        except BaseException:
            save.abort()
            raise
        self.uow.system_account_ids.update(self.new_accounts)
        return recordings


def check_actor(by: str | None) -> str | None:
    if by is not None:
        check_text(by, "by", required=True, length_max=NAME_LENGTH_MAX)
    return by
