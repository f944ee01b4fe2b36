"""FundCenter: the ledger's application service, one short method per command.

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
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from . import store
from .domain import ids
from .domain.accounts import (
    CHANNEL_ROLES,
    CUSTOMER_KINDS,
    SYSTEM_BUSINESS_ID,
    Account,
    AccountKind,
    SystemRole,
)
from .domain.errors import (
    AccountNotFound,
    AccountsMustBeDifferent,
    Contention,
    CurrencyMismatch,
    HoldNotFound,
    IdempotencyConflict,
    LedgerError,
    TransferNotFound,
    ValidationError,
)
from .domain.holds import Hold
from .domain.inputs import check_code, check_expiry, check_key, check_ref, check_text
from .domain.money import check_amount, check_currency
from .domain.transfers import Side, Transfer, TransferKind, posting, reversed_postings
from .keys import KeyCommands
from .once import Once
from .payments import PaymentCommands
from .reconciliation_commands import ReconciliationCommands
from .views import AccountView, HoldView, TransferView

T = TypeVar("T")


class TransferRequest(TypedDict, total=False):
    from_account: UUID
    to_account: UUID
    amount: int
    currency: str
    idempotency_key: str
    memo: str
A = TypeVar("A", bound=Aggregate)

ATTEMPTS_MAX = 50  # per command, on optimistic-concurrency conflicts
BATCH_SIZE_MAX = 1000
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


class FundCenter(KeyCommands, PaymentCommands, ReconciliationCommands, Application[UUID]):
    name = "fundcenter"
    # The cache is not fast-forwarded on each get: the commands' retry loop makes it safe (see above).
    env = {"AGGREGATE_CACHE_MAXSIZE": "10000", "AGGREGATE_CACHE_FASTFORWARD": "n"}
    snapshotting_intervals = {Account: 500}

    def __init__(
        self,
        url: str | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        env: dict[str, str] | None = None,
        migrate: bool = True,
    ) -> None:
        self.database = store.Database.from_url(url)
        if migrate:
            store.migrate(self.database)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.stats = CommandStats()
        self._system_account_ids: set[UUID] = set()  # known to exist: never loaded again
        self._reads = threading.local()  # ids of the aggregates the current attempt has read
        super().__init__(env={**self.database.eventsourcing_env(), **(env or {})})

    # -- accounts ------------------------------------------------------------------

    def open_account(
        self, kind: str, business_id: str, external_ref: str, currency: str, name: str = "", *, channel: str | None = None
    ) -> AccountView:
        """Open a customer account; the same (business_id, external_ref) again returns it."""
        if kind not in CUSTOMER_KINDS:
            raise ValidationError(f"kind must be one of institution, settlement, member; got {kind!r}")
        check_code(business_id, "business_id")
        check_ref(external_ref, "external_ref")
        check_currency(currency)
        check_text(name, "name", length_max=200)
        if channel is not None:
            check_code(channel, "channel")
        account_id = ids.account_id(business_id, external_ref)
        request = ids.fingerprint(kind=kind, currency=currency, name=name, channel=channel)

        def attempt() -> AccountView:
            account = Account(
                id=account_id, kind=kind, business_id=business_id, external_ref=external_ref,
                currency=currency, name=name, request_hash=request, channel=channel,
            )
            return AccountView.of(account, self.clock(), self._save(account))

        answer = lambda account, position: AccountView.of(account, self.clock(), position)  # noqa: E731
        return self._run(attempt, Once(Account, account_id, request, f"account {business_id}/{external_ref}", answer))

    def set_account_status(self, account: UUID, status: str) -> AccountView:
        """Freeze (no debits), unfreeze or close a whole account. Setting the current status is a no-op."""

        def attempt() -> AccountView:
            acct = self._fresh(self._customer_account(account))  # a no-op answer must not come from a stale cache
            now = self.clock()
            if acct.change_status(status, now):
                return AccountView.of(acct, now, self._save(acct))
            return AccountView.of(acct, now, self._position(acct.id, acct.version))

        return self._run(attempt)

    def latest_position(self, aggregate: Aggregate) -> int | None:
        """The log position of the aggregate's latest event."""
        return self._position(aggregate.id, aggregate.version)

    def account_business(self, account: UUID) -> str:
        """The business an account belongs to (it never changes, so the cache answers)."""
        return self._account(account).business_id

    def hold_account(self, hold_id: UUID) -> UUID:
        """The account a hold is on (it never changes, so the cache answers)."""
        return self._get(Hold, hold_id, HoldNotFound, "hold").account_id

    def get_account(self, account: UUID) -> AccountView:
        """The account with its balances, as of now (strongly consistent)."""
        return AccountView.of(self._fresh(self._account(account)), self.clock())

    # -- transfers -----------------------------------------------------------------

    def transfer(
        self, from_account: UUID, to_account: UUID, amount: int, currency: str, idempotency_key: str, memo: str = ""
    ) -> TransferView:
        """Move money between two customer accounts of one currency."""
        transfer_id, request, postings = self._transfer_request(from_account, to_account, amount, currency, idempotency_key, memo)

        def attempt() -> TransferView:
            return self._post_new(
                transfer_id, request, TransferKind.TRANSFER, currency, postings,
                memo=memo, customers=(from_account, to_account),
            )

        return self._run(attempt, self._once_transfer(transfer_id, request, "transfer key"))

    def transfer_many(self, items: Sequence[TransferRequest]) -> list[TransferView | LedgerError]:
        """Many transfers, in order, each idempotent by its own key; one result per item.

        Group commit: all of them are applied in memory and saved in one
        transaction. If any is refused, repeated or meets a concurrent writer,
        that attempt is dropped whole and each item runs as its own command,
        in order, so the results are exactly those of sequential transfers.
        """
        if len(items) > BATCH_SIZE_MAX:
            raise ValidationError(f"a batch holds at most {BATCH_SIZE_MAX} transfers, got {len(items)}")
        prepared: list[tuple[TransferRequest, Transfer] | LedgerError] = []
        for item in items:
            try:
                transfer_id, request, postings = self._transfer_request(**item)
                prepared.append((item, Transfer.post(
                    transfer_id, TransferKind.TRANSFER, item["currency"], postings,
                    request_hash=request, memo=item.get("memo", ""),
                )))
            except LedgerError as error:
                prepared.append(error)
        transfers = [p[1] for p in prepared if isinstance(p, tuple)]
        try:
            recordings = self._save_batch(transfers)
        except (LedgerError, IntegrityError):
            return [p if isinstance(p, LedgerError) else self._try(lambda item=p[0]: self.transfer(**item)) for p in prepared]
        positions = {r.domain_event.originator_id: r.notification.id for r in recordings}
        self.stats.add("commands", len(transfers))
        return [p if isinstance(p, LedgerError) else TransferView.of(p[1], positions[p[1].id]) for p in prepared]

    def _save_batch(self, transfers: list[Transfer]) -> list[Any]:
        """Apply the transfers in order to shared accounts and save them all in one transaction;
        on a refusal or a conflict, evict what was read and let the caller fall back."""
        self._reads.ids = []
        accounts: dict[UUID, Account] = {}
        try:
            for transfer in transfers:
                self._apply(transfer, accounts, (transfer.postings[0]["account"], transfer.postings[1]["account"]))
            return self.save(*accounts.values(), *transfers)
        except (LedgerError, IntegrityError):
            self._evict(self._reads.ids)
            raise
        finally:
            self._reads.ids = None

    @staticmethod
    def _try(command: Callable[[], T]) -> T | LedgerError:
        try:
            return command()
        except LedgerError as error:
            return error

    def _transfer_request(
        self, from_account: UUID, to_account: UUID, amount: int, currency: str, idempotency_key: str, memo: str = ""
    ) -> tuple[UUID, str, list[dict[str, Any]]]:
        """Check a transfer's input; return its id, request fingerprint and postings."""
        check_amount(amount)
        check_currency(currency)
        check_key(idempotency_key)
        check_text(memo, "memo")
        if from_account == to_account:
            raise AccountsMustBeDifferent("from_account and to_account must be different accounts")
        request = ids.fingerprint(
            from_account=from_account, to_account=to_account, amount=amount, currency=currency, memo=memo
        )
        postings = [posting(from_account, Side.DEBIT, amount), posting(to_account, Side.CREDIT, amount)]
        return ids.command_id("transfer", idempotency_key), request, postings

    def book_recharge(
        self, account: UUID, amount: int, currency: str, channel: str, idempotency_key: str
    ) -> TransferView:
        """The accounting of a succeeded recharge: Dr the channel's pending_reconciliation, Cr the account."""
        check_amount(amount)
        check_currency(currency)
        check_code(channel, "channel")
        check_key(idempotency_key)
        transfer_id = ids.command_id("recharge", idempotency_key)
        request = ids.fingerprint(account=account, amount=amount, currency=currency, channel=channel)

        def attempt() -> TransferView:
            suspense, new = self._system_account(SystemRole.PENDING_RECONCILIATION, currency, channel)
            postings = [posting(suspense, Side.DEBIT, amount), posting(account, Side.CREDIT, amount)]
            return self._post_new(
                transfer_id, request, TransferKind.RECHARGE, currency, postings,
                references={"channel": channel}, customers=(account,), new_accounts=new,
            )

        return self._run(attempt, self._once_transfer(transfer_id, request, "recharge key"))

    def adjust(
        self, account: UUID, amount: int, currency: str, direction: str, reason: str, idempotency_key: str
    ) -> TransferView:
        """An operator's manual adjustment against the `difference` system account."""
        check_amount(amount)
        check_currency(currency)
        if direction not in (Side.CREDIT, Side.DEBIT):
            raise ValidationError(f"direction must be 'credit' or 'debit', got {direction!r}")
        check_text(reason, "reason", required=True)
        check_key(idempotency_key)
        transfer_id = ids.command_id("adjustment", idempotency_key)
        request = ids.fingerprint(account=account, amount=amount, currency=currency, direction=direction, reason=reason)

        def attempt() -> TransferView:
            difference, new = self._system_account(SystemRole.DIFFERENCE, currency)
            source, target = (difference, account) if direction == Side.CREDIT else (account, difference)
            postings = [posting(source, Side.DEBIT, amount), posting(target, Side.CREDIT, amount)]
            return self._post_new(
                transfer_id, request, TransferKind.ADJUSTMENT, currency, postings,
                memo=reason, references={"direction": direction}, customers=(account,), new_accounts=new,
            )

        return self._run(attempt, self._once_transfer(transfer_id, request, "adjustment key"))

    def reverse_transfer(self, transfer_id: UUID, idempotency_key: str, reason: str) -> TransferView:
        """Post the transfer's postings again with the sides swapped; once per transfer."""
        check_key(idempotency_key)
        check_text(reason, "reason", required=True)
        reversal_id = ids.command_id("reversal", idempotency_key)
        request = ids.fingerprint(transfer_id=transfer_id, reason=reason)

        def attempt() -> TransferView:
            original = self._get(Transfer, transfer_id, TransferNotFound, "transfer")
            original.mark_reversed(reversal_id)
            return self._post_new(
                reversal_id, request, TransferKind.REVERSAL, original.currency, reversed_postings(original.postings),
                memo=reason, references={"reverses": str(original.id)}, also_save=(original,),
            )

        return self._run(attempt, self._once_transfer(reversal_id, request, "reversal key"))

    def get_transfer(self, transfer_id: UUID) -> TransferView:
        return TransferView.of(self._fresh(self._get(Transfer, transfer_id, TransferNotFound, "transfer")))

    # -- holds (freeze, unfreeze, capture) -------------------------------------------

    def place_hold(
        self, account: UUID, amount: int, idempotency_key: str, reason: str = "", expires_at: datetime | None = None
    ) -> HoldView:
        """Freeze part of an account's balance: it stops counting as available."""
        check_amount(amount)
        check_key(idempotency_key)
        check_text(reason, "reason")
        check_expiry(expires_at, self.clock())
        hold_id = ids.command_id("hold", idempotency_key)
        request = ids.fingerprint(account=account, amount=amount, reason=reason, expires_at=expires_at)

        def attempt() -> HoldView:
            now = self.clock()
            acct = self._customer_account(account)
            acct.expire_holds(now)
            acct.place_hold(hold_id, amount, expires_at, now)
            hold = Hold(
                id=hold_id, account_id=acct.id, currency=acct.currency, amount=amount,
                reason=reason, expires_at=expires_at, request_hash=request,
            )
            return HoldView.of(hold, now, self._save(acct, hold))

        answer = lambda hold, position: HoldView.of(hold, self.clock(), position)  # noqa: E731
        return self._run(attempt, Once(Hold, hold_id, request, "hold key", answer))

    def release_hold(self, hold_id: UUID, amount: int | None = None, idempotency_key: str | None = None) -> HoldView:
        """Unfreeze all (amount None) or part of what a hold still holds."""
        if amount is not None:
            check_amount(amount)
        operation = self._operation("release", idempotency_key)
        request = ids.fingerprint(amount=amount)

        def attempt() -> HoldView:
            now = self.clock()
            hold = self._get(Hold, hold_id, HoldNotFound, "hold")
            if operation in hold.operations:
                return HoldView.of(hold, now, self._repeat_operation(hold, operation, request))
            to_release = hold.check_open(amount, now)
            acct = self._customer_account(hold.account_id)
            acct.release_hold(hold.id, to_release, now)
            hold.release(to_release, operation, request)
            return HoldView.of(hold, now, self._save(acct, hold))

        return self._run(attempt)

    def capture_hold(
        self, hold_id: UUID, to_account: UUID, amount: int | None = None,
        idempotency_key: str | None = None, memo: str = "",
    ) -> TransferView:
        """Turn all (amount None) or part of a hold into a posted transfer to another customer account."""
        if amount is not None:
            check_amount(amount)
        check_text(memo, "memo")
        operation = self._operation("capture", idempotency_key)
        transfer_id = ids.command_id("capture", f"{hold_id}\x1f{operation}")
        request = ids.fingerprint(to_account=to_account, amount=amount, memo=memo)

        def attempt() -> TransferView:
            now = self.clock()
            hold = self._get(Hold, hold_id, HoldNotFound, "hold")
            if operation in hold.operations:
                self._repeat_operation(hold, operation, request)
                transfer = self._get(Transfer, transfer_id, TransferNotFound, "transfer")
                return TransferView.of(transfer, self._position(transfer.id, 1))
            if to_account == hold.account_id:
                raise AccountsMustBeDifferent("a hold cannot be captured to the account it holds")
            to_capture = hold.check_open(amount, now)
            hold.capture(to_capture, transfer_id, operation, request)
            postings = [posting(hold.account_id, Side.DEBIT, to_capture), posting(to_account, Side.CREDIT, to_capture)]
            return self._post_new(
                transfer_id, request, TransferKind.CAPTURE, hold.currency, postings, memo=memo,
                references={"hold": str(hold.id)}, customers=(hold.account_id, to_account),
                capture=hold, also_save=(hold,),
            )

        return self._run(attempt)

    def get_hold(self, hold_id: UUID) -> HoldView:
        return HoldView.of(self._fresh(self._get(Hold, hold_id, HoldNotFound, "hold")), self.clock())

    # -- the event log -----------------------------------------------------------------

    def read_log(self, after: int = 0, limit: int = 1000) -> list[tuple[int, Any]]:
        """Up to `limit` domain events after log position `after`, in order, with their positions."""
        notifications = self.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False)
        return [(n.id, self.mapper.to_domain_event(n)) for n in notifications]

    def head(self) -> int:
        """The log position of the newest event (0 for an empty log)."""
        return self.recorder.max_notification_id() or 0

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
        transfer = Transfer.post(
            transfer_id, kind, currency, postings, request_hash=request, memo=memo, references=references
        )
        accounts: dict[UUID, Account] = {}
        self._apply(transfer, accounts, customers, {a.id for a in new_accounts}, capture)
        position = self._save(*accounts.values(), *new_accounts, *also_save, transfer)
        self._system_account_ids.update(a.id for a in new_accounts)
        return TransferView.of(transfer, position)

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
            try:
                self.repository.cache.get(aggregate_id, evict=True)
            except KeyError:
                pass

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
