"""A small typed client of Fund Center's HTTP API, for business systems (built on httpx only).

```python
from fundcenter.client import Client

with Client("https://fundcenter.example.com", api_key) as fc:
    alice = fc.open_account("alice", "CNY", name="Alice")
    paid = fc.transfer(alice["id"], bob["id"], 2500, "CNY", reference="order-9")
```

- **Results** are TypedDicts: the JSON the API answers (ids and instants as strings, amounts as
  integers of minor units).
- **Errors**: every answer that is not a 2xx raises `FundCenterError`, carrying the RFC 9457
  problem's `status`, `type` (the stable slug: `insufficient-funds`...), `title`, `detail`,
  `instance` and `request_id`. A connection that still fails after the retries raises httpx's
  own `TransportError`.
- **Retries**: a connection error (the request may or may not have reached the server), a 5xx
  or a 429 is tried again, at most `retries` times, after a back-off that doubles from
  `backoff_s` (jittered to 50-100 %, at most `backoff_s_max`; a `Retry-After` is honoured up to
  that). Every command sends an `Idempotency-Key`, made once per call (or given), and its
  retries send the same one: a command the server committed before the answer was lost answers
  its first outcome, never a second transfer.
- **Webhooks**: `verify_signature(secret, headers, raw_body)` checks a delivery's
  `Fundcenter-Signature` (HMAC-SHA256 over `"<t>.<raw body>"`) and its age, and returns the event.

`Client(base_url, api_key)` makes its own `httpx.Client`; `Client(http=..., api_key=...)` uses
one given (its `base_url` set), such as a test's client of the app.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, Literal, NotRequired, TypedDict, TypeVar, cast
from uuid import uuid4

import httpx

__all__ = [
    "Account", "Balance", "Client", "Delivery", "FundCenterError", "Hold", "NewWebhookSecret", "Page", "Payment",
    "SignatureError", "Statement", "Transfer", "WebhookEndpoint", "WebhookEvent", "verify_signature",
]

RETRIES_DEFAULT = 3  # attempts after the first
BACKOFF_S, BACKOFF_S_MAX = 0.25, 5.0  # the first pause, and the longest
TIMEOUT_S = 10.0
SIGNATURE_TOLERANCE_S = 300  # a webhook signed longer ago than this (or as far ahead) is refused
RETRY_STATUSES = frozenset({429})  # and every 5xx
USER_AGENT = "fundcenter-client/1"

T = TypeVar("T")
Id = str  # a UUID, as the API writes it
Instant = str  # ISO 8601 with an offset


# -- what the API answers ---------------------------------------------------------------------


class Account(TypedDict):
    id: Id
    kind: str
    business_id: str
    external_ref: str
    currency: str
    name: str
    status: str
    role: str | None
    channel: str | None
    posted: int
    pending_debits: int
    frozen: int
    available: int
    position: int | None


class Balance(TypedDict):
    account_id: Id
    currency: str
    as_of: Instant
    posted: int


class StatementEntry(TypedDict):
    position: int
    seq: int
    transfer_id: Id
    kind: str
    side: Literal["debit", "credit"]
    amount: int
    balance_after: int
    counterparty_id: Id | None
    memo: str
    created_at: Instant


class Statement(TypedDict):
    account_id: Id
    currency: str
    entries: list[StatementEntry]
    next_cursor: str | None


class Posting(TypedDict):
    account: Id
    side: Literal["debit", "credit"]
    amount: int


class Transfer(TypedDict):
    id: Id
    kind: str
    currency: str
    amount: int
    postings: list[Posting]
    memo: str
    references: dict[str, str]
    reversed_by: Id | None
    created_at: Instant
    position: int | None
    reference: str | None


class Hold(TypedDict):
    id: Id
    account_id: Id
    currency: str
    amount: int
    remaining: int
    released: int
    captured: int
    status: str
    reason: str
    expires_at: Instant | None
    capture_transfer_ids: list[Id]
    position: int | None
    reference: str | None


class Payment(TypedDict):
    """A recharge or a withdrawal (`kind`)."""

    id: Id
    kind: Literal["recharge", "withdrawal"]
    account_id: Id
    amount: int
    currency: str
    method: str
    bank: str
    binding_id: Id | None
    status: str
    channel: str | None
    channel_txn_id: str | None
    redirect_url: str | None
    fee: int
    failure: str | None
    decisions: list[dict[str, Any]]
    transfer_ids: list[Id]
    created_at: Instant
    position: int | None
    reference: str | None


class WebhookEndpoint(TypedDict):
    id: Id
    url: str
    events: list[str]
    business_id: str | None
    description: str
    status: Literal["active", "disabled", "deleted"]
    created_by: str
    created_at: Instant
    position: NotRequired[int | None]


class NewWebhookSecret(WebhookEndpoint):
    secret: str | None  # shown on this answer only; None on a retry of the same request


class Attempt(TypedDict):
    attempt: int
    attempted_at: Instant
    status_code: int | None
    latency_ms: int
    error: str | None


class Delivery(TypedDict):
    event_id: Id
    event_type: str
    position: int
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    delivered_at: Instant | None
    last_error: str | None
    attempt_log: list[Attempt]


class Page(TypedDict, Generic[T]):
    items: list[T]
    next_cursor: str | None


class WebhookEvent(TypedDict):
    """What a webhook delivers: dedupe by `id` (a retry or a replay sends the same id again)."""

    id: Id
    type: str
    created_at: Instant
    data: dict[str, Any]


# -- errors -------------------------------------------------------------------------------------


class FundCenterError(Exception):
    """An answer that is not a 2xx, as its RFC 9457 problem: `type` is the stable slug to branch on."""

    def __init__(self, status: int, type: str, title: str, detail: str, *, instance: str | None = None,
                 request_id: str | None = None, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(f"{status} {type}: {detail}")
        self.status, self.type, self.title, self.detail = status, type, title, detail
        self.instance, self.request_id, self.errors = instance, request_id, errors or []

    @classmethod
    def of(cls, response: httpx.Response) -> FundCenterError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "type" not in body:  # not the service's problem (a proxy's page)
            text = " ".join(response.text.split())[:500]
            return cls(response.status_code, "about:blank", response.reason_phrase or "HTTP error", text,
                       request_id=response.headers.get("X-Request-Id"))
        return cls(int(body.get("status") or response.status_code), str(body["type"]), str(body.get("title", "")),
                   str(body.get("detail", "")), instance=body.get("instance"),
                   request_id=body.get("request_id") or response.headers.get("X-Request-Id"), errors=body.get("errors"))


class SignatureError(ValueError):
    """A webhook whose signature does not verify, or is too old (or from the future)."""


# -- webhook signatures ---------------------------------------------------------------------------


def verify_signature(
    secret: str | Iterable[str], headers: Mapping[str, str], raw_body: bytes, tolerance: float = SIGNATURE_TOLERANCE_S,
    now: float | datetime | None = None,
) -> WebhookEvent:
    """The event a webhook delivers, once its `Fundcenter-Signature` verifies under `secret` (or
    one of several, while a rotation settles) over the raw body, no more than `tolerance` seconds
    from `now` (default: the time now), and its `Fundcenter-Event-Id` is the body's id; else
    SignatureError. Pass the body's bytes as received, before any JSON parsing."""
    header, event_id = _header(headers, "Fundcenter-Signature"), _header(headers, "Fundcenter-Event-Id")
    if header is None:
        raise SignatureError("no Fundcenter-Signature header")
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        signed_at = int(fields["t"][0])
    except (KeyError, ValueError):
        raise SignatureError("Fundcenter-Signature has no timestamp (t=)") from None
    signed = f"{signed_at}.".encode() + raw_body
    secrets = [secret] if isinstance(secret, str) else list(secret)
    expected = [hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in secrets]
    if not any(hmac.compare_digest(e, given) for e in expected for given in fields.get("v1", [])):
        raise SignatureError("Fundcenter-Signature does not match the body under the secret")
    moment = time.time() if now is None else now.timestamp() if isinstance(now, datetime) else now
    if abs(moment - signed_at) > tolerance:
        raise SignatureError(f"Fundcenter-Signature is {moment - signed_at:.0f}s old: more than {tolerance:.0f}s apart")
    try:
        event = json.loads(raw_body)
    except ValueError:
        raise SignatureError("the body is not JSON") from None
    if not isinstance(event, dict) or event.get("id") != event_id:
        raise SignatureError("Fundcenter-Event-Id is not the body's id")
    return cast(WebhookEvent, event)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever the case the server or the framework gave it."""
    found = headers.get(name)
    if found is None:
        found = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return found


# -- the client ---------------------------------------------------------------------------------


class Client:
    """Fund Center's API for one key (see the module's docstring)."""

    def __init__(
        self, base_url: str | None = None, api_key: str | None = None, *, http: httpx.Client | None = None,
        retries: int = RETRIES_DEFAULT, backoff_s: float = BACKOFF_S, backoff_s_max: float = BACKOFF_S_MAX,
        timeout_s: float = TIMEOUT_S, sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
    ) -> None:
        if (base_url is None) == (http is None):
            raise ValueError("give either base_url or http (an httpx.Client with its base_url)")
        if not 0 <= retries <= 10:
            raise ValueError("retries must be 0 to 10")
        self.http = http if http is not None else httpx.Client(base_url=base_url or "", timeout=timeout_s)
        self._own_http = http is None
        self.api_key, self.retries = api_key, retries
        self.backoff_s, self.backoff_s_max = backoff_s, backoff_s_max
        self.sleep, self.rng = sleep, rng or random.Random()

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    # -- accounts ---------------------------------------------------------------------------------

    def open_account(self, external_ref: str, currency: str, *, name: str = "", kind: str = "member",
                     business_id: str | None = None, idempotency_key: str | None = None) -> Account:
        """A member account of the key's business (the same `external_ref` again answers the same account)."""
        body = _given(kind=kind, external_ref=external_ref, currency=currency, name=name, business_id=business_id)
        return cast(Account, self._command("/v1/accounts", body, idempotency_key))

    def get_account(self, account_id: str) -> Account:
        return cast(Account, self._get(f"/v1/accounts/{account_id}"))

    def set_account_status(self, account_id: str, status: Literal["active", "frozen", "closed"], *,
                           reason: str | None = None, idempotency_key: str | None = None) -> Account:
        """Freeze (no debits), unfreeze or close (final, only when empty) the account; `reason` (1-200
        characters, one line) is recorded with the change and sent in the `account.status_changed` webhook."""
        body = _given(status=status, reason=reason)
        return cast(Account, self._command(f"/v1/accounts/{account_id}/status", body, idempotency_key))

    def get_balance(self, account_id: str, *, as_of: datetime | None = None, min_position: int | None = None) -> Balance:
        return cast(Balance, self._get(f"/v1/accounts/{account_id}/balance",
                                       as_of=_instant(as_of), min_position=min_position))

    def get_statement(self, account_id: str, *, start: datetime | None = None, end: datetime | None = None,
                      limit: int = 100, cursor: str | None = None, min_position: int | None = None) -> Statement:
        """A page of the account's entries within [start, end), in log order (`next_cursor` for the next)."""
        return cast(Statement, self._get(f"/v1/accounts/{account_id}/statement", **{
            "from": _instant(start), "to": _instant(end), "limit": limit, "cursor": cursor, "min_position": min_position}))

    # -- transfers --------------------------------------------------------------------------------

    def transfer(self, from_account: str, to_account: str, amount: int, currency: str, *, memo: str = "",
                 reference: str | None = None, idempotency_key: str | None = None) -> Transfer:
        body = _given(from_account=from_account, to_account=to_account, amount=amount, currency=currency, memo=memo,
                      reference=reference)
        return cast(Transfer, self._command("/v1/transfers", body, idempotency_key))

    def get_transfer(self, transfer_id: str) -> Transfer:
        return cast(Transfer, self._get(f"/v1/transfers/{transfer_id}"))

    def reverse_transfer(self, transfer_id: str, reason: str, *, idempotency_key: str | None = None) -> Transfer:
        """The reversing transfer (once per transfer: another is `already-reversed`)."""
        return cast(Transfer, self._command(f"/v1/transfers/{transfer_id}/reverse", {"reason": reason}, idempotency_key))

    def find_transfers(self, reference: str, *, min_position: int | None = None) -> list[Transfer]:
        return cast(list[Transfer], self._get("/v1/transfers", reference=reference, min_position=min_position)["items"])

    # -- holds --------------------------------------------------------------------------------------

    def place_hold(self, account: str, amount: int, *, reason: str = "", expires_at: datetime | None = None,
                   reference: str | None = None, idempotency_key: str | None = None) -> Hold:
        body = _given(account=account, amount=amount, reason=reason, expires_at=_instant(expires_at), reference=reference)
        return cast(Hold, self._command("/v1/holds", body, idempotency_key))

    def get_hold(self, hold_id: str) -> Hold:
        return cast(Hold, self._get(f"/v1/holds/{hold_id}"))

    def capture_hold(self, hold_id: str, to_account: str, *, amount: int | None = None, memo: str = "",
                     idempotency_key: str | None = None) -> Transfer:
        """Post all (or `amount`) of what the hold still holds to `to_account`: the transfer."""
        body = _given(to_account=to_account, amount=amount, memo=memo)
        return cast(Transfer, self._command(f"/v1/holds/{hold_id}/capture", body, idempotency_key))

    def release_hold(self, hold_id: str, *, amount: int | None = None, idempotency_key: str | None = None) -> Hold:
        return cast(Hold, self._command(f"/v1/holds/{hold_id}/release", _given(amount=amount), idempotency_key))

    def find_holds(self, reference: str, *, min_position: int | None = None) -> list[Hold]:
        return cast(list[Hold], self._get("/v1/holds", reference=reference, min_position=min_position)["items"])

    # -- recharges and withdrawals -------------------------------------------------------------------

    def recharge(self, account: str, amount: int, currency: str, method: str, *, binding_id: str | None = None,
                 bank: str | None = None, reference: str | None = None, idempotency_key: str | None = None) -> Payment:
        """Money in through a channel; its outcome may come later (`recharge.succeeded` or `.failed` webhook)."""
        body = _given(account=account, amount=amount, currency=currency, method=method, binding_id=binding_id, bank=bank,
                      reference=reference)
        return cast(Payment, self._command("/v1/recharges", body, idempotency_key))

    def confirm_recharge(self, recharge_id: str, sms_code: str, *, idempotency_key: str | None = None) -> Payment:
        return cast(Payment, self._command(f"/v1/recharges/{recharge_id}/confirm", {"sms_code": sms_code},
                                           idempotency_key))

    def get_recharge(self, recharge_id: str) -> Payment:
        return cast(Payment, self._get(f"/v1/recharges/{recharge_id}"))

    def find_recharges(self, reference: str, *, min_position: int | None = None) -> list[Payment]:
        return cast(list[Payment], self._get("/v1/recharges", reference=reference, min_position=min_position)["items"])

    def withdraw(self, account: str, amount: int, currency: str, binding_id: str, *, reference: str | None = None,
                 idempotency_key: str | None = None) -> Payment:
        """Money out to a bound card; its outcome may come later (`withdrawal.*` webhooks)."""
        body = _given(account=account, amount=amount, currency=currency, binding_id=binding_id, reference=reference)
        return cast(Payment, self._command("/v1/withdrawals", body, idempotency_key))

    def get_withdrawal(self, withdrawal_id: str) -> Payment:
        return cast(Payment, self._get(f"/v1/withdrawals/{withdrawal_id}"))

    def find_withdrawals(self, reference: str, *, min_position: int | None = None) -> list[Payment]:
        return cast(list[Payment], self._get("/v1/withdrawals", reference=reference, min_position=min_position)["items"])

    # -- webhook endpoints ----------------------------------------------------------------------------

    def create_webhook_endpoint(self, url: str, events: Iterable[str] = ("*",), *, description: str = "",
                                idempotency_key: str | None = None) -> NewWebhookSecret:
        """A new endpoint; keep its `secret` (shown this once) for `verify_signature`."""
        body = {"url": url, "events": list(events), "description": description}
        return cast(NewWebhookSecret, self._command("/v1/webhook-endpoints", body, idempotency_key))

    def list_webhook_endpoints(self, *, limit: int = 100, cursor: str | None = None) -> Page[WebhookEndpoint]:
        return cast(Page[WebhookEndpoint], self._get("/v1/webhook-endpoints", limit=limit, cursor=cursor))

    def get_webhook_endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        return cast(WebhookEndpoint, self._get(f"/v1/webhook-endpoints/{endpoint_id}"))

    def rotate_webhook_secret(self, endpoint_id: str, *, idempotency_key: str | None = None) -> NewWebhookSecret:
        """A new secret, shown this once; the old one stops signing at once."""
        return cast(NewWebhookSecret, self._command(f"/v1/webhook-endpoints/{endpoint_id}/rotate-secret", None,
                                                    idempotency_key))

    def disable_webhook_endpoint(self, endpoint_id: str, *, idempotency_key: str | None = None) -> WebhookEndpoint:
        """Stop sending (the events are still queued, for an enable or a replay)."""
        return cast(WebhookEndpoint, self._command(f"/v1/webhook-endpoints/{endpoint_id}/disable", None,
                                                   idempotency_key))

    def enable_webhook_endpoint(self, endpoint_id: str, *, idempotency_key: str | None = None) -> WebhookEndpoint:
        return cast(WebhookEndpoint, self._command(f"/v1/webhook-endpoints/{endpoint_id}/enable", None,
                                                   idempotency_key))

    def delete_webhook_endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        return cast(WebhookEndpoint, self._request("DELETE", f"/v1/webhook-endpoints/{endpoint_id}"))

    def replay_webhooks(self, endpoint_id: str, *, from_position: int = 0, idempotency_key: str | None = None) -> int:
        """Send the endpoint's webhooks from log position `from_position` on again; how many."""
        answer = self._command(f"/v1/webhook-endpoints/{endpoint_id}/replay", None, idempotency_key,
                               params={"from": from_position})
        return int(answer["replayed"])

    def webhook_deliveries(self, endpoint_id: str, *, limit: int = 100, cursor: str | None = None) -> Page[Delivery]:
        """The endpoint's deliveries in log order, each with every attempt."""
        return cast(Page[Delivery], self._get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", limit=limit,
                                              cursor=cursor))

    # -- requests, with retries -------------------------------------------------------------------------

    def _get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params)

    def _command(self, path: str, body: dict[str, Any] | None, idempotency_key: str | None,
                 params: dict[str, Any] | None = None) -> Any:
        """A POST that changes state: one Idempotency-Key for every attempt of it."""
        key = idempotency_key if idempotency_key is not None else str(uuid4())
        return self._request("POST", path, json_body=body, params=params, idempotency_key=key)

    def _request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                 json_body: dict[str, Any] | None = None, idempotency_key: str | None = None) -> Any:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        query = {k: v for k, v in (params or {}).items() if v is not None}
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self.http.request(method, path, params=query, json=json_body, headers=headers)
            except httpx.TransportError:
                if last:
                    raise
                self.sleep(self._pause(attempt, None))
                continue
            if response.is_success:
                return response.json()
            if last or not (response.status_code >= 500 or response.status_code in RETRY_STATUSES):
                raise FundCenterError.of(response)
            self.sleep(self._pause(attempt, response.headers.get("Retry-After")))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _pause(self, attempt: int, retry_after: str | None) -> float:
        pause = min(self.backoff_s * 2**attempt, self.backoff_s_max) * self.rng.uniform(0.5, 1.0)
        if retry_after is not None and retry_after.strip().isdigit():
            pause = max(pause, min(float(retry_after), self.backoff_s_max))
        return pause


def _given(**fields: Any) -> dict[str, Any]:
    """A body without the fields left out (None)."""
    return {k: v for k, v in fields.items() if v is not None}


def _instant(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("datetimes must carry their offset (a naive one would mean the server's zone)")
    return moment.isoformat()
