"""The Python client (fundcenter.client) against the real app: a business system's day, its errors,
retries that reuse the Idempotency-Key, and a real delivered webhook verified with it.

The client gets an httpx.Client whose transport hands each request to the app's TestClient (no
socket); the failing transports below wrap that one.
"""

import json
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from random import Random

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from fundcenter.client import Client, FundCenterError, SignatureError, verify_signature
from ledger.clock import SteppingClock
from projections.webhook_delivery import Deliverer
from tests.config import api_keys, settings_for
from tests.shop import UNIONPAY_FIRST, configure, open_shop
from tests.test_webhooks import Receiver

START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


class IntoApp(httpx.BaseTransport):
    """An httpx transport into the app, through its TestClient; it remembers every request it passed on."""

    def __init__(self, app_client):
        self.app_client, self.sent = app_client, []

    def handle_request(self, request):
        self.sent.append(request)
        answer = self.app_client.request(request.method, str(request.url), headers=dict(request.headers),
                                         content=request.read())
        return httpx.Response(answer.status_code, headers=list(answer.headers.items()), content=answer.content)


class AnswerLost(IntoApp):
    """The first `lost` POSTs reach the app, which commits them; then the connection drops before the answer."""

    def __init__(self, app_client, lost=1):
        super().__init__(app_client)
        self.lost = lost

    def handle_request(self, request):
        response = super().handle_request(request)
        if request.method == "POST" and self.lost:
            self.lost -= 1
            raise httpx.ReadError("connection reset after the request was sent", request=request)
        return response


class Unavailable(IntoApp):
    """The first `times` requests answer 503 (a proxy, or the database away) without reaching the app."""

    def __init__(self, app_client, times=1):
        super().__init__(app_client)
        self.times = times

    def handle_request(self, request):
        if self.times:
            self.times -= 1
            self.sent.append(request)
            return httpx.Response(503, headers={"Content-Type": "application/problem+json", "Retry-After": "2"},
                                  json={"type": "database-unavailable", "title": "Database unavailable", "status": 503,
                                        "detail": "the database does not answer"})
        return super().handle_request(request)


def client_of(app_client, key, transport=None, **options):
    transport = transport or IntoApp(app_client)
    pauses = []
    client = Client(http=httpx.Client(base_url="http://testserver", transport=transport), api_key=key,
                    sleep=pauses.append, rng=Random(1), **options)
    client.pauses, client.transport = pauses, transport
    return client


def fund(app_client, admin_key, account, amount):
    answer = app_client.post("/v1/admin/adjustments", json={
        "account": account, "amount": amount, "currency": "CNY", "direction": "credit", "reason": "seed"},
        headers={"Authorization": f"Bearer {admin_key}", "Idempotency-Key": f"seed-{account}"})
    assert answer.status_code == 201, answer.text


@contextmanager
def running_app(url):
    """The real app on a stepping clock, in a development run (webhooks may go to 127.0.0.1), its deliverer
    left to the test; keys for two businesses and the admin."""
    clock = SteppingClock(START)
    settings = Settings(database_url=url, env="development", deliver_webhooks=False)
    keys = api_keys(settings, [("mall", "business", "mall"), ("shop", "business", "shop"), ("admin", "admin", None)],
                    clock=clock)
    with TestClient(create_app(settings=settings, clock=clock)) as app_client:
        app_client.keys, app_client.clock = keys, clock
        yield app_client


@pytest.fixture
def sqlite_app(sqlite_url):
    with running_app(sqlite_url) as app_client:
        yield app_client


