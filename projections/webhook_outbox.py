"""The webhooks' outbox, fed from the event log: exactly the events that happened, at least once.

`Outbox.catch_up()` follows the log like the projection runner, from its own tracking
position (`fundcenter.webhooks` in projection_tracking): a batch of events is read,
each is mapped to a webhook type (`webhook_of`), one `webhook_deliveries` row is
queued per endpoint that subscribes to it and may see it, and the tracking position
moves, all in one transaction. A crash rolls the batch back: nothing is queued twice
or skipped. The endpoints themselves are kept in `webhook_endpoints` by the same
loop, from their events, so an endpoint hears of exactly the events logged after it
was created. A disabled endpoint still gets its rows (kept for when it is enabled, or
for a replay); a deleted one gets none. A replay is an event of the endpoint too
(`ReplayRequested`): the deliveries queued before it, from its position on, are due
again, delivered and failed ones included.

A business's endpoint gets only the events of its own accounts; a staff endpoint (no
business) gets every business's and the staff types (`reconciliation.closed`, and
`projection.halted` when the projection runner halts: projections/halts.py).
Each event's webhook id is derived from the event (aggregate id, version, type), so
a retry, a replay or a rebuilt outbox sends the same id.
"""

from __future__ import annotations

import inspect
import json
import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking

from ledger import FundCenter
from ledger.domain.accounts import SYSTEM_BUSINESS_ID, Account, AccountKind, status_reason
from ledger.domain.holds import Hold
from ledger.domain.ids import uuid5
from ledger.domain.instants import iso
from ledger.domain.payments import Payment, Recharge, Withdrawal
from ledger.domain.projection_halts import ProjectionHalt
from ledger.domain.reconciliation import Reconciliation
from ledger.domain.transfers import Transfer
from ledger.domain.webhooks import ALL_TYPES, EndpointStatus, WebhookEndpoint

from .common import Batch, Decoding, check_limit, cursor_int, decode_cursor, dispatchmethod, encode_cursor
from .store import Cursor, ViewStore

log = logging.getLogger(__name__)

TRACKING_NAME = "fundcenter.webhooks"
BATCH_SIZE = 500  # events per transaction
STAFF = ""  # the business of a staff-only event
BUSINESSES_KEPT_MAX = 100_000  # accounts' businesses remembered; past it, the memory starts again empty


@dataclass(frozen=True)
class Webhook:
    """What one event tells the endpoints: its type, whose it is, what it is ordered by, its data."""

    type: str
    business_id: str  # STAFF for staff events
    ordering_key: str  # the account the event is about: one account's webhooks go out in log order
    data: dict[str, Any]


def event_id(event: Any, webhook_type: str) -> UUID:
    return uuid5(f"webhook\x1f{event.originator_id}\x1f{event.originator_version}\x1f{webhook_type}")


