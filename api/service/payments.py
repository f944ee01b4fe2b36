"""Payments: card bindings, recharges (and their SMS confirmation), withdrawals."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger.domain import ids
from ledger.domain.errors import AccountNotFound, NotFound
from ledger.views import BindingView, PaymentView

from .. import models
from .caller import Caller


class CardPayments(Caller):
    """The payment routes' calls."""

    def _own_binding(self, binding_id: UUID) -> UUID:
        try:
            self._own(self.ledger.get_binding(binding_id).account_id)
        except AccountNotFound:
            raise NotFound(f"card binding {binding_id} not found") from None
        return binding_id

    def _own_payment(self, payment_id: UUID) -> Any:
        payment = self.ledger.get_payment(payment_id)
        try:
            self._own(payment.account_id)
        except AccountNotFound:
            raise NotFound(f"payment {payment_id} not found") from None
        return payment

    def bind(self, body: models.BindingIn, key: str) -> Any:
        return self.services.payments.bind_card(
            self._own(body.account), body.bank, body.holder_name, body.id_number, body.card_number, body.phone,
            self._key(key),
        )

    def binding(self, binding_id: UUID) -> Any:
        return BindingView.of(self.ledger.get_binding(self._own_binding(binding_id)))

    def unbind(self, binding_id: UUID) -> Any:
        return self.ledger.unbind_card(self._own_binding(binding_id))

    def recharge(self, body: models.RechargeIn, key: str) -> Any:
        return self.services.payments.recharge(
            self._own(body.account), body.amount, body.currency, body.method, self._key(key),
            binding_id=body.binding_id, bank=body.bank, reference=body.reference,
        )

    def confirm(self, recharge_id: UUID, body: models.ConfirmIn, key: str) -> Any:
        self._own_payment(recharge_id)
        return self.ledger.idempotent(
            self._key(key), "confirm-recharge", ids.fingerprint(recharge_id=recharge_id, sms_code=body.sms_code),
            lambda: self.services.payments.confirm(recharge_id, body.sms_code),
            lambda states: PaymentView.of(*states[0]), target=lambda a: a.id == recharge_id,
            refer=lambda view: [view.id],
        )

    def withdraw(self, body: models.WithdrawalIn, key: str) -> Any:
        return self.services.payments.withdraw(
            self._own(body.account), body.amount, body.currency, body.binding_id, self._key(key), reference=body.reference)

    def payment(self, payment_id: UUID, kind: str) -> Any:
        payment = self._own_payment(payment_id)
        if type(payment).__name__.lower() != kind:
            raise NotFound(f"{kind} {payment_id} not found")
        return PaymentView.of(payment, self.ledger.latest_position(payment))