def test_a_business_system_opens_moves_holds_and_finds_by_its_references(sqlite_app):
    mall = client_of(sqlite_app, sqlite_app.keys["mall"])
    alice = mall.open_account("alice", "CNY", name="Alice")
    bob = mall.open_account("bob", "CNY", idempotency_key="open-bob")
    assert (alice["kind"], alice["business_id"], alice["name"], alice["available"]) == ("member", "mall", "Alice", 0)
    assert mall.open_account("bob", "CNY", idempotency_key="open-bob")["id"] == bob["id"]
    fund(sqlite_app, sqlite_app.keys["admin"], alice["id"], 10_000)

    paid = mall.transfer(alice["id"], bob["id"], 2_500, "CNY", memo="dinner", reference="order-9")
    assert (paid["amount"], paid["reference"], paid["reversed_by"]) == (2_500, "order-9", None)
    assert mall.get_transfer(paid["id"])["postings"] == paid["postings"]
    assert [t["id"] for t in mall.find_transfers("order-9", min_position=paid["position"])] == [paid["id"]]
    assert mall.find_transfers("no-such-order") == []
    assert mall.get_account(bob["id"])["posted"] == 2_500
    statement = mall.get_statement(bob["id"], min_position=paid["position"])
    assert [(e["side"], e["amount"], e["balance_after"], e["memo"]) for e in statement["entries"]] == [
        ("credit", 2_500, 2_500, "dinner")]
    assert mall.get_balance(bob["id"], min_position=paid["position"])["posted"] == 2_500

    hold = mall.place_hold(alice["id"], 3_000, reason="deposit", expires_at=START + timedelta(days=1), reference="dep-1")
    assert (hold["status"], hold["remaining"]) == ("pending", 3_000)
    assert mall.get_account(alice["id"])["available"] == 10_000 - 2_500 - 3_000
    captured = mall.capture_hold(hold["id"], bob["id"], amount=1_000, memo="fee")
    assert captured["amount"] == 1_000 and mall.get_hold(hold["id"])["remaining"] == 2_000
    released = mall.release_hold(hold["id"])
    assert (released["status"], released["released"], released["captured"]) == ("posted", 2_000, 1_000)
    assert [h["id"] for h in mall.find_holds("dep-1", min_position=released["position"])] == [hold["id"]]

    reversal = mall.reverse_transfer(paid["id"], "cancelled order")
    assert mall.get_transfer(paid["id"])["reversed_by"] == reversal["id"]
    assert mall.get_account(alice["id"])["posted"] == 10_000 - 1_000

    with pytest.raises(FundCenterError) as refused:
        mall.transfer(alice["id"], bob["id"], 999_999, "CNY")
    problem = refused.value
    assert (problem.status, problem.type, problem.title) == (409, "insufficient-funds", "Insufficient funds")
    assert "999999" in problem.detail and problem.request_id and problem.instance == "/v1/transfers"
    with pytest.raises(FundCenterError) as again:
        mall.reverse_transfer(paid["id"], "twice")
    assert (again.value.status, again.value.type) == (409, "already-reversed")
    with pytest.raises(FundCenterError) as hidden:  # another business's account does not exist for it
        client_of(sqlite_app, sqlite_app.keys["shop"]).get_account(alice["id"])
    assert (hidden.value.status, hidden.value.type) == (404, "not-found")
    with pytest.raises(FundCenterError) as unknown_key:
        client_of(sqlite_app, "fc_not-a-key").get_account(alice["id"])
    assert unknown_key.value.status == 401
    assert mall.pauses == []  # nothing was retried
    direct = Client(http=sqlite_app, api_key=sqlite_app.keys["mall"])  # the app's TestClient itself will do too
    assert direct.get_account(alice["id"])["posted"] == 10_000 - 1_000


