"""Bank cards: masking, tokens, and the binding (绑定) of a card to a member's account.

Full card and ID numbers never enter an event: a binding keeps masked forms
(first 6 and last 4 digits), a keyed HMAC token of the card number (to recognise
the same card again without storing it), and each channel's agreement reference
from the card's verification (鉴权).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import event

from .aggregate import LedgerAggregate
from .errors import Conflict


def mask_number(number: str) -> str:
    """First 6 and last 4 digits kept: 622202*********3446."""
    return number[:6] + "*" * max(len(number) - 10, 0) + number[-4:]


def mask_name(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1)


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


def card_token(key: bytes, number: str) -> str:
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()[:32]


class BindingInactive(Conflict):
    code = "binding-inactive"


class CardBinding(LedgerAggregate):
    id: UUID

    if TYPE_CHECKING:  # the event classes @event makes below, declared for mypy (test_domain_events_declared.py compares)
        class Bound(LedgerAggregate.Created):
            account_id: UUID
            business_id: str
            bank: str
            card_masked: str
            card_token: str
            holder_masked: str
            id_number_masked: str
            phone_masked: str
            agreements: dict[str, str]
            request_hash: str

        class Unbound(LedgerAggregate.Event):
            pass

    @event("Bound")
    def __init__(
        self, id: UUID, account_id: UUID, business_id: str, bank: str, card_masked: str, card_token: str, holder_masked: str,
        id_number_masked: str, phone_masked: str, agreements: dict[str, str], request_hash: str,
    ) -> None:
        self.account_id = account_id
        self.business_id = business_id
        self.bank = bank
        self.card_masked = card_masked
        self.card_token = card_token
        self.holder_masked = holder_masked
        self.id_number_masked = id_number_masked
        self.phone_masked = phone_masked
        self.agreements = agreements  # channel -> that channel's agreement reference
        self.request_hash = request_hash
        self.status = "active" if agreements else "failed"

    def require_active(self) -> None:
        if self.status != "active":
            raise BindingInactive(f"card binding {self.id} is {self.status}")

    def unbind(self) -> bool:
        if self.status != "active":
            return False
        self._unbound()
        return True

    @event("Unbound")
    def _unbound(self) -> None:
        assert self.status == "active", self.status
        self.status = "unbound"
