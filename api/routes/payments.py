"""/v1/bindings, /v1/recharges, /v1/withdrawals: money in and out through channels."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter

from ledger.domain.access import Permission as P

from ..deps import IdempotencyKeyDep
from ..models import BindingIn, BindingOut, ConfirmIn, PaymentOut, RechargeIn, WithdrawalIn
from ..service import acting
from ..service.payments import CardPayments

router = APIRouter(tags=["payments"])
Payer = Annotated[CardPayments, acting(P.MONEY_MOVE, CardPayments)]
Reader = Annotated[CardPayments, acting(P.ACCOUNTS_READ, CardPayments)]


@router.post("/v1/bindings", status_code=201, response_model=BindingOut)
def bind_card(body: BindingIn, api: Payer, key: IdempotencyKeyDep):
    """Bind (verify, 鉴权) a member's card. Card and ID numbers are kept only masked and tokenised."""
    return api.bind(body, key)


@router.get("/v1/bindings/{binding_id}", response_model=BindingOut)
def get_binding(binding_id: UUID, api: Reader):
    return api.binding(binding_id)


@router.delete("/v1/bindings/{binding_id}", response_model=BindingOut)
def unbind_card(binding_id: UUID, api: Payer):
    return api.unbind(binding_id)


@router.post("/v1/recharges", status_code=201, response_model=PaymentOut)
def recharge(body: RechargeIn, api: Payer, key: IdempotencyKeyDep):
    """Take money in through a channel: withholding and auth_pay from a bound card, e-banking by redirect.
    The response says what comes next: `awaiting_confirmation` (send the SMS code), `redirected`
    (send the payer to `redirect_url`), `pending`, or the final `succeeded` / `failed`."""
    return api.recharge(body, key)


@router.post("/v1/recharges/{recharge_id}/confirm", response_model=PaymentOut)
def confirm_recharge(recharge_id: UUID, body: ConfirmIn, api: Payer, key: IdempotencyKeyDep):
    """auth_pay: the SMS code the payer received."""
    return api.confirm(recharge_id, body, key)


@router.get("/v1/recharges/{recharge_id}", response_model=PaymentOut)
def get_recharge(recharge_id: UUID, api: Reader):
    return api.payment(recharge_id, "recharge")


@router.post("/v1/withdrawals", status_code=201, response_model=PaymentOut)
def withdraw(body: WithdrawalIn, api: Payer, key: IdempotencyKeyDep):
    """Pay out to a bound card. The amount is held at once; captured on success, released on failure."""
    return api.withdraw(body, key)


@router.get("/v1/withdrawals/{withdrawal_id}", response_model=PaymentOut)
def get_withdrawal(withdrawal_id: UUID, api: Reader):
    return api.payment(withdrawal_id, "withdrawal")
