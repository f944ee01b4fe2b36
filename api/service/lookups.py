"""Lookups: a transfer by id and its reversal; accounts listed by kind, external_ref and status;
the channel catalog's banks and routes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger import TransferView
from ledger.domain.errors import TransferNotFound
from ledger.views import BindingView, PaymentView
from projections.balances import list_accounts
from projections.transactions import find_by_reference, list_bindings

from ..problems import forbidden
from .caller import Caller


class Lookups(Caller):
    """The lookup routes' calls."""

    def _own_transfer(self, transfer_id: UUID) -> TransferView:
        """The transfer, if the caller may see it: staff see any; a business one that touches its accounts."""
        view = self.ledger.get_transfer(transfer_id)
        if self.who.business_id is not None and self.who.business_id not in self._businesses(view):
            raise TransferNotFound(f"transfer {transfer_id} not found")
        return view

    def _businesses(self, view: TransferView) -> set[str]:
        return {self.ledger.account_business(UUID(str(p["account"]))) for p in view.postings}

    def transfer(self, transfer_id: UUID) -> TransferView:
        return self._own_transfer(transfer_id)

    def reverse(self, transfer_id: UUID, reason: str, key: str) -> TransferView:
        """A reversing transfer, once per transfer. A business reverses its own plain transfers only."""
        view = self._own_transfer(transfer_id)
        if self.who.business_id is not None and (view.kind != "transfer" or self._businesses(view) != {self.who.business_id}):
            raise forbidden("a business key reverses transfers between its own accounts only")
        return self.ledger.reverse_transfer(transfer_id, self._key(key), reason, by=self.by)

    def found(self, kind: str, reference: str, business_id: str | None, min_position: int | None) -> list[str]:
        """The ids of the caller's `kind` rows with `reference` (staff: of `business_id`, or of any business)."""
        if self.who.business_id is not None:
            if business_id not in (None, self.who.business_id):
                return []
            business_id = self.who.business_id
        self.services.wait_for(min_position)
        return find_by_reference(self.views, kind, reference, business_id)

    def transfers(self, reference: str, business_id: str | None, min_position: int | None) -> dict[str, Any]:
        ids = self.found("transfer", reference, business_id, min_position)
        return {"items": [self.ledger.get_transfer(UUID(i)) for i in ids]}

    def holds(self, reference: str, business_id: str | None, min_position: int | None) -> dict[str, Any]:
        ids = self.found("freeze", reference, business_id, min_position)
        return {"items": [self.ledger.get_hold(UUID(i)) for i in ids]}

    def payments(self, kind: str, reference: str, business_id: str | None, min_position: int | None) -> dict[str, Any]:
        ids = self.found(kind, reference, business_id, min_position)
        payments = [self.ledger.get_payment(UUID(i)) for i in ids]
        return {"items": [PaymentView.of(p, self.ledger.latest_position(p)) for p in payments]}

    def bindings(self, account_id: UUID, limit: int, cursor: str | None, min_position: int | None) -> dict[str, Any]:
        self._own(account_id)
        self.services.wait_for(min_position)
        ids, following = list_bindings(self.views, str(account_id), limit=limit, cursor=cursor)
        return {"items": [BindingView.of(self.ledger.get_binding(UUID(i))) for i in ids], "next_cursor": following}

    def accounts(self, min_position: int | None, *, business_id: str | None, kind: str | None,
                 external_ref: str | None, status: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
        if self.who.business_id is not None:
            if business_id not in (None, self.who.business_id):
                return {"items": [], "next_cursor": None}
            business_id = self.who.business_id
        self.services.wait_for(min_position)
        items, following = list_accounts(self.views, business_id=business_id, kind=kind, external_ref=external_ref,
                                         status=status, limit=limit, cursor=cursor)
        return {"items": items, "next_cursor": following}

    def banks(self) -> dict[str, Any]:
        return {"banks": self.ledger.catalog().banks}

    def routes(self, business_id: str | None) -> dict[str, Any]:
        routes = self.ledger.catalog().routes
        if business_id is not None:
            routes = {name: entries for name, entries in routes.items() if name.split("/", 1)[0] == business_id}
        return {"routes": routes}