def test_recharges_and_withdrawals_through_the_client(sqlite_url):
    with open_shop(sqlite_url) as shop:
        configure(shop, {"withholding": UNIONPAY_FIRST, "payout": UNIONPAY_FIRST})
        mall = client_of(shop.client, shop.keys["mall"])
        alice = mall.open_account("alice", "CNY")["id"]
        binding = shop.bind(alice)["id"]
        recharge = mall.recharge(alice, 10_000, "CNY", "withholding", binding_id=binding, reference="topup-1")
        assert (recharge["kind"], recharge["status"], recharge["channel"]) == ("recharge", "succeeded", "unionpay")
        assert mall.get_recharge(recharge["id"])["id"] == recharge["id"]
        assert [p["id"] for p in mall.find_recharges("topup-1", min_position=recharge["position"])] == [recharge["id"]]
        withdrawal = mall.withdraw(alice, 4_000, "CNY", binding, reference="cash-1")
        assert (withdrawal["kind"], withdrawal["amount"]) == ("withdrawal", 4_000)
        assert mall.get_withdrawal(withdrawal["id"])["status"] == withdrawal["status"]
        assert [p["id"] for p in mall.find_withdrawals("cash-1", min_position=withdrawal["position"])] == [withdrawal["id"]]
        with pytest.raises(FundCenterError) as refused:
            mall.withdraw(alice, 999_999, "CNY", binding)
        assert refused.value.type == "insufficient-funds"


def test_a_command_whose_answer_was_lost_is_retried_with_the_same_key_and_happens_once(pg_url):
    """PostgreSQL: the transfer commits, the connection drops before the answer, the client tries again with
    the same Idempotency-Key and gets the first outcome: one transfer, money moved once."""
    settings = settings_for(pg_url, deliver_webhooks=False)
    keys = api_keys(settings, [("mall", "business", "mall"), ("admin", "admin", None)])
    with TestClient(create_app(settings=settings)) as app_client:
        mall = client_of(app_client, keys["mall"])
        alice, bob = mall.open_account("alice", "CNY")["id"], mall.open_account("bob", "CNY")["id"]
        fund(app_client, keys["admin"], alice, 5_000)

        lossy = client_of(app_client, keys["mall"], AnswerLost(app_client))
        paid = lossy.transfer(alice, bob, 1_200, "CNY", reference="order-1")
        first, retry = lossy.transport.sent
        assert first.headers["Idempotency-Key"] == retry.headers["Idempotency-Key"]
        assert first.content == retry.content and len(lossy.pauses) == 1 and 0 < lossy.pauses[0] <= 0.25
        assert mall.get_transfer(paid["id"])["amount"] == 1_200
        assert mall.get_account(alice)["posted"] == 5_000 - 1_200  # once, not twice
        assert [t["id"] for t in mall.find_transfers("order-1", min_position=paid["position"])] == [paid["id"]]

        given = client_of(app_client, keys["mall"], AnswerLost(app_client, lost=2))
        opened = given.open_account("carol", "CNY", idempotency_key="open-carol")  # a key the caller gives is kept
        assert {r.headers["Idempotency-Key"] for r in given.transport.sent} == {"open-carol"}
        assert len(given.transport.sent) == 3 and opened["external_ref"] == "carol"

        busy = client_of(app_client, keys["mall"], Unavailable(app_client, times=2))
        assert busy.get_account(alice)["posted"] == 3_800
        assert len(busy.pauses) == 2 and all(p >= 2 for p in busy.pauses)  # Retry-After honoured

        down = client_of(app_client, keys["mall"], Unavailable(app_client, times=10), retries=2)
        with pytest.raises(FundCenterError) as unavailable:
            down.transfer(alice, bob, 1, "CNY")
        assert (unavailable.value.status, unavailable.value.type) == (503, "database-unavailable")
        assert len(down.transport.sent) == 3 and len({r.headers["Idempotency-Key"] for r in down.transport.sent}) == 1

        gone = client_of(app_client, keys["mall"], AnswerLost(app_client, lost=10), retries=1)
        with pytest.raises(httpx.ReadError):
            gone.transfer(alice, bob, 100, "CNY", idempotency_key="t-lost")
        assert mall.transfer(alice, bob, 100, "CNY", idempotency_key="t-lost")["amount"] == 100  # it had committed
        assert mall.get_account(alice)["posted"] == 3_700


