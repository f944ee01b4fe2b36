"""The channel catalog: banks, payment channels with their products, and routes.

A channel offers products, one per method, each with a fee rule and, per bank, a
switch (on or off) and limits (per transaction, per day). A route lists, for one
business and method, the channels to try and their priorities. Configuration
changes are rare and read together (routing needs all of it), so the whole
catalog is one aggregate: every change is an event on it, and records `by`, who
made it (the acting API key's id, "cli" or "demo"; None in older logs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import event

from .aggregate import LedgerAggregate
from .errors import Conflict, NotFound, ValidationError
from .fees import FeeRule
from .inputs import NAME_LENGTH_MAX, check_code, check_text
from .methods import METHODS
from .routing import Candidate

ROUTE_LENGTH_MAX = 20


class ChannelNotFound(NotFound):
    pass


class NoChannelAvailable(Conflict):
    code = "no-channel-available"


def check_method(method: object, allowed: tuple[str, ...] = METHODS) -> str:
    if not isinstance(method, str) or method not in allowed:
        raise ValidationError(f"method must be one of {', '.join(allowed)}; got {method!r}")
    return method


def _limit(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError(f"{name} must be a positive integer or null, got {value!r}")
    return value


def check_route(entries: object) -> list[dict[str, Any]]:
    """[{channel, priority}], 1 to 20 of them, each channel once."""
    if not isinstance(entries, list) or not 1 <= len(entries) <= ROUTE_LENGTH_MAX:
        raise ValidationError(f"a route lists 1 to {ROUTE_LENGTH_MAX} channels")
    checked, seen = [], set()
    for entry in entries:
        channel = check_code(entry.get("channel"), "channel")
        priority = entry.get("priority")
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 1000:
            raise ValidationError(f"priority must be an integer from 0 to 1000, got {priority!r}")
        if channel in seen:
            raise ValidationError(f"channel {channel} appears twice in the route")
        seen.add(channel)
        checked.append({"channel": channel, "priority": priority})
    return checked


class Catalog(LedgerAggregate):
    id: UUID

    if TYPE_CHECKING:  # the event classes @event makes below, declared for mypy (test_domain_events_declared.py compares)
        class Started(LedgerAggregate.Created):
            by: str | None

        class BankRegistered(LedgerAggregate.Event):
            code: str
            name: str
            by: str | None

        class ChannelRegistered(LedgerAggregate.Event):
            code: str
            name: str
            logo_url: str
            by: str | None

        class ChannelStatusChanged(LedgerAggregate.Event):
            code: str
            status: str
            by: str | None

        class ProductConfigured(LedgerAggregate.Event):
            code: str
            method: str
            fee: dict[str, Any]
            banks: dict[str, dict[str, Any]]
            by: str | None

        class RouteSet(LedgerAggregate.Event):
            business_id: str
            method: str
            entries: list[dict[str, Any]]
            by: str | None

    @event("Started")
    def __init__(self, id: UUID, by: str | None = None) -> None:  # by: who made the first change
        self.banks: dict[str, str] = {}  # code -> name
        self.channels: dict[str, dict[str, Any]] = {}  # code -> {name, logo_url, status, products}
        self.routes: dict[str, list[dict[str, Any]]] = {}  # "business/method" -> [{channel, priority}]

    # -- changes --------------------------------------------------------------------------

    def register_bank(self, code: str, name: str, by: str | None = None) -> bool:
        check_code(code, "bank code")
        check_text(name, "name", required=True, length_max=NAME_LENGTH_MAX)
        if self.banks.get(code) == name:
            return False
        self._bank_registered(code, name, by)
        return True

    def register_channel(self, code: str, name: str, logo_url: str, by: str | None = None) -> bool:
        check_code(code, "channel code")
        check_text(name, "name", required=True, length_max=NAME_LENGTH_MAX)
        check_text(logo_url, "logo_url", length_max=500)
        known = self.channels.get(code)
        if known and (known["name"], known["logo_url"]) == (name, logo_url):
            return False
        self._channel_registered(code, name, logo_url, by)
        return True

    def set_channel_status(self, code: str, status: str, by: str | None = None) -> bool:
        channel = self.channel(code)
        if status not in ("open", "closed"):
            raise ValidationError(f"a channel is 'open' or 'closed', not {status!r}")
        if channel["status"] == status:
            return False
        self._channel_status_changed(code, status, by)
        return True

    def configure_product(
        self, code: str, method: str, fee: FeeRule, banks: dict[str, dict[str, Any]], by: str | None = None
    ) -> None:
        self.channel(code)
        check_method(method)
        checked = {}
        for bank, setting in banks.items():
            if bank not in self.banks:
                raise ValidationError(f"bank {bank!r} is not registered")
            checked[bank] = {
                "enabled": bool(setting.get("enabled", True)),
                "limit_per_transaction": _limit(setting.get("limit_per_transaction"), "limit_per_transaction"),
                "limit_per_day": _limit(setting.get("limit_per_day"), "limit_per_day"),
            }
        self._product_configured(code, method, fee.as_dict(), checked, by)

    def set_route(self, business_id: str, method: str, entries: list[dict[str, Any]], by: str | None = None) -> bool:
        check_code(business_id, "business_id")
        check_method(method)
        entries = check_route(entries)
        for entry in entries:
            self.channel(entry["channel"])
        if self.routes.get(f"{business_id}/{method}") == entries:
            return False
        self._route_set(business_id, method, entries, by)
        return True

    # -- queries --------------------------------------------------------------------------

    def channel(self, code: str) -> dict[str, Any]:
        if code not in self.channels:
            raise ChannelNotFound(f"channel {code!r} not found")
        return self.channels[code]

    def candidates(
        self, business_id: str, method: str, bank: str, usage: dict[str, int], success_bps: dict[str, int],
        only: set[str] | None = None,
    ) -> tuple[list[Candidate], list[dict[str, str]]]:
        """The route's channels as routing candidates; those that cannot be candidates at all, with why."""
        route = self.routes.get(f"{business_id}/{method}")
        if not route:
            raise NoChannelAvailable(f"no route for business {business_id} and method {method}")
        candidates, skipped = [], []
        for entry in route:
            code = entry["channel"]
            channel = self.channels[code]
            product = channel["products"].get(method)
            if product is None:
                skipped.append({"channel": code, "reason": f"no {method} product"})
                continue
            if only is not None and code not in only:
                skipped.append({"channel": code, "reason": "card not bound at this channel"})
                continue
            setting = product["banks"].get(bank, {"enabled": False})
            candidates.append(Candidate(
                channel=code, priority=entry["priority"], channel_open=channel["status"] == "open",
                bank_enabled=setting["enabled"], fee_rule=FeeRule(**product["fee"]),
                limit_per_transaction=setting.get("limit_per_transaction"), limit_per_day=setting.get("limit_per_day"),
                used_today=usage.get(code, 0), success_rate_bps=success_bps.get(code, 10_000),
            ))
        return candidates, skipped

    def fee(self, code: str, method: str, amount: int) -> int:
        product = self.channel(code)["products"].get(method)
        return FeeRule(**product["fee"]).fee(amount) if product else 0

    # -- events ---------------------------------------------------------------------------

    @event("BankRegistered")
    def _bank_registered(self, code: str, name: str, by: str | None = None) -> None:
        self.banks[code] = name

    @event("ChannelRegistered")
    def _channel_registered(self, code: str, name: str, logo_url: str, by: str | None = None) -> None:
        known = self.channels.get(code, {"status": "open", "products": {}})
        self.channels[code] = {**known, "name": name, "logo_url": logo_url}

    @event("ChannelStatusChanged")
    def _channel_status_changed(self, code: str, status: str, by: str | None = None) -> None:
        assert self.channels[code]["status"] != status, (code, status)
        self.channels[code]["status"] = status

    @event("ProductConfigured")
    def _product_configured(
        self, code: str, method: str, fee: dict[str, Any], banks: dict[str, dict[str, Any]], by: str | None = None
    ) -> None:
        assert code in self.channels and all(bank in self.banks for bank in banks), (code, sorted(banks))
        self.channels[code]["products"][method] = {"fee": fee, "banks": banks}

    @event("RouteSet")
    def _route_set(self, business_id: str, method: str, entries: list[dict[str, Any]], by: str | None = None) -> None:
        assert all(entry["channel"] in self.channels for entry in entries), entries
        self.routes[f"{business_id}/{method}"] = entries
