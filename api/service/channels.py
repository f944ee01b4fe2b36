"""Channels: the catalog (banks, channels, products, routes) and the sweep of pending payments."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from ledger.commands import ConfigureProduct, SetChannelStatus, SetRoute
from ledger.domain import ids
from ledger.domain.channels import Catalog
from ledger.views import PaymentView
from projections.payments import open_payments

from .approvals import submit
from .caller import Caller


class Channels(Caller):
    """The operators' channel routes' calls."""

    def catalog(self) -> dict[str, Any]:
        return _shown(self.ledger.catalog())

    def register_bank(self, key: str, code: str, name: str) -> dict[str, Any]:
        return _shown(self.ledger.register_bank(code, name, idempotency_key=self._key(key), by=self.by))

    def register_channel(self, key: str, code: str, name: str, logo_url: str) -> dict[str, Any]:
        return _shown(self.ledger.register_channel(code, name, logo_url, idempotency_key=self._key(key), by=self.by))

    def set_channel_status(self, key: str, code: str, status: str) -> dict[str, Any]:
        return _shown(submit(self, SetChannelStatus(code, status, idempotency_key=self._key(key), by=self.by)))

    def configure_product(
        self, key: str, code: str, method: str, fee: dict[str, Any], banks: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        rule = self.ledger.fee_rule(fee)
        return _shown(submit(self, ConfigureProduct(code, method, rule, banks, idempotency_key=self._key(key), by=self.by)))

    def set_route(self, key: str, business_id: str, method: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
        return _shown(submit(self, SetRoute(business_id, method, entries, idempotency_key=self._key(key), by=self.by)))

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


def _shown(catalog: Catalog) -> dict[str, Any]:
    return {"banks": catalog.banks, "channels": catalog.channels, "routes": catalog.routes}
