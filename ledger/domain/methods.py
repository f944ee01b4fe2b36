"""The payment methods: the one list every layer takes them from.

A channel offers a product per method; a business routes each method to its
channels; a recharge or a withdrawal names one. The values are the strings the
API, the events and the catalog carry.
"""

from __future__ import annotations

from enum import StrEnum


class Method(StrEnum):
    WITHHOLDING = "withholding"  # 代扣: debit the bound card, result at once
    AUTH_PAY = "auth_pay"  # 认证支付: the bank sends an SMS code, the payer confirms it
    PERSONAL_EBANK = "personal_ebank"  # redirect to the bank's site; the result comes by callback
    ENTERPRISE_EBANK = "enterprise_ebank"  # the same, for companies
    PAYOUT = "payout"  # withdrawal to a bound card


METHODS: tuple[str, ...] = tuple(method.value for method in Method)
CARD_METHODS: tuple[str, ...] = (Method.WITHHOLDING.value, Method.AUTH_PAY.value, Method.PAYOUT.value)  # need a bound card
EBANK_METHODS: tuple[str, ...] = (Method.PERSONAL_EBANK.value, Method.ENTERPRISE_EBANK.value)  # the payer goes to the bank
RECHARGE_METHODS: tuple[str, ...] = tuple(method for method in METHODS if method != Method.PAYOUT)  # money in
