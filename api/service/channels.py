"""Channels: the catalog (banks, channels, products, routes) and the sweep of pending payments."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from ledger.commands import ConfigureProduct, SetChannelStatus, SetRoute
from ledger.domain import ids
from ledger.domain.channels import Catalog, check_method
from ledger.domain.inputs import check_code
from ledger.domain.money import check_amount
from ledger.views import PaymentView
from projections.payments import day_activity, open_payments

from .approvals import submit
from .caller import Caller


class Channels(Caller):
    """The operators' channel routes' calls."""

    def catalog(self) -> dict[str, Any]:
        return _shown(self.ledger.catalog())

    def activity(self, day: str | None = None) -> dict[str, Any]:
        """A day's outcomes (today's, the accounting day's, by default) per channel and bank: `rows` per
        channel, bank and currency; `channels` and `banks` their totals per currency, each with the
        success rate in basis points (None without an outcome)."""
        day = day or self.ledger.today()
        window = self.ledger.accounting_day.window(date.fromisoformat(day))
        rows = day_activity(self.views, sorted(self.ledger.catalog().channels), window)
        return {"day": day, "rows": [_rated(row) for row in rows],
                "channels": _totals(rows, "channel"), "banks": _totals(rows, "bank")}

    def route_preview(self, business_id: str, method: str, bank: str, amount: int) -> dict[str, Any]:
        """Where a payment would go now: the channels routing would try, in order, and those it would
        skip, with why (as a payment's decisions record them); nothing is submitted or recorded."""
        check_code(business_id, "business_id")
        check_code(bank, "bank")
        choices, skipped = self.services.payments.route(business_id, check_method(method), bank, check_amount(amount))
        return {"choices": [{"channel": c.channel, "priority": c.priority, "fee": c.fee,
                             "success_rate_bps": c.success_rate_bps, "reason": c.reason} for c in choices],
                "skipped": skipped}

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


def _rated(row: dict[str, Any]) -> dict[str, Any]:
    done = row["succeeded"] + row["failed"]
    return {**row, "success_rate_bps": row["succeeded"] * 10_000 // done if done else None}


def _totals(rows: list[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        total = totals[(row[by], row["currency"])]
        total[0] += row["succeeded"]
        total[1] += row["failed"]
        total[2] += row["amount_succeeded"]
    return [_rated({by: name, "currency": currency, "succeeded": s, "failed": f, "amount_succeeded": amount})
            for (name, currency), (s, f, amount) in sorted(totals.items())]
