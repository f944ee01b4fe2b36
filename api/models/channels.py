"""Channels and payments: the catalog, card bindings, recharges, withdrawals."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, StrictInt, StringConstraints

from ledger.domain.methods import METHODS, RECHARGE_METHODS
from ledger.domain.money import AMOUNT_MINOR_MAX
from ledger.views import BindingView, PaymentView

from .common import REFERENCE_RULE, Amount, Body, Code, Currency, Out, Ref, derived_from


class BankIn(Body):
    code: Code
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ChannelIn(Body):
    code: Code
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    logo_url: Annotated[str, StringConstraints(max_length=500)] = ""


class ChannelStatusIn(Body):
    status: Literal["open", "closed"]


class FeeIn(Body):
    rate_bps: Annotated[StrictInt, Field(ge=0, le=10_000)] = 0
    fixed: Annotated[StrictInt, Field(ge=0, le=AMOUNT_MINOR_MAX)] = 0
    minimum: Annotated[StrictInt, Field(ge=0, le=AMOUNT_MINOR_MAX)] = 0
    maximum: Annotated[StrictInt, Field(ge=0, le=AMOUNT_MINOR_MAX)] | None = None


class BankSettingIn(Body):
    enabled: bool = True
    limit_per_transaction: Amount | None = None
    limit_per_day: Amount | None = None


Method = Literal[METHODS]  # type: ignore[valid-type]  # the domain's one list, as the schema's enum


class ProductIn(Body):
    fee: FeeIn = FeeIn()
    banks: Annotated[dict[Code, BankSettingIn], Field(max_length=500)]


class RouteEntryIn(Body):
    channel: Code
    priority: Annotated[StrictInt, Field(ge=0, le=1000)]


class RouteIn(Body):
    business_id: Code
    method: Method
    channels: Annotated[list[RouteEntryIn], Field(min_length=1, max_length=20)]


class CatalogOut(Out):
    banks: dict[str, str]
    channels: dict[str, dict[str, Any]]
    routes: dict[str, list[dict[str, Any]]]


class SweepIn(Body):
    older_than_s: Annotated[StrictInt, Field(ge=0, le=86_400 * 30)] = 60


class BindingIn(Body):
    account: UUID
    bank: Code
    holder_name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    id_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{17}[0-9Xx]$")]
    card_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{12,19}$")]
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9]{11}$")]


@derived_from(BindingView)
class BindingOut(Out):
    pass


class RechargeIn(Body):
    account: UUID
    amount: Amount
    currency: Currency
    method: Literal[RECHARGE_METHODS]  # type: ignore[valid-type]  # the domain's one list, as the schema's enum
    binding_id: UUID | None = Field(None, description="For withholding and auth_pay: the bound card.")
    bank: Code | None = Field(None, description="For e-banking: the payer's bank.")
    reference: Ref | None = Field(None, description=REFERENCE_RULE)


class ConfirmIn(Body):
    sms_code: Annotated[str, StringConstraints(pattern=r"^[0-9]{4,8}$")]


class WithdrawalIn(Body):
    account: UUID
    amount: Amount
    currency: Currency
    binding_id: UUID
    reference: Ref | None = Field(None, description=REFERENCE_RULE)


@derived_from(PaymentView)
class PaymentOut(Out):
    pass