class WebhookMapper:
    """Maps ledger events to webhooks (None: not a webhook). Reads the ledger for what an event
    does not carry (an account's business, a hold's account); those never change."""

    def __init__(self, ledger: FundCenter) -> None:
        self.ledger = ledger
        self._business: dict[UUID, str] = {}

    def business_of(self, account_id: UUID) -> str:
        found = self._business.get(account_id)
        if found is None:
            if len(self._business) >= BUSINESSES_KEPT_MAX:
                self._business.clear()
            found = self._business[account_id] = self.ledger.account_business(account_id)
        return found

    @dispatchmethod
    def webhooks(self, event: Any) -> list[Webhook]:
        """Other events make no webhook."""
        return []

    @webhooks.register
    def _(self, event: Account.Opened) -> list[Webhook]:
        if event.kind == AccountKind.SYSTEM:
            return []
        account = str(event.originator_id)
        data = {"account_id": account, "kind": event.kind, "business_id": event.business_id,
                "external_ref": event.external_ref, "currency": event.currency, "name": event.name}
        return [Webhook("account.opened", event.business_id, account, data)]

    @webhooks.register
    def _(self, event: Account.StatusChanged) -> list[Webhook]:
        account = str(event.originator_id)
        return [Webhook("account.status_changed", self.business_of(event.originator_id), account,
                        {"account_id": account, "status": event.status, "reason": status_reason(event)})]

    @webhooks.register
    def _(self, event: Transfer.Posted) -> list[Webhook]:
        return self._transfer("transfer.posted", event.originator_id, event.postings, {
            "transfer_id": str(event.originator_id), "kind": event.kind, "currency": event.currency,
            "memo": event.memo, "references": dict(event.references)})

    @webhooks.register
    def _(self, event: Transfer.Reversed) -> list[Webhook]:
        transfer = self.ledger.get_transfer(event.originator_id)
        return self._transfer("transfer.reversed", event.originator_id, transfer.postings, {
            "transfer_id": str(event.originator_id), "reversal_id": str(event.reversal_id)})

    @webhooks.register
    def _(self, event: Hold.Placed) -> list[Webhook]:
        if event.purpose != "freeze":
            return []
        account = str(event.account_id)
        return [Webhook("hold.placed", self.business_of(event.account_id), account, {
            "hold_id": str(event.originator_id), "account_id": account, "amount": event.amount,
            "currency": event.currency, "reason": event.reason, "expires_at": iso(event.expires_at)})]

    @webhooks.register
    def _(self, event: Hold.Released) -> list[Webhook]:
        return self._hold("hold.released", event, {"amount": event.amount})

    @webhooks.register
    def _(self, event: Hold.Captured) -> list[Webhook]:
        return self._hold("hold.captured", event, {"amount": event.amount, "transfer_id": str(event.transfer_id)})

    @webhooks.register
    def _(self, event: Payment.Succeeded) -> list[Webhook]:
        return self._payment("succeeded", event)

    @webhooks.register
    def _(self, event: Payment.Failed) -> list[Webhook]:
        return self._payment("failed", event, {"reason": event.reason})

    @webhooks.register
    def _(self, event: Withdrawal.Returned) -> list[Webhook]:
        return self._payment("returned", event, {"transfer_id": str(event.transfer_id)})

    @webhooks.register
    def _(self, event: Reconciliation.Closed) -> list[Webhook]:
        reconciliation = self.ledger.get_reconciliation(event.originator_id)
        return [Webhook("reconciliation.closed", STAFF, f"reconciliation:{reconciliation.channel}", {
            "reconciliation_id": str(event.originator_id), "channel": reconciliation.channel, "day": reconciliation.day,
            "currency": reconciliation.currency, "moved": event.moved})]

    @webhooks.register
    def _(self, event: ProjectionHalt.Halted) -> list[Webhook]:
        return [Webhook("projection.halted", STAFF, f"projection:{event.projection}", {
            "projection": event.projection, "position": event.position, "error": event.error})]

    def _transfer(self, kind: str, transfer_id: UUID, postings: list[dict[str, Any]], data: dict[str, Any]) -> list[Webhook]:
        """One webhook per business whose accounts the transfer touches, with only its postings."""
        by_business: dict[str, list[dict[str, Any]]] = {}
        for posting in postings:
            account = posting["account"] if isinstance(posting["account"], UUID) else UUID(str(posting["account"]))
            business = self.business_of(account)
            if business != SYSTEM_BUSINESS_ID:
                by_business.setdefault(business, []).append(
                    {"account_id": str(account), "side": posting["side"], "amount": posting["amount"]})
        return [Webhook(kind, business, mine[0]["account_id"], {**data, "postings": mine})
                for business, mine in by_business.items()]

    def _hold(self, kind: str, event: Any, data: dict[str, Any]) -> list[Webhook]:
        account = self.ledger.hold_account(event.originator_id)
        return [Webhook(kind, self.business_of(account), str(account),
                        {"hold_id": str(event.originator_id), "account_id": str(account), **data})]

    def _payment(self, outcome: str, event: Any, extra: dict[str, Any] | None = None) -> list[Webhook]:
        """`recharge.<outcome>` or `withdrawal.<outcome>` (their events are Payment's, whichever it is)."""
        payment = self.ledger.get_payment(event.originator_id)
        kind = f"{'recharge' if isinstance(payment, Recharge) else 'withdrawal'}.{outcome}"
        account = str(payment.account_id)
        data = {"id": str(payment.id), "account_id": account, "amount": payment.amount, "currency": payment.currency,
                "method": payment.method, "channel": payment.channel, **(extra or {})}
        return [Webhook(kind, payment.business_id, account, data)]


