"""The one interface every channel adapter implements.

The ledger talks to banks and payment channels only through a `Gateway`: it
submits recharges (pay-ins) and payouts, confirms SMS codes, queries results,
verifies callbacks and fetches the daily statement file. Our `reference` (the
ledger's id for the transaction, as text) travels with every request, so a
transaction can always be found again by it, even if the channel's answer was lost.

Amounts are integer minor units. No full card or ID number crosses this interface
after verification: binding returns the channel's own agreement reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from ..domain.methods import Method as Method  # the domain's methods, re-exported for the adapters


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING = "pending"  # accepted; the result comes later (callback, or query)
    AWAITING_CONFIRMATION = "awaiting_confirmation"  # auth_pay: waiting for the SMS code
    REDIRECT = "redirect"  # e-banking: send the payer to `redirect_url`
    RETURNED = "returned"  # payout came back from the bank (退票), after succeeding
    UNKNOWN = "unknown"  # the channel has never heard of this reference


@dataclass(frozen=True)
class CardVerification:
    """鉴权: check that the card, holder, ID number and phone belong together."""

    reference: str
    bank: str
    holder_name: str
    id_number: str
    card_number: str
    phone: str


@dataclass(frozen=True)
class Submission:
    reference: str  # ours: unique per transaction
    method: Method
    amount: int
    currency: str
    bank: str
    agreement: str | None = None  # the channel's binding reference (withholding, auth_pay, payout)


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reference: str
    channel_txn_id: str | None = None
    fee: int = 0  # what the channel charges us, in minor units
    message: str = ""
    redirect_url: str | None = None
    agreement: str | None = None  # card verification: the channel's binding reference


@dataclass(frozen=True)
class Callback:
    """A channel's notification, after its signature was verified."""

    reference: str
    channel_txn_id: str
    outcome: Outcome
    amount: int
    fee: int
    notification_id: str  # unique per notification: a replay carries the same one


class ForgedCallback(Exception):
    """The callback's signature does not verify, or it is malformed."""


class ChannelRefused(Exception):
    """The channel declined to take the transaction (maintenance, an unsupported bank...):
    nothing happened there, so the ledger may fall over to the next channel."""


class ChannelUnavailable(Exception):
    """The channel did not answer (timeout, connection refused): the result is unknown."""


@dataclass(frozen=True)
class StatementLine:
    channel_txn_id: str
    reference: str
    kind: str  # "recharge" or "payout"
    amount: int
    fee: int
    status: str  # "succeeded", "failed", "returned"
    time: datetime


class Gateway(Protocol):
    code: str  # the channel's code, as configured in the ledger

    def verify_card(self, request: CardVerification) -> Result: ...

    def submit(self, request: Submission) -> Result: ...

    def confirm(self, reference: str, sms_code: str) -> Result: ...

    def query(self, reference: str) -> Result: ...

    def parse_callback(self, body: bytes, headers: dict[str, str]) -> Callback: ...

    def statement(self, day: date, *, currency: str | None = None) -> str:
        """The day's statement file (of one currency, or all), CSV with a header row:
        channel_txn_id,reference,kind,amount,fee,status,time"""
        ...


@dataclass
class GatewayRegistry:
    """The adapters this process can reach, by channel code."""

    gateways: dict[str, Gateway] = field(default_factory=dict)

    def add(self, gateway: Gateway) -> None:
        self.gateways[gateway.code] = gateway

    def get(self, code: str) -> Gateway | None:
        return self.gateways.get(code)
