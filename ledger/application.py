"""FundCenter: the ledger's facade, one short method per command or query.

Each command method builds a command (ledger.commands) and hands it, with its
handler (ledger.handlers), to the process's one writer (ledger.writer), which
runs it in its turn, batched with others where it can be; the handler checks it
and runs it through the unit of work (ledger.unit_of_work): load, decide, save
once. A transfer reads, in order:
`FundCenter.transfer` -> `Writer.run` -> `handlers.transfers.transfer` -> `posting.post` (the
one posting engine) -> `Account.debit`/`credit` (ledger.domain) -> one
`Attempt.commit`.

FundCenter is also the eventsourcing Application (its event store, cache,
snapshots and notification log), which the projections read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent, Repository
from eventsourcing.domain import Aggregate, BaseAggregate
from eventsourcing.persistence import JSONTranscoder, Transcoding

from . import approval_commands as ac
from . import commands as c
from . import day_commands as dc
from . import store
from . import webhook_commands as wc
from .aggregate_cache import AggregateCache
from .approval_views import ApprovalView
from .audit.days import Signer
from .audit.merkle import Leaf
from .clock import system_clock
from .collector import rare_young_collections
from .domain.access import ApiKey, Principal, Role, parse_key
from .domain.accounting_day import AccountingDay
from .domain.accounts import Account
from .domain.aggregate import Clock
from .domain.cards import CardBinding
from .domain.channels import Catalog
from .domain.days import DayClose, DayStillCommitting
from .domain.errors import HoldNotFound, KeyNotFound, LedgerError, TransferNotFound, ValidationError
from .domain.fees import FeeRule
from .domain.holds import Hold
from .domain.payments import Payment, Recharge, Withdrawal
from .domain.postings import HoldEntry
from .domain.reconciliation import DEFAULT_CURRENCY, ReconciledDay, Reconciliation
from .domain.transfers import Transfer
from .handlers import accounts, approvals, catalog, days, holds, keys, payments, reconciliation, transfers, webhooks
from .handlers.references import Claim, claimed, submitted
from .idempotency import Replay, run_once
from .reconciliation import CloseFigures, StatementMatch
from .staged_save import StagedSave
from .unit_of_work import UnitOfWork
from .views import AccountView, ApiKeyView, BindingView, HoldView, TransferView
from .webhook_views import WebhookEndpointView
from .writer import Writer
from .writer_turns import WriterTurns

T = TypeVar("T")
AGGREGATE_CACHE_MAXSIZE = 10_000  # aggregates other than accounts kept in memory (transfers, holds, records)
ACCOUNT_CACHE_MAXSIZE = 100_000  # accounts kept in memory (ledger/aggregate_cache.py); FUNDCENTER_ACCOUNT_CACHE_SIZE
ACCOUNT_SNAPSHOT_INTERVAL_EVENTS = 500  # an account's events between two snapshots
LOG_PAGE_SIZE_DEFAULT = 1000  # events read_log returns unless asked for another number
TURNS_ON = ("1", "true", "yes", "y", "on")  # the values of FUNDCENTER_WRITER_TURNS that turn it on


class HoldEntryAsDict(Transcoding):
    """An account's open hold in its snapshots."""

    type = HoldEntry
    name = "hold_entry"

    def encode(self, obj: HoldEntry) -> dict[str, Any]:
        return {"remaining": obj.remaining, "expires_at": obj.expires_at, "purpose": obj.purpose}

    def decode(self, data: dict[str, Any]) -> HoldEntry:
        return HoldEntry(**data)


