"""FundCenter: the ledger's application service, one short method per command.

Accounts, transfers and the log are here; holds, API keys, payments through
channels and reconciliation are mixins beside it; the attempt loop, the cache
discipline and the posting engine they all run on are `ledger.commands`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypedDict
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from .commands import Commands, T
from .domain import ids
from .domain.accounts import CUSTOMER_KINDS, Account, SystemRole
from .domain.aggregate import stamped_by
from .domain.errors import AccountsMustBeDifferent, LedgerError, TransferNotFound, ValidationError
from .domain.inputs import check_code, check_key, check_ref, check_text
from .domain.money import check_amount, check_currency
from .domain.transfers import Side, Transfer, TransferKind, posting, reversed_postings
from .holds import HoldCommands
from .keys import KeyCommands
from .once import Once
from .payments import PaymentCommands
from .reconciliation_commands import ReconciliationCommands
from .views import AccountView, TransferView

BATCH_SIZE_MAX = 1000


class TransferRequest(TypedDict, total=False):
    from_account: UUID
    to_account: UUID
    amount: int
    currency: str
    idempotency_key: str
    memo: str


class FundCenter(KeyCommands, HoldCommands, PaymentCommands, ReconciliationCommands, Commands):
    name = "fundcenter"

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

    def set_account_status(
        self, account: UUID, status: str, *, idempotency_key: str | None = None, by: str | None = None
    ) -> AccountView:
        """Freeze (no debits), unfreeze or close a whole account. Setting the current status is a no-op.
        With `idempotency_key`, a repeat answers with the account as the first call left it.
        `by`: who changed it (recorded on the event)."""
        actor = self._by(by)

        def attempt() -> AccountView:
            acct = self._fresh(self._customer_account(account))  # a no-op answer must not come from a stale cache
            now = self.clock()
            if acct.change_status(status, now, actor):
                return AccountView.of(acct, now, self._save(acct))
            return AccountView.of(acct, now, self._position(acct.id, acct.version))

        if idempotency_key is None:
            return self._run(attempt)
        return self.idempotent(
            idempotency_key, "set-account-status", ids.fingerprint(account=account, status=status),
            lambda: self._run(attempt), lambda states: AccountView.of(states[0][0], self.clock(), states[0][1]),
            target=lambda a: a.id == account, refer=lambda view: [view.id],
        )

    def latest_position(self, aggregate: Aggregate) -> int | None:
        """The log position of the aggregate's latest event."""
        return self._position(aggregate.id, aggregate.version)

    def account_business(self, account: UUID) -> str:
        """The business an account belongs to (it never changes, so the cache answers)."""
        return self._account(account).business_id

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
        with stamped_by(self.clock):
            prepared = [self._prepare(item) for item in items]
            transfers = [p[1] for p in prepared if isinstance(p, tuple)]
            try:
                recordings = self._save_batch(transfers)
            except (LedgerError, IntegrityError):
                return [p if isinstance(p, LedgerError) else self._try(lambda item=p[0]: self.transfer(**item))
                        for p in prepared]
        positions = {r.domain_event.originator_id: r.notification.id for r in recordings}
        self.stats.add("commands", len(transfers))
        return [p if isinstance(p, LedgerError) else TransferView.of(p[1], positions[p[1].id]) for p in prepared]

    def _prepare(self, item: TransferRequest) -> tuple[TransferRequest, Transfer] | LedgerError:
        try:
            transfer_id, request, postings = self._transfer_request(**item)
        except LedgerError as error:
            return error
        return item, self._new_transfer(
            transfer_id, TransferKind.TRANSFER, item["currency"], postings,
            request_hash=request, memo=item.get("memo", ""),
        )

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
        self, account: UUID, amount: int, currency: str, direction: str, reason: str, idempotency_key: str,
        *, by: str | None = None,
    ) -> TransferView:
        """An operator's manual adjustment against the `difference` system account; `by`: who made it."""
        actor = self._by(by)
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
                memo=reason, references={"direction": direction}, by=actor, customers=(account,), new_accounts=new,
            )

        return self._run(attempt, self._once_transfer(transfer_id, request, "adjustment key"))

    def reverse_transfer(self, transfer_id: UUID, idempotency_key: str, reason: str, *, by: str | None = None) -> TransferView:
        """Post the transfer's postings again with the sides swapped; once per transfer. `by`: who reversed it."""
        actor = self._by(by)
        check_key(idempotency_key)
        check_text(reason, "reason", required=True)
        reversal_id = ids.command_id("reversal", idempotency_key)
        request = ids.fingerprint(transfer_id=transfer_id, reason=reason)

        def attempt() -> TransferView:
            original = self._get(Transfer, transfer_id, TransferNotFound, "transfer")
            original.mark_reversed(reversal_id, actor)
            return self._post_new(
                reversal_id, request, TransferKind.REVERSAL, original.currency, reversed_postings(original.postings),
                memo=reason, references={"reverses": str(original.id)}, by=actor, also_save=(original,),
            )

        return self._run(attempt, self._once_transfer(reversal_id, request, "reversal key"))

    def get_transfer(self, transfer_id: UUID) -> TransferView:
        return TransferView.of(self._fresh(self._get(Transfer, transfer_id, TransferNotFound, "transfer")))

    # -- the event log -----------------------------------------------------------------

    def read_log(self, after: int = 0, limit: int = 1000) -> list[tuple[int, Any]]:
        """Up to `limit` domain events after log position `after`, in order, with their positions."""
        notifications = self.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False)
        return [(n.id, self.mapper.to_domain_event(n)) for n in notifications]

    def head(self) -> int:
        """The log position of the newest event (0 for an empty log)."""
        return self.recorder.max_notification_id() or 0
