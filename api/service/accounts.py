"""Accounts: open one, its status, and reads of it (the account, its statement, a past balance)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger import AccountView, HoldView
from ledger.domain import ids
from ledger.domain.access import Permission
from ledger.domain.accounts import Account, status_reason
from ledger.domain.errors import ValidationError
from projections.balances import account_balance
from projections.statements import balance_as_of, statement, statement_entries

from .. import models
from ..problems import forbidden
from .caller import Caller
from .exports import STATEMENT_CSV, csv_lines

STATUS_EVENTS_SCANNED_MAX = 1000  # an account's newest events read to find its last status change


class Accounts(Caller):
    """The account routes' calls."""

    def open_account(self, body: models.OpenAccount, key: str) -> AccountView:
        business_id = body.business_id or self.who.business_id
        if business_id is None:
            raise ValidationError("business_id is required")
        if self.who.business_id is not None and business_id != self.who.business_id:
            raise forbidden("a business key opens accounts for its own business only")
        if body.kind != "member" and not self.who.can(Permission.ACCOUNTS_OPEN_ANY):
            raise forbidden(f"the {self.who.role.value} role opens member accounts only")
        account_id = ids.account_id(business_id, body.external_ref)
        return self.ledger.idempotent(
            self._key(key), "open-account", ids.fingerprint(**{**body.model_dump(mode="json"), "business_id": business_id}),
            lambda: self.ledger.open_account(
                body.kind, business_id, body.external_ref, body.currency, body.name, channel=body.channel
            ),
            self._account_view, target=lambda a: a.id == account_id, refer=lambda view: [view.id],
        )

    def _account_view(self, states: list[tuple[Any, int | None]]) -> AccountView:
        (account, position), = states
        return AccountView.of(account, self.ledger.clock(), position)

    def account(self, account_id: UUID) -> AccountView | dict[str, Any]:
        view = self.ledger.get_account(self._own(account_id))
        if view.kind != "system":
            return view
        return {**account_balance(self.views, account_id, self.ledger.clock()), "id": account_id}

    def set_status(self, account_id: UUID, status: str, key: str, reason: str | None = None) -> AccountView:
        return self.ledger.set_account_status(self._own(account_id), status, idempotency_key=self._key(key), by=self.by,
                                              reason=reason)

    def last_status_change(self, account_id: UUID) -> dict[str, Any] | None:
        """The account's latest status change (status, by, at, reason), from its own events, newest first;
        None if it never changed or not among its newest STATUS_EVENTS_SCANNED_MAX events."""
        self._own(account_id)
        for event in self.ledger.events.get(account_id, desc=True, limit=STATUS_EVENTS_SCANNED_MAX):
            if isinstance(event, Account.StatusChanged):
                return {"status": event.status, "by": event.by, "at": event.timestamp, "reason": status_reason(event)}
        return None

    def statement(self, account_id: UUID, start: datetime | None, end: datetime | None, limit: int,
                  cursor: str | None, min_position: int | None) -> dict[str, Any]:
        view = self.ledger.get_account(self._own(account_id))
        self.services.wait_for(min_position)
        entries, following = statement(self.views, account_id, start=start, end=end, limit=limit, cursor=cursor)
        return {"account_id": account_id, "currency": view.currency, "entries": entries, "next_cursor": following}

    def statement_csv(self, account_id: UUID, start: datetime | None, end: datetime | None,
                      min_position: int | None) -> Iterator[str]:
        """The statement within [start, end) as CSV, streamed; who may read it is checked first."""
        view = self.ledger.get_account(self._own(account_id))
        self.services.wait_for(min_position)
        rows = statement_entries(self.views, account_id, start=start, end=end)
        return csv_lines(STATEMENT_CSV, ({**row, "currency": view.currency} for row in rows))

    def balance(self, account_id: UUID, as_of: datetime | None, min_position: int | None) -> dict[str, Any]:
        view = self.ledger.get_account(self._own(account_id))
        self.services.wait_for(min_position)
        moment = as_of or self.ledger.clock()
        return {"account_id": account_id, "currency": view.currency, "as_of": moment,
                "posted": balance_as_of(self.views, account_id, moment)}

    def holds(self, account_id: UUID, limit: int) -> list[HoldView]:
        """The account's newest `limit` holds (freezes and the holds of withdrawals), each as the ledger has it now."""
        self._own(account_id)
        rows = self.views.query("SELECT hold_id FROM account_holds WHERE account_id = ? ORDER BY placed_at DESC, hold_id"
                                " LIMIT ?", (str(account_id), limit))
        return [self.ledger.get_hold(UUID(row["hold_id"])) for row in rows]