class FundCenter(Application[UUID]):
    name = "fundcenter"
    # The cache is not fast-forwarded on each get: the unit of work's attempts make that safe.
    env = {"AGGREGATE_CACHE_MAXSIZE": str(AGGREGATE_CACHE_MAXSIZE), "AGGREGATE_CACHE_FASTFORWARD": "n"}
    snapshotting_intervals = {Account: ACCOUNT_SNAPSHOT_INTERVAL_EVENTS}

    def __init__(
        self, url: str | None = None, *, clock: Clock | None = None, accounting_day: AccountingDay | None = None,
        actor: str | None = None, env: dict[str, str] | None = None, migrate: bool = True,
    ) -> None:
        self.database = store.Database.from_url(url)
        if migrate:
            store.migrate(self.database)
        self.clock: Clock = clock or system_clock  # every command's time, and its events' stamps
        self.accounting_day = accounting_day or AccountingDay()  # the day each transfer records
        self.unit_of_work = UnitOfWork(self, self.clock, self.accounting_day, actor, self.database)
        self.actor, self.stats = self.unit_of_work.actor, self.unit_of_work.stats
        self.writer = Writer(self.unit_of_work)  # every command of this process goes through it
        super().__init__(env={**self.database.eventsourcing_env(), **(env or {})})
        if self.database.kind == "postgresql" and (self.env.get("FUNDCENTER_WRITER_TURNS") or "").lower() in TURNS_ON:
            self.writer.turns = WriterTurns(self, self.database.connect_kwargs())

    def construct_repository(self) -> Repository[UUID]:
        """The library's repository, its cache an `AggregateCache`: accounts apart from the rest, so
        that the transfers made never push the accounts out (`FUNDCENTER_ACCOUNT_CACHE_SIZE` accounts,
        100,000 unless set; the library's `AGGREGATE_CACHE_MAXSIZE` for the rest, 10,000)."""
        repository = super().construct_repository()
        accounts = int(self.env.get("FUNDCENTER_ACCOUNT_CACHE_SIZE") or ACCOUNT_CACHE_MAXSIZE)
        others = int(self.env.get(self.AGGREGATE_CACHE_MAXSIZE) or AGGREGATE_CACHE_MAXSIZE)
        repository.cache = AggregateCache(accounts, others)
        return repository

    def close(self) -> None:
        """Run the commands queued, then close the event store."""
        self.writer.stop()
        if self.writer.turns is not None:
            self.writer.turns.close()
        super().close()

    def save(self, *objs: Any, **kwargs: Any) -> list[Any]:
        """eventsourcing's `Application.save()` (record, snapshots, notifications, in its order), but an
        aggregate of ours is told apart by its class rather than by the library's runtime protocol checks
        (two `isinstance` against `typing` protocols per object, a tenth of a batch's Python); anything
        else takes the library's own path."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        events, aggregates = processing_event.events, processing_event.aggregates
        for obj in objs:
            if isinstance(obj, BaseAggregate):
                events.extend(obj.collect_events())
                aggregates[obj.id] = obj
            elif obj is not None:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._after_record(processing_event, recordings)
        return recordings

    def staged_save(self) -> StagedSave:
        """A save sent in parts as a command makes them (ledger/staged_save.py)."""
        return StagedSave(self)

    def recorded(self, processing_event: ProcessingEvent[UUID], recordings: list[Any]) -> None:
        """What `save()` does once a staged save's events are recorded: the library's `_record`
        caches the aggregates saved, then the rest of `save()`."""
        if self.repository.cache and not self.repository.fastforward:
            for aggregate_id, aggregate in processing_event.aggregates.items():
                self.repository.cache.put(aggregate_id, aggregate)
        self._after_record(processing_event, recordings)

    def _after_record(self, processing_event: ProcessingEvent[UUID], recordings: list[Any]) -> None:
        if self.writer.turns is not None and recordings:
            self.writer.turns.wrote(recordings[-1].notification.id)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # deprecated by the library, kept as its save() calls it

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """A snapshot of each saved aggregate whose save took it to or past a multiple of its class's
        interval (eventsourcing's trigger), taken of the aggregate just saved, in memory, at the
        version saved; all of a save's snapshots in one insert.

        The library takes the snapshot at the very event that reached the multiple, reconstructing
        the aggregate from the store: reading its last snapshot and up to ACCOUNT_SNAPSHOT_INTERVAL_EVENTS
        events and applying each with a runtime protocol check, 18 ms of CPU a snapshot. One by one,
        a transfer brings two accounts an event each, so once accounts were past their first
        snapshot that was about 70 us a transfer; in `transfer_many`, whose saves bring an account
        several events, the multiple is rarely an account's last event of the save: in 8 s of
        `transfer_many(100)` among 50 accounts (`bench/goals.py`), 111 rebuilds took 1.59 of the
        caller's 6.15 CPU-seconds. The aggregate saved is its events applied, as
        every command's is, so its snapshot is the reconstruction's at its version
        (`tests/test_snapshots.py` compares the two, and `fundcenter audit verify` checks every
        snapshot against the events); a snapshot a few events past the multiple serves as well as
        one at it (an aggregate is read from its newest snapshot and the events after). A class
        with a snapshotting projector of its own takes the library's way."""
        if not (self.snapshots and self.snapshotting_intervals):
            return
        aggregates, due = processing_event.aggregates, {}
        for event in processing_event.events:
            aggregate = aggregates.get(event.originator_id)
            if aggregate is None:
                continue
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval is None or event.originator_version % interval != 0:
                continue
            if type(aggregate) in self.snapshotting_projectors:
                self.take_snapshot(event.originator_id, version=event.originator_version,
                                   projector_func=self.snapshotting_projectors[type(aggregate)])
            else:
                due[aggregate.id] = aggregate
        if due:
            taken = []
            for aggregate in due.values():
                snapshot_class = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
                assert snapshot_class is not None
                taken.append(snapshot_class.take(aggregate))
            self.snapshots.put(taken)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(HoldEntryAsDict())

    # -- accounts ------------------------------------------------------------------------------------

    def open_account(
        self, kind: str, business_id: str, external_ref: str, currency: str, name: str = "", *, channel: str | None = None
    ) -> AccountView:
        return self.writer.run(accounts.open_account, c.OpenAccount(kind, business_id, external_ref, currency, name, channel))

    def set_account_status(
        self, account: UUID, status: str, *, idempotency_key: str | None = None, by: str | None = None,
        reason: str | None = None,
    ) -> AccountView:
        return self.writer.run(accounts.set_account_status, c.SetAccountStatus(account, status, idempotency_key, by, reason))

    def get_account(self, account: UUID) -> AccountView:
        """The account with its balances, as of now (strongly consistent)."""
        return AccountView.of(self.unit_of_work.fresh(self.unit_of_work.get(Account, account)), self.clock())

    def account_business(self, account: UUID) -> str:
        """The business an account belongs to (it never changes, so the cache answers)."""
        return self.unit_of_work.get(Account, account).business_id

    def submit(self, command: c.PostTransfer | c.PlaceHold | c.ReleaseHold | c.CaptureHold) -> Future[Any] | None:
        """A transfer or a hold's command handed to the writer without waiting (`Writer.submit`): a
        Future of what its method (`transfer`, `place_hold`, `release_hold`, `capture_hold`) answers,
        for a caller that must not block. A command with a reference is handed over under its claim
        (`references.submitted`); None when that claim cannot be settled without a read (its account
        not in the cache, or its reference's record in it: a repeat, whose answer reads): such a
        command goes through its method. The Future raises
        `idempotency.Unfinished` when the answer needs the store after all (a repeat found on the way)."""
        handler = _SUBMITTED[type(command)]
        claim: Claim[Any] | None
        if isinstance(command, c.PostTransfer):
            claim = transfers.transfer_claim(command)
        elif isinstance(command, c.PlaceHold):
            claim = holds.hold_claim(self.unit_of_work, command)
        else:
            claim = None  # releases and captures take no reference
        if claim is None:
            return self.writer.submit(handler, command)
        return submitted(self.unit_of_work, claim, lambda: self.writer.submit(handler, command))

    def known_hold_account(self, hold_id: UUID) -> UUID | None:
        """`hold_account` if the cache holds the hold, else None: never a read (see `known_account_business`)."""
        found = self.unit_of_work.in_cache(Hold, hold_id)
        return None if found is None else found.account_id

    def known_account_business(self, account: UUID) -> str | None:
        """`account_business` if the cache holds the account, else None: never a read, so that an event
        loop may ask (and, on None, ask `account_business` where it may block)."""
        found = self.unit_of_work.in_cache(Account, account)
        return None if found is None else found.business_id

    # -- transfers -----------------------------------------------------------------------------------

    def transfer(
        self, from_account: UUID, to_account: UUID, amount: int, currency: str, idempotency_key: str, memo: str = "",
        *, reference: str | None = None,
    ) -> TransferView:
        cmd = c.PostTransfer(from_account, to_account, amount, currency, idempotency_key, memo, reference)
        return claimed(self.unit_of_work, transfers.transfer_claim(cmd), lambda: self.writer.run(transfers.transfer, cmd))

    def transfer_many(self, items: Sequence[c.TransferRequest]) -> list[TransferView | LedgerError]:
        with rare_young_collections():  # the batch's objects live until it is saved (ledger/collector.py)
            return self.writer.run(transfers.transfer_many, c.PostTransfers(tuple(items)))

    def book_recharge(self, account: UUID, amount: int, currency: str, channel: str, idempotency_key: str) -> TransferView:
        return self.writer.run(transfers.book_recharge, c.BookRecharge(account, amount, currency, channel, idempotency_key))

    def adjust(
        self, account: UUID, amount: int, currency: str, direction: str, reason: str, idempotency_key: str,
        *, by: str | None = None,
    ) -> TransferView:
        cmd = c.Adjust(account, amount, currency, direction, reason, idempotency_key, by)
        return self.writer.run(transfers.adjust, cmd)

    def reverse_transfer(self, transfer_id: UUID, idempotency_key: str, reason: str, *, by: str | None = None) -> TransferView:
        return self.writer.run(transfers.reverse_transfer, c.ReverseTransfer(transfer_id, idempotency_key, reason, by))

    def get_transfer(self, transfer_id: UUID) -> TransferView:
        uow = self.unit_of_work
        return TransferView.of(uow.fresh(uow.get(Transfer, transfer_id, TransferNotFound, "transfer")))

    # -- holds ---------------------------------------------------------------------------------------

    def place_hold(
        self, account: UUID, amount: int, idempotency_key: str, reason: str = "", expires_at: datetime | None = None,
        *, reference: str | None = None,
    ) -> HoldView:
        cmd = c.PlaceHold(account, amount, idempotency_key, reason, expires_at, reference)
        claim = holds.hold_claim(self.unit_of_work, cmd)
        return claimed(self.unit_of_work, claim, lambda: self.writer.run(holds.place_hold, cmd))

    def release_hold(self, hold_id: UUID, amount: int | None = None, idempotency_key: str | None = None) -> HoldView:
        return self.writer.run(holds.release_hold, c.ReleaseHold(hold_id, amount, idempotency_key))

    def capture_hold(
        self, hold_id: UUID, to_account: UUID, amount: int | None = None, idempotency_key: str | None = None,
        memo: str = "",
    ) -> TransferView:
        return self.writer.run(holds.capture_hold, c.CaptureHold(hold_id, to_account, amount, idempotency_key, memo))

    def hold_account(self, hold_id: UUID) -> UUID:
        """The account a hold is on (it never changes, so the cache answers)."""
        return self.unit_of_work.get(Hold, hold_id, HoldNotFound, "hold").account_id

    def get_hold(self, hold_id: UUID) -> HoldView:
        uow = self.unit_of_work
        return HoldView.of(uow.fresh(uow.get(Hold, hold_id, HoldNotFound, "hold")), self.clock())

    # -- API keys ------------------------------------------------------------------------------------

    def create_api_key(
        self, role: str, business_id: str | None = None, name: str = "", created_by: str = "cli",
        *, idempotency_key: str | None = None, holder: str | None = None,
    ) -> tuple[ApiKeyView, str | None]:
        cmd = c.CreateApiKey(role, business_id, name, created_by, idempotency_key, holder)
        return self.writer.run(keys.create_api_key, cmd)

    def revoke_api_key(self, key_id: UUID, by: str) -> ApiKeyView:
        return self.writer.run(keys.revoke_api_key, c.RevokeApiKey(key_id, by))

    def grant_role(
        self, key_id: UUID, role: str, business_id: str | None, by: str, *, idempotency_key: str | None = None
    ) -> ApiKeyView:
        return self.writer.run(keys.grant_role, c.GrantRole(key_id, role, business_id, by, idempotency_key))

    def authenticate(self, token: str) -> Principal | None:
        """The principal a bearer token stands for, or None (unknown, malformed, wrong secret, revoked)."""
        parsed = parse_key(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        key = self.unit_of_work.find(ApiKey, key_id)
        if key is None or key.revoked:
            return None
        key = self.unit_of_work.fresh(key)  # a revocation or a new role made by another process counts at once
        if not key.matches(secret):
            return None
        return Principal(key.id, Role(key.role), key.business_id)

    def key_holder(self, key_id: UUID) -> str:
        """Who holds a key (its id when it was made without a holder): it never changes."""
        return self.unit_of_work.get(ApiKey, key_id, KeyNotFound, "api key").holder_name

    # -- the channel catalog ---------------------------------------------------------------------------

    def catalog(self) -> Catalog:
        return catalog.catalog(self.unit_of_work)

    def register_bank(self, code: str, name: str, *, idempotency_key: str | None = None, by: str | None = None) -> Catalog:
        return self.writer.run(catalog.change_catalog, c.RegisterBank(code, name, idempotency_key=idempotency_key, by=by))

    def register_channel(
        self, code: str, name: str, logo_url: str = "", *, idempotency_key: str | None = None, by: str | None = None,
    ) -> Catalog:
        cmd = c.RegisterChannel(code, name, logo_url, idempotency_key=idempotency_key, by=by)
        return self.writer.run(catalog.change_catalog, cmd)

    def set_channel_status(
        self, code: str, status: str, *, idempotency_key: str | None = None, by: str | None = None
    ) -> Catalog:
        cmd = c.SetChannelStatus(code, status, idempotency_key=idempotency_key, by=by)
        return self.writer.run(catalog.change_catalog, cmd)

    def configure_product(
        self, code: str, method: str, fee: dict[str, Any], banks: dict[str, dict[str, Any]],
        *, idempotency_key: str | None = None, by: str | None = None,
    ) -> Catalog:
        cmd = c.ConfigureProduct(code, method, self.fee_rule(fee), banks, idempotency_key=idempotency_key, by=by)
        return self.writer.run(catalog.change_catalog, cmd)

    @staticmethod
    def fee_rule(fee: dict[str, Any]) -> FeeRule:
        try:
            return FeeRule(**fee)
        except TypeError as error:
            raise ValidationError(f"fee takes rate_bps, fixed, minimum and maximum: {error}") from None

    def set_route(
        self, business_id: str, method: str, entries: list[dict[str, Any]], *,
        idempotency_key: str | None = None, by: str | None = None,
    ) -> Catalog:
        cmd = c.SetRoute(business_id, method, entries, idempotency_key=idempotency_key, by=by)
        return self.writer.run(catalog.change_catalog, cmd)

    # -- card bindings, recharges and withdrawals ------------------------------------------------------

    def record_binding(self, binding_id: UUID, request: str, failures: dict[str, str], **fields: Any) -> BindingView:
        return self.writer.run(payments.record_binding, c.RecordBinding(binding_id, request, failures, fields))

    def get_binding(self, binding_id: UUID) -> CardBinding:
        return payments.binding(self.unit_of_work, binding_id)

    def unbind_card(self, binding_id: UUID) -> BindingView:
        return self.writer.run(payments.unbind_card, c.UnbindCard(binding_id))

    def request_recharge(
        self, recharge_id: UUID, request: str, account: UUID, amount: int, currency: str,
        method: str, bank: str, binding_id: UUID | None, route: c.Route | None = None, *, reference: str | None = None,
    ) -> tuple[Recharge, bool]:
        cmd = c.RequestRecharge(recharge_id, request, account, amount, currency, method, bank, binding_id, route, reference)
        claim = payments.recharge_claim(self.unit_of_work, cmd)
        return claimed(self.unit_of_work, claim, lambda: self.writer.run(payments.request_recharge, cmd))

    def request_withdrawal(
        self, withdrawal_id: UUID, request: str, account: UUID, amount: int, currency: str,
        bank: str, binding_id: UUID, route: c.Route | None = None, *, reference: str | None = None,
    ) -> tuple[Withdrawal, bool]:
        cmd = c.RequestWithdrawal(withdrawal_id, request, account, amount, currency, bank, binding_id, route, reference)
        claim = payments.withdrawal_claim(self.unit_of_work, cmd)
        return claimed(self.unit_of_work, claim, lambda: self.writer.run(payments.request_withdrawal, cmd))

    def get_payment(self, payment_id: UUID) -> Payment:
        return payments.payment(self.unit_of_work, payment_id)

    def record_route(self, payment_id: UUID, channel: str, reason: str, skipped: list[dict[str, str]]) -> Payment:
        return self.writer.run(payments.record_route, c.RecordRoute(payment_id, channel, reason, skipped))

    def record_refusal(self, payment_id: UUID, channel: str, reason: str) -> Payment:
        return self.writer.run(payments.record_refusal, c.RecordRefusal(payment_id, channel, reason))

    def record_submission(
        self, payment_id: UUID, status: str, channel_txn_id: str | None, redirect_url: str | None = None
    ) -> Payment:
        cmd = c.RecordSubmission(payment_id, status, channel_txn_id, redirect_url)
        return self.writer.run(payments.record_submission, cmd)

    def settle_payment(
        self, payment_id: UUID, outcome: str, *, channel_txn_id: str | None = None, fee: int = 0,
        reason: str = "", notification: str | None = None,
    ) -> Payment:
        cmd = c.SettlePayment(payment_id, outcome, channel_txn_id, fee, reason, notification)
        return self.writer.run(payments.settle_payment, cmd)

    # -- reconciliation ------------------------------------------------------------------------------

    def record_import(
        self, reconciliation_id: UUID, channel: str, day: str, file_hash: str, match: StatementMatch, by: str,
        currency: str = DEFAULT_CURRENCY,
    ) -> Reconciliation:
        cmd = c.RecordImport(reconciliation_id, channel, day, file_hash, match, by, currency)
        return self.writer.run(reconciliation.record_import, cmd)

    def reconciled_day(self, channel: str, day: str, currency: str = DEFAULT_CURRENCY) -> ReconciledDay | None:
        return reconciliation.reconciled_day(self.unit_of_work, channel, day, currency)

    def get_reconciliation(self, reconciliation_id: UUID) -> Reconciliation:
        return reconciliation.reconciliation(self.unit_of_work, reconciliation_id)

    def record_resolution(
        self, reconciliation_id: UUID, seq: int, difference_class: str, action: str, by: str, reason: str,
        transfer_ids: list[UUID], settles: int = 0,
    ) -> Reconciliation:
        cmd = c.RecordResolution(reconciliation_id, seq, difference_class, action, by, reason, transfer_ids, settles)
        return self.writer.run(reconciliation.record_resolution, cmd)

    def close_reconciliation(self, reconciliation_id: UUID, figures: CloseFigures, by: str) -> Reconciliation:
        cmd = c.CloseReconciliation(reconciliation_id, figures, by)
        return self.writer.run(reconciliation.close_reconciliation, cmd)

    def post_difference(
        self, transfer_key: str, channel: str, currency: str, delta: int, memo: str, references: dict[str, str],
    ) -> Transfer:
        cmd = c.PostDifference(transfer_key, channel, currency, delta, memo, references)
        return self.writer.run(reconciliation.post_difference, cmd)

    def reverse_payment(self, payment_id: UUID, reason: str, key: str) -> list[Transfer]:
        return self.writer.run(reconciliation.reverse_payment, c.ReversePayment(payment_id, reason, key))

    # -- idempotency keys for commands whose ids do not come from one (ledger.idempotency) -------------

    def idempotent(
        self, key: str, operation: str, request: str, run: Callable[[], T], replay: Replay[T], *,
        target: Callable[[Any], bool] | None = None, refer: Callable[[T], Iterable[UUID]] = lambda result: (),
    ) -> T:
        return run_once(self.unit_of_work, key, operation, request, run, replay, target=target, refer=refer)

    # -- time, positions and the log -------------------------------------------------------------------

    def day_of(self, moment: datetime) -> str:
        """The accounting day an instant belongs to, as the views key it (YYYY-MM-DD)."""
        return self.unit_of_work.day_of(moment)

    def today(self) -> str:
        """The accounting day it is now."""
        return self.day_of(self.clock())

    def latest_position(self, aggregate: Aggregate) -> int | None:
        """The log position of the aggregate's latest event."""
        return self.unit_of_work.position(aggregate.id, aggregate.version)

    def read_log(self, after: int = 0, limit: int = LOG_PAGE_SIZE_DEFAULT) -> list[tuple[int, Any]]:
        """Up to `limit` domain events after log position `after`, in order, with their positions."""
        notifications = self.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False)
        return [(n.id, self.mapper.to_domain_event(n)) for n in notifications]

    def head(self) -> int:
        """The log position of the newest event (0 for an empty log)."""
        return self.recorder.max_notification_id() or 0

    # -- webhook endpoints (ledger/handlers/webhooks.py) -----------------------------------------------

    def create_webhook_endpoint(
        self, url: str, events: Sequence[str], business_id: str | None, description: str = "", created_by: str = "cli",
        *, idempotency_key: str | None = None,
    ) -> tuple[WebhookEndpointView, str | None]:
        """A new endpoint and its signing secret, shown this once (None on a repeat of the same key).
        The URL must have been checked by the caller (ledger.webhook_urls.check_url)."""
        cmd = wc.CreateWebhookEndpoint(url, tuple(events), business_id, description, created_by, idempotency_key)
        return webhooks.create_webhook_endpoint(self.unit_of_work, cmd)

    def get_webhook_endpoint(self, endpoint_id: UUID) -> WebhookEndpointView:
        return WebhookEndpointView.of(webhooks.endpoint(self.unit_of_work, endpoint_id))

    def webhook_signing_secret(self, endpoint_id: UUID) -> str:
        """What the deliverer signs with (never returned by the API after it was made)."""
        return webhooks.endpoint(self.unit_of_work, endpoint_id).signing_secret

    def disable_webhook_endpoint(self, endpoint_id: UUID, by: str, idempotency_key: str | None = None) -> WebhookEndpointView:
        return webhooks.disable_webhook_endpoint(self.unit_of_work, wc.DisableWebhookEndpoint(endpoint_id, by, idempotency_key))

    def enable_webhook_endpoint(self, endpoint_id: UUID, by: str, idempotency_key: str | None = None) -> WebhookEndpointView:
        return webhooks.enable_webhook_endpoint(self.unit_of_work, wc.EnableWebhookEndpoint(endpoint_id, by, idempotency_key))

    def delete_webhook_endpoint(self, endpoint_id: UUID, by: str) -> WebhookEndpointView:
        return webhooks.delete_webhook_endpoint(self.unit_of_work, wc.DeleteWebhookEndpoint(endpoint_id, by))

    def replay_webhooks(self, endpoint_id: UUID, from_position: int, by: str,
                        idempotency_key: str | None = None) -> WebhookEndpointView:
        """Ask for the endpoint's webhooks from `from_position` on again (the outbox does it at the answer's position)."""
        cmd = wc.ReplayWebhooks(endpoint_id, from_position, by, idempotency_key)
        return webhooks.replay_webhooks(self.unit_of_work, cmd)

    def record_projection_halt(self, projection: str, position: int, error: str) -> bool:
        """That the projections halted at `position` (for staff webhooks); False if it was recorded already."""
        return webhooks.record_projection_halt(self.unit_of_work, wc.RecordProjectionHalt(projection, position, error))

    def rotate_webhook_secret(self, endpoint_id: UUID, by: str,
                              idempotency_key: str | None = None) -> tuple[WebhookEndpointView, str | None]:
        return webhooks.rotate_webhook_secret(self.unit_of_work, wc.RotateWebhookSecret(endpoint_id, by, idempotency_key))

    # -- four-eyes approval (ledger/handlers/approvals.py) ---------------------------------------------

    def execute(self, command: Any) -> Any:
        """Run a held ledger command (an approval's) as the method that makes it would."""
        handler = _HELD_HANDLERS.get(type(command))
        if handler is None:
            raise ValidationError(f"{type(command).__name__} is not a ledger command an approval may hold")
        return self.writer.run(handler, command)

    def request_approval(
        self, idempotency_key: str, kind: str, permission: str, command: Any, requested_by: str,
        requested_by_holder: str, expires_at: datetime,
    ) -> ApprovalView:
        cmd = ac.RequestApproval(idempotency_key, kind, permission, command, requested_by, requested_by_holder, expires_at)
        return self.writer.run(approvals.request_approval, cmd)

    def get_approval(self, approval_id: UUID) -> ApprovalView:
        return ApprovalView.of(approvals.approval(self.unit_of_work, approval_id), self.clock())

    def held_command(self, approval_id: UUID) -> Any:
        """The command an approval holds, as it was asked."""
        return ac.decode_command(approvals.approval(self.unit_of_work, approval_id).command)

    def approve(self, approval_id: UUID, by: str, holder: str) -> tuple[ApprovalView, bool]:
        return self.writer.run(approvals.approve, ac.ApproveApproval(approval_id, by, holder))

    def reject(self, approval_id: UUID, by: str, holder: str, reason: str) -> ApprovalView:
        return self.writer.run(approvals.reject, ac.RejectApproval(approval_id, by, holder, reason))

    def record_execution(
        self, approval_id: UUID, result: dict[str, Any] | None, problem: dict[str, Any] | None, by: str
    ) -> ApprovalView:
        return self.writer.run(approvals.record_execution, ac.RecordExecution(approval_id, result, problem, by))

    # -- day close (ledger/handlers/days.py) -------------------------------------------------------------

    def close_day(
        self, day: str, signer: Signer, *, waive: Sequence[str] = (), reason: str = "", by: str | None = None,
        keep_leaves: Callable[[str, tuple[Leaf, ...]], None] | None = None,
    ) -> DayClose:
        """Close an accounting day that is over: its figures from the log, signed (ledger/audit/days.py).
        `keep_leaves(day, leaves)`, once the close is saved, may keep the balances for proofs."""
        cmd = dc.CloseDay(day, tuple(waive), reason, signer, by)
        for attempt in range(1, days.CLOSE_ATTEMPTS_MAX + 1):
            try:
                checked = days.prepare(self.unit_of_work, cmd)
                closed = self.writer.run(days.record_close, checked)
                if keep_leaves is not None:
                    keep_leaves(closed.day, checked.figures.leaves)
                return closed
            except DayStillCommitting:
                if attempt == days.CLOSE_ATTEMPTS_MAX:
                    raise
        raise AssertionError("unreachable")

    def get_day_close(self, day: str) -> DayClose:
        return days.day_close(self.unit_of_work, day)


_HELD_HANDLERS: dict[type, Callable[[UnitOfWork, Any], Any]] = {
    c.Adjust: transfers.adjust, c.SetChannelStatus: catalog.change_catalog, c.SetRoute: catalog.change_catalog,
    c.ConfigureProduct: catalog.change_catalog, c.GrantRole: keys.grant_role,
}


# What `FundCenter.submit` runs for each command it takes.
_SUBMITTED: dict[type, Callable[[UnitOfWork, Any], Any]] = {
    c.PostTransfer: transfers.transfer, c.PlaceHold: holds.place_hold, c.ReleaseHold: holds.release_hold,
    c.CaptureHold: holds.capture_hold,
}