class Outbox:
    """Follows the log into webhook_endpoints and webhook_deliveries (see the module's docstring)."""

    def __init__(self, ledger: FundCenter, store: ViewStore, *, batch_size: int = BATCH_SIZE) -> None:
        self.ledger, self.store, self.batch_size = ledger, store, batch_size
        self.mapper = WebhookMapper(ledger)
        # Only the events that can matter to the outbox are decoded: an endpoint's, or one that makes a
        # webhook (a transfer's two account events, two thirds of a busy log, are not).
        self.decoding = Decoding(lambda kind: issubclass(kind, WebhookEndpoint.Event) or _MAKES_WEBHOOKS.handles(kind))

    @property
    def position(self) -> int:
        return self.store.max_tracking_id(TRACKING_NAME) or 0

    def catch_up(self) -> int:
        """Queue the deliveries of every event up to the head of the log now; return how many events were read."""
        position, head, read = self.position, self.ledger.head(), 0
        while position < head:
            notifications = self.ledger.recorder.select_notifications(
                start=position, limit=self.batch_size, stop=head, inclusive_of_start=False)
            if not notifications:
                break
            last = notifications[-1].id
            batch = self.decoding.decoded(notifications, self.ledger.mapper.to_domain_event)
            webhooks = self._webhooks(batch)  # before the transaction: its reads of the ledger hold no lock
            with self.store.transaction() as cur:
                claimed = self.store.claim(cur, TRACKING_NAME)
                if claimed == position:
                    self._apply(cur, batch, webhooks)
                    self.store.record_tracking(cur, Tracking(TRACKING_NAME, last))
            if claimed != position:  # another process's outbox got there first
                position = claimed
                continue
            position, read = last, read + len(notifications)
        return read

    def _webhooks(self, batch: Batch) -> dict[int, list[Webhook]]:
        """The webhooks of a batch's events, by log position; none at all while no endpoint exists."""
        if not any(isinstance(event, WebhookEndpoint.Event) for _, event in batch) and not self.store.query(
                "SELECT 1 FROM webhook_endpoints WHERE status <> ? LIMIT 1", (EndpointStatus.DELETED.value,)):
            return {}
        return {position: found for position, event in batch if (found := self.mapper.webhooks(event))}

    def _apply(self, cur: Cursor, batch: Batch, webhooks: dict[int, list[Webhook]]) -> None:
        endpoints = {row["endpoint_id"]: {**row, "types": json.loads(row["event_types"])} for row in cur.execute(
            "SELECT endpoint_id, event_types, business_id, status FROM webhook_endpoints WHERE status <> ?",
            (EndpointStatus.DELETED.value,))}
        rows = []
        for position, event in batch:
            if isinstance(event, WebhookEndpoint.Event):
                self._endpoint_changed(cur, endpoints, event)
                continue
            if not endpoints:
                continue
            for webhook in webhooks.get(position, ()):
                the_id = str(event_id(event, webhook.type))
                body = json.dumps({"id": the_id, "type": webhook.type, "created_at": iso(event.timestamp),
                                   "data": webhook.data}, separators=(",", ":"), sort_keys=True)
                queued_s = event.timestamp.timestamp()
                for endpoint in endpoints.values():
                    if _sees(endpoint, webhook):
                        rows.append((f"{endpoint['endpoint_id']}:{the_id}", endpoint["endpoint_id"], the_id, position,
                                     webhook.type, webhook.ordering_key, body, "pending", 0, queued_s, queued_s))
        cur.insert_rows("webhook_deliveries", (
            "delivery_id", "endpoint_id", "event_id", "position", "event_type", "ordering_key", "body", "status",
            "attempts", "queued_s", "next_attempt_s"), rows)

    @staticmethod
    def _endpoint_changed(cur: Cursor, endpoints: dict[str, dict[str, Any]], event: Any) -> None:
        endpoint_id = str(event.originator_id)
        if isinstance(event, WebhookEndpoint.Created):
            row = {"endpoint_id": endpoint_id, "event_types": json.dumps(list(event.event_types)),
                   "types": list(event.event_types), "business_id": event.business_id,
                   "status": EndpointStatus.ACTIVE.value}
            cur.execute(
                "INSERT INTO webhook_endpoints (endpoint_id, url, event_types, business_id, description, status,"
                " created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (endpoint_id, event.url, row["event_types"], event.business_id, event.description, row["status"],
                 event.created_by, iso(event.timestamp)))
            endpoints[endpoint_id] = row
            return
        if isinstance(event, WebhookEndpoint.ReplayRequested):
            requested_s = event.timestamp.timestamp()  # due now, with a fresh give-up horizon
            cur.execute(
                "UPDATE webhook_deliveries SET status = 'pending', queued_s = ?, next_attempt_s = ?, delivered_at = NULL"
                " WHERE endpoint_id = ? AND position >= ?", (requested_s, requested_s, endpoint_id, event.from_position))
            return
        status = {WebhookEndpoint.Disabled: EndpointStatus.DISABLED, WebhookEndpoint.Enabled: EndpointStatus.ACTIVE,
                  WebhookEndpoint.Deleted: EndpointStatus.DELETED}.get(type(event))
        if status is None:  # a new secret: nothing the outbox keeps
            return
        cur.execute("UPDATE webhook_endpoints SET status = ? WHERE endpoint_id = ?", (status.value, endpoint_id))
        if status == EndpointStatus.DELETED:
            endpoints.pop(endpoint_id, None)
        elif endpoint_id in endpoints:
            endpoints[endpoint_id]["status"] = status.value