def test_webhook_endpoints_through_the_client_and_a_delivered_webhook_verified(sqlite_app):
    app_client, clock = sqlite_app, sqlite_app.clock
    mall = client_of(app_client, app_client.keys["mall"])
    receiver = Receiver()
    try:
        made = mall.create_webhook_endpoint(receiver.url, ["account.opened", "transfer.posted"], description="orders",
                                            idempotency_key="hook-1")
        assert made["secret"].startswith("whsec_") and made["events"] == ["account.opened", "transfer.posted"]
        assert mall.create_webhook_endpoint(receiver.url, ["account.opened", "transfer.posted"], description="orders",
                                            idempotency_key="hook-1")["secret"] is None
        assert [e["id"] for e in mall.list_webhook_endpoints()["items"]] == [made["id"]]
        assert mall.get_webhook_endpoint(made["id"])["status"] == "active"
        rotated = mall.rotate_webhook_secret(made["id"])
        assert rotated["secret"] not in (None, made["secret"])
        alice = mall.open_account("alice", "CNY")

        services = app_client.app.state.services
        deliverer = Deliverer(services.ledger, services.views, development=True, rng=Random(3))
        try:
            assert deliverer.run_once() == 1
        finally:
            deliverer.close()
        [(headers, body)] = receiver.received
        event = verify_signature(rotated["secret"], headers, body, now=clock())
        assert event["type"] == "account.opened" and event["data"]["account_id"] == alice["id"]
        assert verify_signature(["whsec_old", rotated["secret"]], headers, body, now=clock() + timedelta(seconds=299))
        for secret, raw, now, why in (
            (made["secret"], body, clock(), "does not match"),  # the secret before the rotation
            (rotated["secret"], body.replace(b"alice", b"mallory"), clock(), "does not match"),
            (rotated["secret"], body, clock() + timedelta(seconds=301), "old"),
            (rotated["secret"], body, clock() - timedelta(seconds=301), "old"),
        ):
            with pytest.raises(SignatureError, match=why):
                verify_signature(secret, headers, raw, now=now)
        with pytest.raises(SignatureError, match="Event-Id"):
            verify_signature(rotated["secret"], {**headers, "Fundcenter-Event-Id": "another"}, body, now=clock())
        with pytest.raises(SignatureError, match="no Fundcenter-Signature"):
            verify_signature(rotated["secret"], {}, body, now=clock())

        deliveries = mall.webhook_deliveries(made["id"])["items"]
        assert [(d["event_type"], d["status"], d["attempt_log"][0]["status_code"]) for d in deliveries] == [
            ("account.opened", "delivered", 200)]
        assert mall.disable_webhook_endpoint(made["id"])["status"] == "disabled"
        assert mall.replay_webhooks(made["id"], from_position=0) == 1
        assert mall.enable_webhook_endpoint(made["id"])["status"] == "active"
        assert mall.delete_webhook_endpoint(made["id"])["status"] == "deleted"
        with pytest.raises(FundCenterError) as gone:
            mall.get_webhook_endpoint(made["id"])
        assert gone.value.status == 404
        assert json.loads(body)["id"] == headers["Fundcenter-Event-Id"]
    finally:
        receiver.close()


def test_the_client_refuses_what_it_cannot_send():
    with pytest.raises(ValueError, match="either base_url or http"):
        Client()
    with Client("http://127.0.0.1:9", "key", retries=0) as client, pytest.raises(ValueError, match="offset"):
        client.place_hold("a", 1, expires_at=datetime(2026, 11, 25))


def test_verify_signature_agrees_with_the_deliverer_and_takes_now_as_unix_seconds():
    from projections.webhook_delivery import signature

    body = b'{"created_at":"2026-11-25T10:00:00Z","data":{},"id":"e1","type":"account.opened"}'
    headers = {"fundcenter-signature": signature("whsec_s", 1_700_000_000, body), "fundcenter-event-id": "e1"}
    assert verify_signature("whsec_s", headers, body, now=1_700_000_100.0)["id"] == "e1"  # any case of header names
    with pytest.raises(SignatureError, match="old"):
        verify_signature("whsec_s", headers, body, tolerance=60, now=1_700_000_100.0)
    with pytest.raises(SignatureError, match="timestamp"):
        verify_signature("whsec_s", {**headers, "fundcenter-signature": "v1=00"}, body, now=1_700_000_000.0)
