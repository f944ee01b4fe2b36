"""Channel configuration and the money side of recharges and withdrawals: FundCenter commands.

Mixed into FundCenter. These record what happened (a route chosen, a channel's
answer, a final outcome) and move the money that goes with it, each in one save;
they do no I/O with channels. `ledger.channels.service.Payments` talks to the
channels and calls these.

A final outcome is booked at one instant: the payment's event and the transfers
it posts share one timestamp and record the accounting day it falls on. Catalog
changes record who made them (`by`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from .domain import ids
from .domain.accounts import Account, SystemRole
from .domain.aggregate import stamped_by
from .domain.cards import CardBinding
from .domain.channels import Catalog
from .domain.errors import CurrencyMismatch, NotFound, ValidationError
from .domain.fees import FeeRule
from .domain.holds import Hold
from .domain.money import check_amount, check_currency
from .domain.payments import Payment, Recharge, Withdrawal
from .domain.transfers import Side, Transfer, TransferKind, posting, reversed_postings
from .once import Once

if TYPE_CHECKING:
    from .application import FundCenter

CATALOG_ID = ids.command_id("catalog", "main")
Route = tuple[str, str, list[dict[str, str]]]  # (channel, why, the channels skipped and why)


class PaymentNotFound(NotFound):
    pass


class BindingNotFound(NotFound):
    pass


@dataclass(frozen=True)
class PaymentView:
    id: UUID
    kind: str  # recharge | withdrawal
    account_id: UUID
    amount: int
    currency: str
    method: str
    bank: str
    binding_id: UUID | None
    status: str
    channel: str | None
    channel_txn_id: str | None
    redirect_url: str | None
    fee: int
    failure: str | None
    decisions: list[dict[str, Any]]
    transfer_ids: list[UUID]
    created_at: datetime
    position: int | None = None

    @classmethod
    def of(cls, p: Payment, position: int | None = None) -> PaymentView:
        return cls(
            p.id, type(p).__name__.lower(), p.account_id, p.amount, p.currency, p.method, p.bank, p.binding_id,
            p.status, p.channel, p.channel_txn_id, p.redirect_url, p.fee, p.failure, list(p.decisions),
            list(p.transfer_ids), p.created_on, position,
        )


@dataclass(frozen=True)
class BindingView:
    id: UUID
    account_id: UUID
    bank: str
    card_masked: str
    holder_masked: str
    id_number_masked: str
    phone_masked: str
    channels: list[str]
    status: str
    created_at: datetime
    position: int | None = None
    failures: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, b: CardBinding, position: int | None = None, failures: dict[str, str] | None = None) -> BindingView:
        return cls(b.id, b.account_id, b.bank, b.card_masked, b.holder_masked, b.id_number_masked, b.phone_masked,
                   sorted(b.agreements), b.status, b.created_on, position, failures or {})


class PaymentCommands:
    # -- the channel catalog -----------------------------------------------------------------

    def catalog(self: FundCenter) -> Catalog:
        found = self._find(Catalog, CATALOG_ID)
        return self._fresh(found) if found is not None else Catalog(id=CATALOG_ID)

    def _change_catalog(
        self: FundCenter, change: str, *args: Any, idempotency_key: str | None = None, by: str | None = None
    ) -> Catalog:
        """One change to the catalog, recorded with who made it (`by`, else the ledger's actor);
        a change to what is already so saves nothing. With `idempotency_key`, a repeat answers
        with the catalog as the first call left it (whoever repeats it: the key names the request)."""
        actor = self._by(by)

        def attempt() -> Catalog:
            found = self._find(Catalog, CATALOG_ID)
            catalog = self._fresh(found) if found is not None else Catalog(id=CATALOG_ID, by=actor)
            if getattr(catalog, change)(*args, by=actor) is not False:
                self._save(catalog)
            return catalog

        if idempotency_key is None:
            return self._run(attempt)
        return self.idempotent(
            idempotency_key, change, ids.fingerprint(arguments=args), lambda: self._run(attempt),
            lambda states: states[0][0] if states else Catalog(id=CATALOG_ID),
            target=lambda a: a.id == CATALOG_ID, refer=lambda catalog: [CATALOG_ID],
        )

    def register_bank(
        self: FundCenter, code: str, name: str, *, idempotency_key: str | None = None, by: str | None = None
    ) -> Catalog:
        return self._change_catalog("register_bank", code, name, idempotency_key=idempotency_key, by=by)

    def register_channel(
        self: FundCenter, code: str, name: str, logo_url: str = "", *, idempotency_key: str | None = None,
        by: str | None = None,
    ) -> Catalog:
        return self._change_catalog("register_channel", code, name, logo_url, idempotency_key=idempotency_key, by=by)

    def set_channel_status(
        self: FundCenter, code: str, status: str, *, idempotency_key: str | None = None, by: str | None = None
    ) -> Catalog:
        return self._change_catalog("set_channel_status", code, status, idempotency_key=idempotency_key, by=by)

    def configure_product(
        self: FundCenter, code: str, method: str, fee: dict[str, Any], banks: dict[str, dict[str, Any]],
        *, idempotency_key: str | None = None, by: str | None = None,
    ) -> Catalog:
        try:
            rule = FeeRule(**fee)
        except TypeError as error:
            raise ValidationError(f"fee takes rate_bps, fixed, minimum and maximum: {error}") from None
        return self._change_catalog("configure_product", code, method, rule, banks, idempotency_key=idempotency_key,
                                    by=by)

    def set_route(
        self: FundCenter, business_id: str, method: str, entries: list[dict[str, Any]], *,
        idempotency_key: str | None = None, by: str | None = None,
    ) -> Catalog:
        return self._change_catalog("set_route", business_id, method, entries, idempotency_key=idempotency_key, by=by)

    # -- card bindings -------------------------------------------------------------------------

    def record_binding(self: FundCenter, binding_id: UUID, request: str, failures: dict[str, str], **fields: Any) -> BindingView:
        def attempt() -> BindingView:
            binding = CardBinding(id=binding_id, request_hash=request, **fields)
            return BindingView.of(binding, self._save(binding), failures)

        answer = lambda b, position: BindingView.of(b, position)  # noqa: E731
        return self._run(attempt, Once(CardBinding, binding_id, request, "binding key", answer))

    def get_binding(self: FundCenter, binding_id: UUID) -> CardBinding:
        return self._fresh(self._get(CardBinding, binding_id, BindingNotFound, "card binding"))

    def unbind_card(self: FundCenter, binding_id: UUID) -> BindingView:
        def attempt() -> BindingView:
            binding = self.get_binding(binding_id)
            return BindingView.of(binding, self._save(binding) if binding.unbind() else None)

        return self._run(attempt)

    # -- recharges and withdrawals ---------------------------------------------------------------

    def request_recharge(
        self: FundCenter, recharge_id: UUID, request: str, account: UUID, amount: int, currency: str,
        method: str, bank: str, binding_id: UUID | None, route: Route | None = None,
    ) -> tuple[Recharge, bool]:
        """The recharge (routed to `route`'s channel, in the same save), and whether
        this call created it (False: a repeat)."""
        check_amount(amount)
        check_currency(currency)

        def attempt() -> tuple[Recharge, bool]:
            acct = self._payment_account(account, currency)
            recharge = Recharge(id=recharge_id, account_id=acct.id, business_id=acct.business_id, amount=amount,
                                currency=currency, method=method, bank=bank, binding_id=binding_id, request_hash=request)
            if route is not None:
                recharge.route(*route)
            self._save(recharge)
            return recharge, True

        answer = lambda r, position: (self._repeat_payment(r), False)  # noqa: E731
        return self._run(attempt, Once(Recharge, recharge_id, request, "recharge key", answer))

    def request_withdrawal(
        self: FundCenter, withdrawal_id: UUID, request: str, account: UUID, amount: int, currency: str,
        bank: str, binding_id: UUID, route: Route | None = None,
    ) -> tuple[Withdrawal, bool]:
        """The withdrawal, with its amount held on the account (in the same save)."""
        check_amount(amount)
        check_currency(currency)
        hold_id = ids.command_id("withdrawal-hold", str(withdrawal_id))

        def attempt() -> tuple[Withdrawal, bool]:
            now = self.clock()
            acct = self._payment_account(account, currency)
            acct.expire_holds(now)
            acct.place_hold(hold_id, amount, None, now, purpose="withdrawal")
            hold = Hold(id=hold_id, account_id=acct.id, currency=currency, amount=amount, reason="withdrawal",
                        expires_at=None, request_hash=request, purpose="withdrawal")
            withdrawal = Withdrawal(
                id=withdrawal_id, account_id=acct.id, business_id=acct.business_id, amount=amount, currency=currency,
                method="payout", bank=bank, binding_id=binding_id, request_hash=request, hold_id=hold_id,
            )
            if route is not None:
                withdrawal.route(*route)
            self._save(acct, hold, withdrawal)
            return withdrawal, True

        answer = lambda w, position: (self._repeat_payment(w), False)  # noqa: E731
        return self._run(attempt, Once(Withdrawal, withdrawal_id, request, "withdrawal key", answer))

    def get_payment(self: FundCenter, payment_id: UUID) -> Payment:
        return self._fresh(self._payment(payment_id))

    def _payment(self: FundCenter, payment_id: UUID) -> Payment:
        """From the cache, for a decision that saves: a stale copy fails the save and is read again."""
        return self._get(Payment, payment_id, PaymentNotFound, "recharge or withdrawal")

    def record_route(self: FundCenter, payment_id: UUID, channel: str, reason: str, skipped: list[dict[str, str]]) -> Payment:
        return self._change_payment(payment_id, lambda p: p.route(channel, reason, skipped))

    def record_refusal(self: FundCenter, payment_id: UUID, channel: str, reason: str) -> Payment:
        return self._change_payment(payment_id, lambda p: p.refused(channel, reason))

    def record_submission(
        self: FundCenter, payment_id: UUID, status: str, channel_txn_id: str | None, redirect_url: str | None = None
    ) -> Payment:
        def change(p: Payment) -> None:
            if not p.is_final:
                p.submitted(status, channel_txn_id, redirect_url)

        return self._change_payment(payment_id, change)

    def settle_payment(
        self: FundCenter, payment_id: UUID, outcome: str, *, channel_txn_id: str | None = None, fee: int = 0,
        reason: str = "", notification: str | None = None,
    ) -> Payment:
        """Record a final outcome and move the money that goes with it, in one save.
        A repeat of the outcome (or of the same notification) changes nothing."""

        def attempt() -> Payment:
            payment = self._payment(payment_id)
            if notification is not None and notification in payment.notifications:
                return self._fresh(payment)  # answers that save nothing come from fresh state
            if outcome == "returned":
                if not isinstance(payment, Withdrawal) or not payment.check_returnable():
                    return self._fresh(payment)
                self._returned(payment, notification)
                return payment
            if not payment.check_can_settle(outcome):
                return self._fresh(payment)
            now = self.clock()  # the outcome's one instant: its events' stamp, and its accounting day
            with stamped_by(lambda: now):
                if outcome == "succeeded":
                    self._succeeded(payment, channel_txn_id, fee, notification, now)
                else:
                    self._failed(payment, reason or "failed", notification, now)
            return payment

        return self._run(attempt)

    # -- the money of each outcome -----------------------------------------------------------------

    def _succeeded(
        self: FundCenter, p: Payment, channel_txn_id: str | None, fee: int, notification: str | None, now: datetime
    ) -> None:
        day = self.day_of(now)
        channel = p.channel or "unknown"
        suspense, new = self._system_account(SystemRole.PENDING_RECONCILIATION, p.currency, channel)
        refs = {"channel": channel, type(p).__name__.lower(): str(p.id)}
        if isinstance(p, Recharge):
            main = posting(suspense, Side.DEBIT, p.amount), posting(p.account_id, Side.CREDIT, p.amount)
            kind, capture, customers = TransferKind.RECHARGE, None, (p.account_id,)
        else:
            main = posting(p.account_id, Side.DEBIT, p.amount), posting(suspense, Side.CREDIT, p.amount)
            kind, capture, customers = TransferKind.WITHDRAWAL, self._get(Hold, p.hold_id), (p.account_id,)
        transfers = [(Transfer.post(ids.command_id(f"{kind.value}-transfer", str(p.id)), kind, p.currency, list(main),
                                    request_hash="", references=refs, day=day), customers, capture)]
        if fee:
            fee_expense, more = self._system_account(SystemRole.FEE_EXPENSE, p.currency)
            new += more
            fee_postings = [posting(fee_expense, Side.DEBIT, fee), posting(suspense, Side.CREDIT, fee)]
            transfers.append((Transfer.post(ids.command_id("fee-transfer", str(p.id)), TransferKind.FEE, p.currency,
                                            fee_postings, request_hash="", references=refs, day=day), (), None))
        if capture is not None:
            capture.capture(p.amount, transfers[0][0].id, f"capture:{p.id}", "")
        p.succeed(channel_txn_id, fee, [t.id for t, _, _ in transfers], notification, day)
        self._post_all(transfers, new, [a for a in (capture, p) if a is not None])

    def _failed(self: FundCenter, p: Payment, reason: str, notification: str | None, now: datetime) -> None:
        also: list[Any] = []
        if isinstance(p, Withdrawal):
            hold = self._get(Hold, p.hold_id)
            account = self._customer_account(p.account_id)
            account.release_hold(hold.id, hold.remaining, self.clock())
            hold.release(hold.remaining, f"release:{p.id}", "")
            also = [account, hold]
        p.fail(reason, notification, self.day_of(now))
        self._save(*also, p)

    def _returned(self: FundCenter, w: Withdrawal, notification: str | None) -> None:
        original = self._get(Transfer, w.transfer_ids[0])
        reversal = self._new_transfer(
            ids.command_id("withdrawal-return", str(w.id)), TransferKind.REVERSAL, w.currency,
            reversed_postings(original.postings), request_hash="",
            references={"reverses": str(original.id), "withdrawal": str(w.id), "channel": w.channel or ""},
            memo="returned by the bank",
        )
        original.mark_reversed(reversal.id)
        w.mark_returned(reversal.id, notification)
        self._post_all([(reversal, (w.account_id,), None)], [], [original, w])

    def _post_all(self: FundCenter, transfers: list[tuple[Transfer, tuple, Hold | None]], new_accounts: list[Account],
                  also_save: list[Any]) -> int:
        accounts: dict[UUID, Account] = {}
        new_ids = {a.id for a in new_accounts}
        for transfer, customers, capture in transfers:
            self._apply(transfer, accounts, customers, new_ids, capture)
        position = self._save(*accounts.values(), *new_accounts, *[t for t, _, _ in transfers], *also_save)
        self._system_account_ids.update(new_ids)
        return position

    # -- plumbing --------------------------------------------------------------------------------

    def _payment_account(self: FundCenter, account: UUID, currency: str) -> Account:
        acct = self._customer_account(account)
        if acct.currency != currency:
            raise CurrencyMismatch(f"account {acct.id} holds {acct.currency}, not {currency}")
        return acct

    def _repeat_payment(self: FundCenter, payment: Payment) -> Payment:
        return self._fresh(payment)

    def _change_payment(self: FundCenter, payment_id: UUID, change: Any) -> Payment:
        def attempt() -> Payment:
            payment = self._payment(payment_id)
            change(payment)
            if payment.pending_events:
                self._save(payment)
            return payment

        return self._run(attempt)