_MAKES_WEBHOOKS = inspect.getattr_static(WebhookMapper, "webhooks")  # the dispatcher: `handles(kind)`


def _sees(endpoint: dict[str, Any], webhook: Webhook) -> bool:
    if ALL_TYPES not in endpoint["types"] and webhook.type not in endpoint["types"]:
        return False
    owner = endpoint["business_id"]
    return owner is None or (webhook.business_id != STAFF and owner == webhook.business_id)


def replayed(store: ViewStore, endpoint_id: UUID, from_position: int, requested_at: int) -> int:
    """How many deliveries a replay asked for at log position `requested_at` sent again: the endpoint's
    from `from_position` on, queued before the request (the same answer on every retry of it)."""
    rows = store.query(
        "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE endpoint_id = ? AND position >= ? AND position < ?",
        (str(endpoint_id), from_position, requested_at),
    )
    return int(rows[0]["n"])


def backlog(store: ViewStore, now_s: float) -> dict[str, float]:
    """For /metrics: active endpoints' deliveries not yet delivered or failed (`pending`), those due now
    (`due`), the oldest one's age by the clock (`oldest_s`), and the outbox's tracking position."""
    row = store.query(
        "SELECT COUNT(*) AS pending, SUM(CASE WHEN d.next_attempt_s <= ? THEN 1 ELSE 0 END) AS due,"
        " MIN(d.queued_s) AS oldest FROM webhook_deliveries d JOIN webhook_endpoints e"
        " ON e.endpoint_id = d.endpoint_id WHERE d.status = 'pending' AND e.status = ?",
        (now_s, EndpointStatus.ACTIVE.value),
    )[0]
    oldest = row["oldest"]
    return {"pending": row["pending"] or 0, "due": row["due"] or 0,
            "oldest_s": 0.0 if oldest is None else max(now_s - float(oldest), 0.0),
            "position": store.max_tracking_id(TRACKING_NAME) or 0}


def list_deliveries(
    store: ViewStore, endpoint_id: UUID, *, limit: int = 100, cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """An endpoint's deliveries in log order, each with its attempts; paged by log position."""
    check_limit(limit)
    after = cursor_int(decode_cursor(cursor, 1)[0], cursor) if cursor is not None else -1
    rows = store.query(
        "SELECT delivery_id, event_id, event_type, position, status, attempts, delivered_at, last_error"
        " FROM webhook_deliveries WHERE endpoint_id = ? AND position > ? ORDER BY position, delivery_id LIMIT ?",
        (str(endpoint_id), after, limit + 1),
    )
    page = rows[:limit]
    attempts: dict[str, list[dict[str, Any]]] = {row["delivery_id"]: [] for row in page}
    if page:
        marks = ", ".join("?" * len(page))
        for attempt in store.query(
            f"SELECT delivery_id, attempt, attempted_at, status_code, latency_ms, error FROM webhook_attempts"
            f" WHERE delivery_id IN ({marks}) ORDER BY delivery_id, attempt", [row["delivery_id"] for row in page],
        ):
            attempts[attempt.pop("delivery_id")].append(attempt)
    items = [{**{k: v for k, v in row.items() if k != "delivery_id"}, "attempt_log": attempts[row["delivery_id"]]}
             for row in page]
    following = encode_cursor(page[-1]["position"]) if len(rows) > limit else None
    return items, following


def list_endpoints(
    store: ViewStore, business_id: str | None, *, limit: int = 100, cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A business's endpoints (None: the staff's), oldest first, without the deleted ones."""
    check_limit(limit)
    owner = "business_id = ?" if business_id is not None else "business_id IS NULL"
    sql, params = f"SELECT * FROM webhook_endpoints WHERE {owner} AND status <> ?", [
        *([business_id] if business_id is not None else []), EndpointStatus.DELETED.value]
    if cursor is not None:
        created_at, endpoint_id = decode_cursor(cursor, 2)
        sql += " AND (created_at > ? OR (created_at = ? AND endpoint_id > ?))"
        params += [created_at, created_at, endpoint_id]
    rows = store.query(sql + " ORDER BY created_at, endpoint_id LIMIT ?", (*params, limit + 1))
    following = encode_cursor(rows[limit - 1]["created_at"], rows[limit - 1]["endpoint_id"]) if len(rows) > limit else None
    items = [{"id": r["endpoint_id"], "url": r["url"], "events": json.loads(r["event_types"]), "business_id": r["business_id"],
              "description": r["description"], "status": r["status"], "created_by": r["created_by"],
              "created_at": r["created_at"]} for r in rows[:limit]]
    return items, following
