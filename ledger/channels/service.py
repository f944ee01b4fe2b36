"""Payments: recharges, withdrawals and card bindings through channels.

This is where the ledger meets the channels. It routes (a pure ranking of the
business's route), submits through the chosen channel's gateway, falls over to
the next channel when one refuses, and records every decision and answer through
FundCenter's commands. Channel calls happen outside any database transaction;
our reference (the payment's id) goes with every call, so an answer lost to a
crash or a timeout is found again by `settle_by_query`.

A timeout is not a refusal: the channel may have taken the payment, so there is
no fall-over then; the payment stays pending until a callback or a query settles it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ledger import FundCenter
from ledger.domain import ids
from ledger.domain.cards import card_token, mask_name, mask_number, mask_phone
from ledger.domain.channels import NoChannelAvailable, check_method
from ledger.domain.errors import Conflict, NotFound, ValidationError
from ledger.domain.inputs import check_code, check_key, check_ref, check_text
from ledger.domain.methods import CARD_METHODS, RECHARGE_METHODS
from ledger.domain.payments import Payment
from ledger.domain.routing import rank
from ledger.payments import BindingView, PaymentView

from .gateway import (
    CardVerification,
    ChannelRefused,
    ChannelUnavailable,
    ForgedCallback,
    GatewayRegistry,
    Method,
    Outcome,
    Result,
    Submission,
)

# (business, method, bank, accounting day) -> ({channel: amount used that day}, {channel: success rate in bps})
Activity = Callable[[str, str, str, str], tuple[dict[str, int], dict[str, int]]]


class CallbackRejected(Conflict):
    code = "callback-rejected"
    status = 401


class WrongSmsCode(Conflict):
    code = "wrong-sms-code"


class GatewayMissing(NotFound):
    code = "channel-not-connected"


SUBMITTED = {
    Outcome.AWAITING_CONFIRMATION: "awaiting_confirmation",
    Outcome.REDIRECT: "redirected",
    Outcome.PENDING: "pending",
}


@dataclass
class Payments:
    ledger: FundCenter
    gateways: GatewayRegistry
    activity: Activity
    card_key: bytes

    # -- card binding (鉴权) ----------------------------------------------------------------

    def bind_card(
        self, account: UUID, bank: str, holder_name: str, id_number: str, card_number: str, phone: str,
        idempotency_key: str,
    ) -> BindingView:
        """Verify the card at every open channel that has a card product for its bank and
        keep each channel's agreement; the binding fails if no channel verifies it."""
        check_code(bank, "bank")
        fields = ((holder_name, "holder_name"), (id_number, "id_number"), (card_number, "card_number"), (phone, "phone"))
        for value, name in fields:
            check_text(value, name, required=True, length_max=64)
        check_key(idempotency_key)
        token = card_token(self.card_key, card_number)
        binding_id = ids.command_id("binding", idempotency_key)
        request = ids.fingerprint(account=account, bank=bank, card=token, phone=mask_phone(phone))
        acct = self.ledger.get_account(account)
        catalog = self.ledger.catalog()
        agreements, failures = {}, {}
        for code, channel in sorted(catalog.channels.items()):
            if channel["status"] != "open" or not any(
                channel["products"].get(m, {}).get("banks", {}).get(bank, {}).get("enabled") for m in CARD_METHODS
            ):
                continue
            gateway = self.gateways.get(code)
            if gateway is None:
                continue
            try:
                result = gateway.verify_card(CardVerification(str(binding_id), bank, holder_name, id_number, card_number, phone))
            except (ChannelUnavailable, ChannelRefused) as error:
                failures[code] = f"channel unavailable: {error}"
                continue
            if result.outcome == Outcome.SUCCEEDED and result.agreement:
                agreements[code] = result.agreement
            else:
                failures[code] = result.message or result.outcome.value
        return self.ledger.record_binding(
            binding_id, request, failures, account_id=acct.id, business_id=acct.business_id, bank=bank,
            card_masked=mask_number(card_number), card_token=token, holder_masked=mask_name(holder_name),
            id_number_masked=mask_number(id_number), phone_masked=mask_phone(phone), agreements=agreements,
        )

    # -- recharges and withdrawals ----------------------------------------------------------------

    def recharge(
        self, account: UUID, amount: int, currency: str, method: str, idempotency_key: str, *,
        binding_id: UUID | None = None, bank: str | None = None, reference: str | None = None,
    ) -> PaymentView:
        check_method(method, RECHARGE_METHODS)
        check_key(idempotency_key)
        if reference is not None:
            check_ref(reference, "reference")
        binding = self._binding_for(account, method, binding_id)
        bank = binding.bank if binding is not None else check_code(bank, "bank")
        recharge_id = ids.command_id("recharge", idempotency_key)
        request = ids.fingerprint(account=account, amount=amount, currency=currency, method=method, binding=binding_id, bank=bank,
                                  **ids.referenced(reference))
        choices, skipped = self._route(account, method, bank, amount, binding)
        recharge, new = self.ledger.request_recharge(
            recharge_id, request, account, amount, currency, method, bank, binding_id, _first(choices, skipped),
            reference=reference,
        )
        return self._submit(recharge, new, binding, choices, skipped)

    def withdraw(self, account: UUID, amount: int, currency: str, binding_id: UUID, idempotency_key: str, *,
                 reference: str | None = None) -> PaymentView:
        check_key(idempotency_key)
        if reference is not None:
            check_ref(reference, "reference")
        binding = self._binding_for(account, "payout", binding_id)
        withdrawal_id = ids.command_id("withdrawal", idempotency_key)
        request = ids.fingerprint(account=account, amount=amount, currency=currency, binding=binding_id,
                                  **ids.referenced(reference))
        choices, skipped = self._route(account, "payout", binding.bank, amount, binding)
        withdrawal, new = self.ledger.request_withdrawal(
            withdrawal_id, request, account, amount, currency, binding.bank, binding_id, _first(choices, skipped),
            reference=reference,
        )
        return self._submit(withdrawal, new, binding, choices, skipped)

    def confirm(self, recharge_id: UUID, sms_code: str) -> PaymentView:
        """auth_pay: pass the payer's SMS code to the channel."""
        check_text(sms_code, "sms_code", required=True, length_max=12)
        payment = self.ledger.get_payment(recharge_id)
        if payment.is_final:
            return self._view(payment)
        if payment.status != "awaiting_confirmation":
            raise Conflict(f"recharge {recharge_id} is {payment.status}, not awaiting an SMS code")
        gateway = self._gateway(payment.channel)
        result = gateway.confirm(str(payment.id), sms_code)
        if result.outcome == Outcome.FAILED and gateway.query(str(payment.id)).outcome == Outcome.AWAITING_CONFIRMATION:
            raise WrongSmsCode(f"the SMS code for recharge {recharge_id} is wrong: {result.message or 'try again'}")
        return self._view(self._record(payment.id, result))

    def notify(self, channel: str, body: bytes, headers: dict[str, str]) -> PaymentView:
        """A channel's callback: verified, then applied once (a replay changes nothing)."""
        try:
            callback = self._gateway(channel).parse_callback(body, headers)
        except ForgedCallback as error:
            raise CallbackRejected(f"callback from {channel} does not verify: {error}") from None
        try:
            payment = self.ledger.get_payment(UUID(callback.reference))
        except ValueError:
            raise CallbackRejected(f"callback from {channel} names no payment of ours") from None
        if payment.channel != channel or payment.amount != callback.amount:
            raise CallbackRejected(f"callback from {channel} does not match payment {payment.id}")
        return self._view(self._settle(payment.id, callback.outcome, callback.channel_txn_id, callback.fee,
                                           "reported by callback", callback.notification_id))

    def settle_by_query(self, payment_id: UUID) -> PaymentView:
        """Ask the channel what became of a payment whose answer never came."""
        payment = self.ledger.get_payment(payment_id)
        if payment.is_final or payment.channel is None:
            return self._view(payment)
        return self._view(self._record(payment.id, self._gateway(payment.channel).query(str(payment.id))))

    def sweep(self, pending: list[UUID]) -> list[PaymentView]:
        """settle_by_query for each of these payments; a channel that does not answer is left for next time."""
        settled = []
        for payment_id in pending:
            try:
                settled.append(self.settle_by_query(payment_id))
            except ChannelUnavailable:
                continue
        return settled

    # -- the route, the channel, the record ----------------------------------------------------------

    def _submit(self, payment: Payment, new: bool, binding: Any, choices: list, skipped: list[dict[str, str]]) -> PaymentView:
        """Submit through the first choice (already recorded with the request), falling over on refusals."""
        if not new and payment.status != "requested":
            if payment.status == "failed" and payment.failure is not None and payment.failure.startswith("no channel available"):
                raise NoChannelAvailable(payment.failure)
            return self._view(payment)
        for n, choice in enumerate(choices):
            if n > 0 or payment.channel != choice.channel:
                self.ledger.record_route(payment.id, choice.channel, choice.reason, skipped)
            agreement = binding.agreements.get(choice.channel) if binding is not None else None
            submission = Submission(str(payment.id), Method(payment.method), payment.amount, payment.currency,
                                    payment.bank, agreement)
            try:
                result = self._gateway(choice.channel).submit(submission)
            except ChannelRefused as error:
                self.ledger.record_refusal(payment.id, choice.channel, str(error) or "refused")
                skipped = [*skipped, {"channel": choice.channel, "reason": f"refused: {error}"}]
                continue
            except ChannelUnavailable:
                return self._view(self.ledger.record_submission(payment.id, "pending", None))
            return self._view(self._record(payment.id, result))
        reasons = "; ".join(f"{s['channel']}: {s['reason']}" for s in skipped) or "the route is empty"
        self.ledger.settle_payment(payment.id, "failed", reason=f"no channel available ({reasons})")
        raise NoChannelAvailable(f"no channel available ({reasons})")

    def _route(self, account: UUID, method: str, bank: str, amount: int, binding: Any) -> tuple[list, list[dict[str, str]]]:
        only = set(binding.agreements) if binding is not None else None
        return self.route(self.ledger.account_business(account), method, bank, amount, only)

    def route(self, business: str, method: str, bank: str, amount: int,
              only: set[str] | None = None) -> tuple[list, list[dict[str, str]]]:
        """The channels a payment would try now, in order (routing's choices), and those skipped, with why."""
        day = self.ledger.today()  # the accounting day, as each outcome recorded it for the activity view
        usage, success = self.activity(business, method, bank, day)
        candidates, skipped = self.ledger.catalog().candidates(business, method, bank, usage, success, only)
        connected = [c for c in candidates if self.gateways.get(c.channel) is not None]
        skipped += [{"channel": c.channel, "reason": "not connected"} for c in candidates if c not in connected]
        choices, rejected = rank(connected, amount)
        return choices, skipped + [{"channel": r.channel, "reason": r.reason} for r in rejected]

    def _record(self, payment_id: UUID, result: Result) -> Payment:
        if result.outcome in SUBMITTED:
            return self.ledger.record_submission(
                payment_id, SUBMITTED[result.outcome], result.channel_txn_id, result.redirect_url)
        if result.outcome == Outcome.UNKNOWN:
            return self.ledger.get_payment(payment_id)
        return self._settle(payment_id, result.outcome, result.channel_txn_id, result.fee, result.message, None)

    def _settle(self, payment_id: UUID, outcome: Outcome, channel_txn_id: str | None, fee: int, message: str,
                notification: str | None) -> Payment:
        return self.ledger.settle_payment(payment_id, outcome.value, channel_txn_id=channel_txn_id, fee=fee,
                                          reason=message, notification=notification)

    def _binding_for(self, account: UUID, method: str, binding_id: UUID | None) -> Any:
        if method not in CARD_METHODS:
            if binding_id is not None:
                raise ValidationError(f"{method} pays from the bank's own site: it takes a bank, not a binding")
            return None
        if binding_id is None:
            raise ValidationError(f"{method} needs a binding_id (a bound card)")
        binding = self.ledger.get_binding(binding_id)
        if binding.account_id != account:
            raise NotFound(f"card binding {binding_id} not found for account {account}")
        binding.require_active()
        return binding

    def _view(self, payment: Payment) -> PaymentView:
        return PaymentView.of(payment, self.ledger.latest_position(payment))

    def _gateway(self, channel: str | None) -> Any:
        gateway = self.gateways.get(channel or "")
        if gateway is None:
            raise GatewayMissing(f"channel {channel!r} is not connected to this process")
        return gateway



def _first(choices: list, skipped: list[dict[str, str]]) -> tuple[str, str, list[dict[str, str]]] | None:
    return (choices[0].channel, choices[0].reason, skipped) if choices else None
