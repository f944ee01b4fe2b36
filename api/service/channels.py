"""Channels: the catalog (banks, channels, products, routes) and the sweep of pending payments."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from ledger.domain import ids
from ledger.views import PaymentView
from projections.payments import open_payments

from .caller import Caller


class Channels(Caller):
    """The operators' channel routes' calls."""

    def catalog(self) -> dict[str, Any]:
        catalog = self.ledger.catalog()
        return {"banks": catalog.banks, "channels": catalog.channels, "routes": catalog.routes}

    def change_catalog(self, key: str, command: str, *args: Any) -> dict[str, Any]:
        catalog = getattr(self.ledger, command)(*args, idempotency_key=self._key(key), by=self.by)
        return {"banks": catalog.banks, "channels": catalog.channels, "routes": catalog.routes}

    def sweep(self, older_than_s: int, key: str) -> list[Any]:
        def run() -> list[Any]:
            pending = [UUID(row["id"]) for row in open_payments(self.views, self.ledger.clock(), timedelta(seconds=older_than_s))]
            return self.services.payments.sweep(pending)

        # Many saves, none of them the sweep's own: its answer is recorded after it (a sweep run
        # twice settles nothing twice, so a crash in between costs nothing but a second look).
        return self.ledger.idempotent(
            self._key(key), "sweep-payments", ids.fingerprint(older_than_s=older_than_s), run,
            lambda states: [PaymentView.of(payment, position) for payment, position in states],
            refer=lambda views: [view.id for view in views],
        )
