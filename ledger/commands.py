"""The machinery every FundCenter command runs on.

Each command validates its input, then runs an *attempt*: load the aggregates,
decide, and save the transfer with every customer account it touches in one
`save()`, one database transaction. Command ids are deterministic (`uuid5` of
scope and idempotency key), so a retry, or a lost commit acknowledgement, finds
the first outcome instead of writing twice.

The first attempt is optimistic: it takes aggregates from the in-process cache
as they are (no fast-forward query) and assumes the command is new (no look-up
of its id). Every aggregate a decision reads is also one it saves, so optimistic
concurrency catches a stale read: the save fails with IntegrityError, as it does
when the id exists already. A refusal (insufficient funds, say) might also come
from a stale cache. Either way the attempt's aggregates are evicted and the
command runs again on fresh state, first answering a repeat from the stored
outcome, a bounded number of times. So a new command costs one transaction and
no reads, and no answer, refusal or repeat, is ever given from stale state.

Every transfer is stamped with one instant and records the accounting day that
instant falls on (`accounting_day`, given to the constructor: the settings' 日切),
so the views read the day from the log and never from configuration. Staff
commands record who made them (`by`); without one, the ledger's default `actor`
(say "cli" or "demo") is recorded.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from . import store
from .clock import system_clock
from .domain import ids
from .domain.accounting_day import AccountingDay
from .domain.accounts import CHANNEL_ROLES, SYSTEM_BUSINESS_ID, Account, AccountKind, SystemRole
from .domain.aggregate import Clock, stamped_by
from .domain.errors import (
    AccountNotFound,
    Contention,
    CurrencyMismatch,
    IdempotencyConflict,
    LedgerError,
    ValidationError,
)
from .domain.holds import Hold
from .domain.inputs import check_key, check_text
from .domain.transfers import Side, Transfer, TransferKind
from .once import Once
from .views import TransferView

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)

ATTEMPTS_MAX = 50  # per command, on optimistic-concurrency conflicts
BACKOFF_MS_MAX = 20


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


class Commands(Application[UUID]):
    """An eventsourcing Application with the attempt loop, the cache discipline and the posting engine."""

    # The cache is not fast-forwarded on each get: the attempt loop makes that safe (see above).
    env = {"AGGREGATE_CACHE_MAXSIZE": "10000", "AGGREGATE_CACHE_FASTFORWARD": "n"}
    snapshotting_intervals = {Account: 500}

    def __init__(
        self,
        url: str | None = None,
        *,
        clock: Clock | None = None,
        accounting_day: AccountingDay | None = None,
        actor: str | None = None,
        env: dict[str, str] | None = None,
        migrate: bool = True,
    ) -> None:
        self.database = store.Database.from_url(url)
        if migrate:
            store.migrate(self.database)
        self.clock: Clock = clock or system_clock  # every command's time, and its events' stamps
        self.accounting_day = accounting_day or AccountingDay()  # the day each transfer records
        self.actor = self._check_actor(actor)  # who staff commands called without `by` were made by
        self.stats = CommandStats()
        self._system_account_ids: set[UUID] = set()  # known to exist: never loaded again
        self._reads = threading.local()  # ids of the aggregates the current attempt has read
        super().__init__(env={**self.database.eventsourcing_env(), **(env or {})})

    # -- the posting engine ----------------------------------------------------------------

    def _post_new(
        self,
        transfer_id: UUID,
        request: str,
        kind: TransferKind,
        currency: str,
        postings: list[dict[str, Any]],
        *,
        memo: str = "",
        references: dict[str, str] | None = None,
        by: str | None = None,
        customers: Iterable[UUID] = (),
        new_accounts: Iterable[Account] = (),
        capture: Hold | None = None,
        also_save: Iterable[Aggregate] = (),
    ) -> TransferView:
        """Post a new transfer; save it with every account it changes.

        Checks run in this order: accounts exist (those in `customers` must be
        customer accounts); currencies match; then each account's own checks
        (status, funds, holds) as its postings apply. (A repeat is answered by
        `_run`, before any of these, once the first attempt has failed.)
        """
        transfer = self._new_transfer(
            transfer_id, kind, currency, postings, request_hash=request, memo=memo, references=references, by=by
        )
        accounts: dict[UUID, Account] = {}
        self._apply(transfer, accounts, customers, {a.id for a in new_accounts}, capture)
        position = self._save(*accounts.values(), *new_accounts, *also_save, transfer)
        self._system_account_ids.update(a.id for a in new_accounts)
        return TransferView.of(transfer, position)

    def _new_transfer(
        self, transfer_id: UUID, kind: TransferKind, currency: str, postings: list[dict[str, Any]], *,
        request_hash: str, memo: str = "", references: dict[str, str] | None = None, by: str | None = None,
    ) -> Transfer:
        """A new transfer, stamped with one instant and recording the accounting day of that
        instant: its `day` and its timestamp always agree, whatever the clock does meanwhile."""
        now = self.clock()
        with stamped_by(lambda: now):
            return Transfer.post(
                transfer_id, kind, currency, postings, request_hash=request_hash, memo=memo, references=references,
                day=self.day_of(now), by=by,
            )

    def day_of(self, moment: datetime) -> str:
        """The accounting day an instant belongs to, as the views key it (YYYY-MM-DD)."""
        return self.accounting_day.day_of(moment).isoformat()

    def today(self) -> str:
        """The accounting day it is now."""
        return self.day_of(self.clock())

    def _by(self, by: str | None) -> str | None:
        """Who a staff command is made by: `by`, else the ledger's default actor."""
        return self.actor if by is None else self._check_actor(by)

    @staticmethod
    def _check_actor(by: str | None) -> str | None:
        if by is not None:
            check_text(by, "by", required=True, length_max=200)
        return by

    def _apply(
        self, transfer: Transfer, accounts: dict[UUID, Account], customers: Iterable[UUID] = (),
        new_ids: set[UUID] = frozenset(), capture: Hold | None = None,
    ) -> None:
        """Apply a transfer's postings to the customer accounts it touches, loading
        into `accounts` those not there yet (a batch shares one dict)."""
        now = self.clock()
        for aid in customers:
            if aid not in accounts:
                accounts[aid] = self._customer_account(aid)
        for p in transfer.postings:
            aid = p["account"]
            if aid in accounts or aid in new_ids or aid in self._system_account_ids:
                continue
            account = self._account(aid)
            if account.is_customer:
                accounts[aid] = account
            else:
                self._system_account_ids.add(aid)
        touched = [accounts[p["account"]] for p in transfer.postings if p["account"] in accounts]
        for account in touched:
            if account.currency != transfer.currency:
                raise CurrencyMismatch(
                    f"account {account.id} holds {account.currency}, the transfer is in {transfer.currency}"
                )
            account.expire_holds(now)
        for p in transfer.postings:
            account = accounts.get(p["account"])
            if account is None:
                continue  # a system account: its postings live in the transfer only
            if p["side"] == Side.CREDIT:
                account.credit(transfer.id, p["amount"])
            elif capture is not None and account.id == capture.account_id:
                account.capture_hold(capture.id, transfer.id, p["amount"], now)
            else:
                account.debit(transfer.id, p["amount"], now)

    def _system_account(self, role: SystemRole, currency: str, channel: str | None = None) -> tuple[UUID, list[Account]]:
        """The id of a system account, and the account itself if it must be opened in this save."""
        account_id = ids.system_account_id(role, currency, channel)
        if account_id in self._system_account_ids or self._find(Account, account_id) is not None:
            self._system_account_ids.add(account_id)
            return account_id, []
        assert (channel is not None) == (role in CHANNEL_ROLES), (role, channel)
        account = Account(
            id=account_id, kind=AccountKind.SYSTEM.value, business_id=SYSTEM_BUSINESS_ID,
            external_ref=f"{role.value}/{channel or '-'}/{currency}", currency=currency,
            name=f"{role.value} {channel or ''} {currency}".replace("  ", " "),
            request_hash="", role=role.value, channel=channel,
        )
        return account_id, [account]

    # -- plumbing ---------------------------------------------------------------------------

    def _run(self, attempt: Callable[[], T], once: Once | None = None) -> T:
        """Run a command's attempt: optimistically first, then on fresh state (see the module's docstring)."""
        try:
            with stamped_by(self.clock):
                return self._attempts(attempt, once)
        finally:
            self._reads.ids = None  # only commands track what they read

    def _attempts(self, attempt: Callable[[], T], once: Once | None) -> T:
        fresh = False
        for n in range(1, ATTEMPTS_MAX + 1):
            self._reads.ids = []
            try:
                if fresh and once is not None and (existing := self._find(once.cls, once.aggregate_id)) is not None:
                    result = once.answer(existing, self._repeat(existing, once.request, once.what))
                else:
                    result = attempt()
            except IntegrityError:
                self.stats.add("conflicts")
                self._evict(self._reads.ids)
                if n == ATTEMPTS_MAX:
                    raise Contention(f"gave up after {n} conflicting attempts; try again") from None
                if fresh:
                    time.sleep(random.uniform(0, min(BACKOFF_MS_MAX, 0.5 * 2**n)) / 1000)
                fresh = True
            except LedgerError:
                if fresh:
                    raise
                self.stats.add("rechecks")
                self._evict(self._reads.ids)
                fresh = True
            else:
                self.stats.add("commands")
                return result
        raise AssertionError("unreachable")

    def _once_transfer(self, transfer_id: UUID, request: str, what: str) -> Once:
        return Once(Transfer, transfer_id, request, what, TransferView.of)

    def _evict(self, aggregate_ids: Iterable[UUID]) -> None:
        for aggregate_id in aggregate_ids:
            with contextlib.suppress(KeyError):  # not cached
                self.repository.cache.get(aggregate_id, evict=True)

    def _fresh(self, aggregate: A) -> A:
        """The aggregate with any events the cache has not seen yet (for answers that save nothing)."""
        newer = self.events.get(originator_id=aggregate.id, gt=aggregate.version)
        return project_aggregate(aggregate, newer)

    def _save(self, *aggregates: Aggregate) -> int:
        """Save in one transaction; the command's own aggregate comes last, so the
        position of its event is the position of the whole save (and of a repeat)."""
        recordings = self.save(*aggregates)
        return recordings[-1].notification.id

    def _position(self, aggregate_id: UUID, version: int) -> int | None:
        return store.position_of(self.database, self.recorder, aggregate_id, version)

    def _repeat(self, aggregate: Any, request: str, what: str) -> int | None:
        if aggregate.request_hash != request:
            raise IdempotencyConflict(f"{what} was already used with different arguments")
        self.stats.add("repeats")
        return self._position(aggregate.id, 1)

    def _repeat_operation(self, hold: Hold, operation: str, request: str) -> int | None:
        first_request, version = hold.operations[operation]
        if first_request != request:
            raise IdempotencyConflict("idempotency key was already used with different arguments")
        self.stats.add("repeats")
        return self._position(hold.id, version)

    @staticmethod
    def _operation(kind: str, idempotency_key: str | None) -> str:
        # Without a key, a fresh one per call: retries inside the call still find the first outcome.
        return f"{kind}:{check_key(idempotency_key) if idempotency_key is not None else uuid4()}"

    def _find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        if getattr(self._reads, "ids", None) is not None:
            self._reads.ids.append(aggregate_id)
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, cls) else None

    def _get(self, cls: type[A], aggregate_id: Any, error: type[Exception] = AccountNotFound, what: str = "") -> A:
        found = self._find(cls, aggregate_id) if isinstance(aggregate_id, UUID) else None
        if found is None:
            raise error(f"{what or cls.__name__.lower()} {aggregate_id} not found")
        return found

    def _account(self, account_id: Any) -> Account:
        return self._get(Account, account_id, AccountNotFound, "account")

    def _customer_account(self, account_id: Any) -> Account:
        account = self._account(account_id)
        if not account.is_customer:
            raise ValidationError(f"account {account_id} is a system account; only the ledger posts to it")
        return account
