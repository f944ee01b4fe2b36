"""Webhooks: an outbox fed from the log, delivered signed to a real HTTP receiver on 127.0.0.1.

The deliverer runs on a stepping clock that the test moves: retries come due when the
test says so, never by waiting. The receiver is a tiny http.server in a thread.
"""

import contextlib
import hashlib
import hmac
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from random import Random

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import bootstrap
from api.settings import Settings
from ledger.clock import SteppingClock
from ledger.domain.projection_halts import ProjectionHalt
from ledger.domain.webhooks import UrlRefused
from ledger.pools import DatabaseUnavailable
from ledger.webhook_urls import check_url
from projections.webhook_delivery import FIRST_RETRY_S, GIVE_UP_S, LEASE_S, Deliverer
from projections.webhook_outbox import list_deliveries
from tests.api_client import Api
from tests.config import api_keys

START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


class Receiver:
    """Records every POST (headers, raw body); answers with `statuses` in turn, then 200."""

    def __init__(self):
        self.received, self.statuses = [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self):
        return [json.loads(body) for _, body in self.received]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    opened = Receiver()
    yield opened
    opened.close()


def verifies(secret, headers, body):
    """What a receiver does: recompute the signature over `<t>.<raw body>` and compare."""
    fields = dict(part.split("=", 1) for part in headers["Fundcenter-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and json.loads(body)["id"] == headers["Fundcenter-Event-Id"]


def development(url):
    return Settings(database_url=url, env="development", deliver_webhooks=False)


class Ledger:
    """A development system on a stepping clock, with a deliverer the test drives round by round."""

    def __init__(self, url, clock, **deliverer):
        self.system = bootstrap(development(url), clock=clock)
        self.ledger, self.clock = self.system.ledger, clock
        self.deliverer = Deliverer(self.ledger, self.system.views, clock=clock, development=True, rng=Random(7),
                                   **deliverer)
        self.keys = 0

    def key(self):
        self.keys += 1
        return f"k{self.keys}"

    def member(self, business, ref, funded=0):
        account = self.ledger.open_account("member", business, ref, "CNY", ref).id
        if funded:
            self.ledger.adjust(account, funded, "CNY", "credit", "seed", self.key())
        return account

    def deliver_all(self, rounds=20):
        for _ in range(rounds):
            if self.deliverer.run_once() == 0:
                return

    def later(self, seconds):
        self.clock.set(self.clock() + timedelta(seconds=seconds))

    def close(self):
        self.deliverer.close()
        self.system.close()


@pytest.fixture
def hooks(store_url):
    opened = Ledger(store_url, SteppingClock(START))
    yield opened
    opened.close()


def test_a_business_gets_its_own_accounts_events_signed_and_in_order(hooks, receiver):
    endpoint, secret = hooks.ledger.create_webhook_endpoint(receiver.url, ["*"], "mall", "orders", "test")
    alice, bob = hooks.member("mall", "alice", funded=5000), hooks.member("mall", "bob")
    stranger = hooks.member("other", "stranger", funded=700)
    hooks.ledger.transfer(alice, bob, 1200, "CNY", hooks.key())
    hold = hooks.ledger.place_hold(alice, 300, hooks.key(), "deposit")
    hooks.ledger.release_hold(hold.id, 100)
    hooks.ledger.capture_hold(hold.id, bob, 200)
    hooks.ledger.set_account_status(bob, "frozen")
    hooks.ledger.transfer(stranger, hooks.member("other", "s2"), 100, "CNY", hooks.key())

    hooks.deliver_all()

    assert all(verifies(secret, headers, body) for headers, body in receiver.received)
    events = receiver.events()
    mine = {str(alice), str(bob)}
    assert all(e["data"].get("account_id", (e["data"].get("postings") or [{}])[0].get("account_id")) in mine for e in events)
    assert str(stranger) not in json.dumps(events)

    def about(e):
        return e["data"].get("account_id") or e["data"]["postings"][0]["account_id"]

    assert [e["type"] for e in events if about(e) == str(alice)] == [
        "account.opened", "transfer.posted", "transfer.posted", "hold.placed", "hold.released", "hold.captured",
        "transfer.posted"]  # funded, paid bob, held, released part, captured the rest for bob (in the log's order)
    assert [e["type"] for e in events if about(e) == str(bob)] == ["account.opened", "account.status_changed"]
    transfer = [e["data"] for e in events if e["type"] == "transfer.posted"][1]
    assert transfer["postings"] == [{"account_id": str(alice), "side": "debit", "amount": 1200},
                                    {"account_id": str(bob), "side": "credit", "amount": 1200}]
    assert len({e["id"] for e in events}) == len(events)
    items, _ = list_deliveries(hooks.system.views, endpoint.id)
    assert [i["status"] for i in items] == ["delivered"] * len(events)
    assert all(i["attempt_log"][0]["status_code"] == 200 for i in items)


def test_the_outbox_decodes_only_events_that_can_matter_and_still_reaches_the_head(hooks, receiver, monkeypatch):
    hooks.ledger.create_webhook_endpoint(receiver.url, ["transfer.posted"], "mall")
    alice, bob = hooks.member("mall", "alice", funded=5000), hooks.member("mall", "bob")
    hooks.ledger.transfer(alice, bob, 1200, "CNY", hooks.key())
    decoded = []
    to_domain_event = hooks.ledger.mapper.to_domain_event
    monkeypatch.setattr(hooks.ledger.mapper, "to_domain_event", lambda n: decoded.append(n.topic) or to_domain_event(n))

    hooks.deliver_all()

    assert [e["type"] for e in receiver.events()] == ["transfer.posted", "transfer.posted"]
    assert not any(topic.endswith(("Account.Debited", "Account.Credited")) for topic in decoded)
    assert hooks.deliverer.outbox.position == hooks.ledger.head()


def test_a_receiver_that_fails_then_recovers_gets_the_same_event_id_and_order_is_kept(hooks, receiver):
    endpoint, secret = hooks.ledger.create_webhook_endpoint(receiver.url, ["account.opened", "transfer.posted"], "mall")
    receiver.statuses = [500, 503]
    alice = hooks.member("mall", "alice", funded=900)
    first_ids = None

    assert hooks.deliverer.run_once() == 1  # only the account's first event: the next waits behind it
    assert len(receiver.received) == 1
    first_ids = receiver.events()[0]["id"]
    assert hooks.deliverer.run_once() == 0  # not due yet
    hooks.later(FIRST_RETRY_S)  # the first retry comes within 10 s
    assert hooks.deliverer.run_once() == 1  # answered 503
    hooks.later(2 * FIRST_RETRY_S)
    hooks.deliver_all()

    events = receiver.events()
    assert [e["id"] for e in events[:3]] == [first_ids] * 3
    assert [e["type"] for e in events] == ["account.opened"] * 3 + ["transfer.posted"]
    assert all(verifies(secret, headers, body) for headers, body in receiver.received)
    items, _ = list_deliveries(hooks.system.views, endpoint.id)
    assert [a["status_code"] for a in items[0]["attempt_log"]] == [500, 503, 200]
    assert items[0]["attempt_log"][0]["error"] == "answered 500" and items[0]["status"] == "delivered"
    assert str(alice) in json.dumps(events[-1])


def test_a_delivery_that_keeps_failing_is_failed_after_three_days_and_the_next_goes(hooks, receiver):
    endpoint, _ = hooks.ledger.create_webhook_endpoint(receiver.url, ["*"], "mall")
    receiver.statuses = [500] * 100
    alice = hooks.member("mall", "alice")
    attempts = 0
    while hooks.deliverer.run_once():
        attempts += 1
        hooks.later(24 * 3600)  # past any back-off
        assert attempts < 10
    items, _ = list_deliveries(hooks.system.views, endpoint.id)
    assert items[0]["status"] == "failed" and items[0]["attempts"] == attempts
    receiver.statuses = []
    hooks.ledger.set_account_status(alice, "frozen")
    hooks.deliver_all()
    assert receiver.events()[-1]["type"] == "account.status_changed"
    assert GIVE_UP_S == 3 * 24 * 3600


class Crash(BaseException):
    """The deliverer's process dies: after the request reached the receiver, before the outcome was recorded."""


class CrashAfterSending(httpx.BaseTransport):
    def __init__(self):
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request):
        response = self.inner.handle_request(request)
        response.read()
        raise Crash()


def test_a_deliverer_restarted_mid_delivery_loses_nothing(store_url, receiver):
    clock = SteppingClock(START)
    first = Ledger(store_url, clock, client=httpx.Client(transport=CrashAfterSending()))
    try:
        _, secret = first.ledger.create_webhook_endpoint(receiver.url, ["*"], "mall")
        alice = first.member("mall", "alice", funded=300)
        with pytest.raises(Crash):
            first.deliverer.run_once()
    finally:
        first.close()
    assert len(receiver.received) == 1

    second = Ledger(store_url, clock)  # a new process on the same database
    try:
        second.member("mall", "bob")
        assert second.deliverer.run_once() == 1  # bob's account is not behind alice's claimed delivery
        second.later(LEASE_S)  # the dead deliverer's claim runs out
        second.deliver_all()
    finally:
        second.close()
    events = receiver.events()
    assert events[0]["id"] == events[2]["id"]  # at least once: the interrupted one again, same id
    assert [e["type"] for e in events[1:]] == ["account.opened", "account.opened", "transfer.posted"]
    assert {e["data"].get("account_id") for e in events[:3]} == {str(alice), events[1]["data"]["account_id"]}
    assert all(verifies(secret, headers, body) for headers, body in receiver.received)


def test_urls_into_the_network_are_refused_in_production():
    public = {"hooks.example.com": ["93.184.215.14"], "inside.example.com": ["93.184.215.14", "10.1.2.3"]}

    def resolver(host, port):
        return public.get(host) or [host.strip("[]")]

    assert check_url("https://hooks.example.com/x", development=False, resolver=resolver)
    for url in ("http://hooks.example.com/x", "https://inside.example.com/x", "https://127.0.0.1/x",
                "https://10.0.0.8/x", "https://169.254.169.254/latest", "https://[::1]/x", "https://0.0.0.0/x",
                "https://192.168.1.1/x", "ftp://hooks.example.com/x", "https://user:pw@hooks.example.com/x"):
        with pytest.raises(UrlRefused):
            check_url(url, development=False, resolver=resolver)
    assert check_url("http://127.0.0.1:8080/x", development=True)


def test_a_production_deliverer_refuses_a_private_address_at_delivery(hooks, receiver):
    endpoint, _ = hooks.ledger.create_webhook_endpoint(receiver.url, ["*"], "mall")
    hooks.member("mall", "alice")
    hooks.deliverer.development = False
    assert hooks.deliverer.run_once() == 1
    assert receiver.received == []
    items, _ = list_deliveries(hooks.system.views, endpoint.id)
    assert items[0]["status"] == "pending" and "url must be https" in items[0]["attempt_log"][0]["error"]


@pytest.fixture
def http_api(sqlite_url):
    settings = development(sqlite_url)
    keys = api_keys(settings, [("admin", "admin", None), ("mall", "business", "mall"), ("shop", "business", "shop"),
                               ("finance", "finance", None)])
    with TestClient(create_app(settings=settings)) as client:
        yield Api(client, keys)


def test_endpoints_over_http(http_api, receiver):
    api = http_api
    made = api.post("/v1/webhook-endpoints", {"url": receiver.url, "events": ["*"], "description": "orders"}, key="e1")
    assert made.status_code == 201, made.text
    endpoint = made.json()
    assert endpoint["secret"].startswith("whsec_") and endpoint["events"] == ["*"] and endpoint["business_id"] == "mall"
    again = api.post("/v1/webhook-endpoints", {"url": receiver.url, "events": ["*"], "description": "orders"}, key="e1")
    assert again.status_code == 201 and again.json()["id"] == endpoint["id"] and again.json()["secret"] is None
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    shown = api.get(path).json()
    assert "secret" not in shown and endpoint["secret"] not in json.dumps(api.get("/v1/webhook-endpoints").json())
    assert [e["id"] for e in api.get("/v1/webhook-endpoints").json()["items"]] == [endpoint["id"]]
    assert api.get(path, who="shop").status_code == 404
    assert api.get("/v1/webhook-endpoints", who="shop").json()["items"] == []
    assert api.get(path, who="finance").status_code == 403
    events = api.get("/v1/events?limit=1000", who="admin").json()["events"]
    assert endpoint["secret"] not in json.dumps(events)

    rotated = api.post(f"{path}/rotate-secret")
    assert rotated.status_code == 200 and rotated.json()["secret"] not in (None, endpoint["secret"])
    refused = api.post("/v1/webhook-endpoints", {"url": receiver.url, "events": ["reconciliation.closed"]})
    assert refused.status_code == 422
    staff = api.post("/v1/webhook-endpoints", {"url": receiver.url, "events": ["reconciliation.closed"]}, who="admin")
    assert staff.status_code == 201 and staff.json()["business_id"] is None
    assert api.get(f"/v1/webhook-endpoints/{staff.json()['id']}").status_code == 404

    assert api.post(f"{path}/disable").json()["status"] == "disabled"
    api.open("alice")
    deliveries = api.get(f"{path}/deliveries").json()
    assert [(d["event_type"], d["status"], d["attempts"]) for d in deliveries["items"]] == [("account.opened", "pending", 0)]
    assert api.post(f"{path}/replay?from=0").json() == {"replayed": 1}
    assert api.post(f"{path}/enable").json()["status"] == "active"
    assert api.call("DELETE", path).json()["status"] == "deleted"
    assert api.get(path).status_code == 404


def test_production_refuses_http_and_private_endpoint_urls_over_http(pg_url):
    from tests.config import settings_for

    settings = settings_for(pg_url, deliver_webhooks=False)
    keys = api_keys(settings, [("mall", "business", "mall")])
    with TestClient(create_app(settings=settings)) as client:
        api = Api(client, keys)
        for url in ("http://127.0.0.1:9/x", "https://127.0.0.1/x", "https://10.0.0.1/x"):
            refused = api.post("/v1/webhook-endpoints", {"url": url, "events": ["*"]})
            assert refused.status_code == 422 and refused.json()["type"] == "webhook-url-refused", refused.text
        assert api.get("/v1/webhook-endpoints").json()["items"] == []


def test_payments_and_a_closed_reconciliation_become_webhooks(sqlite_url):
    from tests.config import DAY
    from tests.shop import UNIONPAY_FIRST, configure, open_shop

    with open_shop(sqlite_url) as shop:
        configure(shop, {"withholding": UNIONPAY_FIRST, "payout": UNIONPAY_FIRST})
        alice = shop.account("alice")
        binding = shop.bind(alice)["id"]
        shop.recharge(alice, 10_000, binding_id=binding)
        paid = shop.ok("POST", "/v1/withdrawals", {"account": alice, "amount": 4_000, "currency": "CNY", "binding_id": binding})
        shop.channels["unionpay"].return_payout(paid["id"])
        shop.deliver("unionpay")
        configure(shop, {"payout": [{"channel": "flaky", "priority": 1}], "withholding": [{"channel": "flaky", "priority": 1}]})
        shop.ok("POST", "/v1/withdrawals", {"account": alice, "amount": 1_000, "currency": "CNY", "binding_id": binding})
        shop.recharge(alice, 500, binding_id=binding)
        statement = shop.channels["alipay"].statement(DAY)
        rec = shop.ok("POST", "/v1/reconciliations", {"channel": "alipay", "date": DAY.isoformat(), "file": statement},
                      who="admin")
        shop.ok("POST", f"/v1/reconciliations/{rec['id']}/close", who="admin")
        ledger = shop.client.app.state.services.ledger
        from projections.webhook_outbox import WebhookMapper

        mapper = WebhookMapper(ledger)
        webhooks = [w for _, event in ledger.read_log(0, 10_000) for w in mapper.webhooks(event)]
    payments = [(w.type, w.business_id, w.data["account_id"]) for w in webhooks if w.type.startswith(("recharge", "withdrawal"))]
    assert payments == [("recharge.succeeded", "mall", alice), ("withdrawal.succeeded", "mall", alice),
                        ("withdrawal.returned", "mall", alice), ("withdrawal.failed", "mall", alice),
                        ("recharge.failed", "mall", alice)]
    [closed] = [w for w in webhooks if w.type == "reconciliation.closed"]
    assert (closed.business_id, closed.data["channel"], closed.data["day"]) == ("", "alipay", DAY.isoformat())
    assert all(w.business_id in ("mall", "") for w in webhooks)


def test_fundcenter_deliver_sends_what_the_log_holds(sqlite_url, receiver, monkeypatch):
    from typer.testing import CliRunner

    from api.cli import app

    with bootstrap(development(sqlite_url)) as system:
        _, secret = system.ledger.create_webhook_endpoint(receiver.url, ["account.opened"], "mall")
        alice = system.ledger.open_account("member", "mall", "alice", "CNY").id
    monkeypatch.setenv("FUNDCENTER_ENV", "development")
    result = CliRunner().invoke(app, ["deliver", "--db", sqlite_url, "--once"])
    assert result.exit_code == 0, result.output
    assert "1 delivery attempts" in result.output
    [(headers, body)] = receiver.received
    assert verifies(secret, headers, body) and json.loads(body)["data"]["account_id"] == str(alice)


def test_the_app_delivers_in_the_background(sqlite_url, receiver):
    settings = Settings(database_url=sqlite_url, env="development")
    keys = api_keys(settings, [("mall", "business", "mall")])
    with TestClient(create_app(settings=settings)) as client:
        api = Api(client, keys)
        secret = api.post("/v1/webhook-endpoints", {"url": receiver.url, "events": ["account.opened"]}).json()["secret"]
        alice = api.open("alice")
        done = threading.Event()
        for _ in range(200):  # the deliverer's thread sends it within a round or two
            if receiver.received or done.wait(0.05):
                break
    [(headers, body)] = receiver.received
    assert verifies(secret, headers, body) and json.loads(body)["data"]["account_id"] == alice


def test_rotate_disable_enable_and_replay_need_an_idempotency_key_and_honour_it(http_api, receiver):
    api = http_api
    endpoint = api.post("/v1/webhook-endpoints", {"url": receiver.url, "events": ["*"]}).json()
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    for action in ("rotate-secret", "disable", "enable", "replay?from=0"):
        missing = api.post(f"{path}/{action}", key=False)
        assert missing.status_code == 400 and missing.json()["type"] == "idempotency-key-required", action
    operations = api.client.get("/openapi.json").json()["paths"]
    for action in ("rotate-secret", "disable", "enable", "replay"):
        parameters = operations[f"/v1/webhook-endpoints/{{endpoint_id}}/{action}"]["post"]["parameters"]
        assert {"name": "Idempotency-Key", "in": "header", "required": True}.items() <= next(
            p for p in parameters if p["name"] == "Idempotency-Key").items(), action

    rotated = api.post(f"{path}/rotate-secret", key="rot-1").json()
    again = api.post(f"{path}/rotate-secret", key="rot-1").json()
    assert rotated["secret"].startswith("whsec_") and again["secret"] is None and again["id"] == endpoint["id"]
    assert api.post(f"{path}/disable", key="rot-1").json()["type"] == "idempotency-conflict"
    assert api.post(f"{path}/disable", key="off-1").json()["status"] == "disabled"
    assert api.post(f"{path}/enable", key="on-1").json()["status"] == "active"
    assert api.post(f"{path}/disable", key="off-1").json()["status"] == "disabled"  # the first outcome, not a change
    assert api.get(path).json()["status"] == "active"
    api.open("alice")

    services = api.client.app.state.services
    deliverer = Deliverer(services.ledger, services.views, development=True, rng=Random(5))
    try:
        deliverer.run_once()
        [(headers, body)] = receiver.received
        assert verifies(rotated["secret"], headers, body)  # rotated once: the secret of the first answer signs
        assert api.post(f"{path}/replay?from=0", key="again-1").json() == {"replayed": 1}
        deliverer.run_once()
        assert [json.loads(b)["id"] for _, b in receiver.received] == [headers["Fundcenter-Event-Id"]] * 2
        assert api.post(f"{path}/replay?from=0", key="again-1").json() == {"replayed": 1}  # answered, not replayed
        assert deliverer.run_once() == 0 and len(receiver.received) == 2
        assert api.post(f"{path}/replay?from=5", key="again-1").json()["type"] == "idempotency-conflict"
    finally:
        deliverer.close()
    log = api.get("/v1/events?limit=1000", who="admin").json()["events"]
    replays = [e for e in log if e["topic"].endswith("WebhookEndpoint.ReplayRequested")]
    assert len(replays) == 1 and replays[0]["data"]["from_position"] == 0 and replays[0]["data"]["by"]


def test_a_production_delivery_resolves_once_and_connects_to_the_address_it_checked(hooks):
    """DNS rebinding: the name answers a public address for the check, then a private one. The attempt
    resolves once and is pinned: it connects to the checked address, Host and TLS name staying the name."""
    answers = {"hooks.example.com": [["93.184.215.14"], ["127.0.0.1"]], "rebound.example.com": [["10.0.0.7"]]}
    asked = []

    def resolver(host, port):
        asked.append((host, port))
        return answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]

    sent = []

    def receive(request):
        sent.append(request)
        return httpx.Response(204)

    pinned = Deliverer(hooks.ledger, hooks.system.views, clock=hooks.clock, development=False, rng=Random(7),
                       resolver=resolver, client=httpx.Client(transport=httpx.MockTransport(receive)))
    try:
        endpoint, secret = hooks.ledger.create_webhook_endpoint("https://hooks.example.com:8443/in?x=1", ["*"], "mall")
        hooks.member("mall", "alice")
        assert pinned.run_once() == 1
        [request] = sent
        assert asked == [("hooks.example.com", 8443)]  # once per attempt
        assert str(request.url) == "https://93.184.215.14:8443/in?x=1"
        assert request.headers["Host"] == "hooks.example.com:8443"
        assert request.extensions["sni_hostname"] == "hooks.example.com"
        assert verifies(secret, request.headers, request.content)
        items, _ = list_deliveries(hooks.system.views, endpoint.id)
        assert [(i["status"], i["attempt_log"][0]["status_code"]) for i in items] == [("delivered", 204)]

        other, _ = hooks.ledger.create_webhook_endpoint("https://rebound.example.com/in", ["*"], "shop")
        hooks.member("shop", "bob")
        assert pinned.run_once() == 1
        assert len(sent) == 1  # refused before connecting
        items, _ = list_deliveries(hooks.system.views, other.id)
        assert items[0]["status"] == "pending" and "non-public address (10.0.0.7)" in items[0]["attempt_log"][0]["error"]
    finally:
        pinned.close()


def test_pinning_keeps_the_name_for_host_and_tls_and_brackets_an_ipv6_address():
    from ledger.webhook_urls import pin

    six = pin("https://hooks.example.com/x", development=False, resolver=lambda host, port: ["2606:2800:220:1::1"])
    assert (six.url, six.headers, six.sni_hostname) == ("https://[2606:2800:220:1::1]/x", {"Host": "hooks.example.com"},
                                                       "hooks.example.com")
    assert pin("http://localhost:9/x", development=True).url == "http://localhost:9/x"  # development: as given
    with pytest.raises(UrlRefused, match="no address"):
        pin("https://nowhere.example.com/x", development=False, resolver=lambda host, port: [])


class Poisoned:
    """A view that cannot apply one account's opening (a bug in a read model, say)."""

    def apply(self, cur, batch):
        for _, event in batch:
            if getattr(event, "external_ref", None) == "poison":
                raise ValueError("cannot apply the poison account")


def test_a_halted_projection_becomes_a_projection_halted_webhook_for_staff_endpoints_once(hooks, receiver):
    from projections.halts import HaltReporter
    from projections.runner import ProjectionRunner

    staff, secret = hooks.ledger.create_webhook_endpoint(receiver.url, ["projection.halted"], None, "ops")
    business, _ = hooks.ledger.create_webhook_endpoint(receiver.url, ["*"], "mall", "orders")
    hooks.member("mall", "alice")
    hooks.member("mall", "poison")
    runner = ProjectionRunner(hooks.ledger, hooks.system.views, views=[Poisoned()],
                              on_failure=HaltReporter(hooks.ledger, "test-views"))
    runner.backoff_min_s = runner.backoff_max_s = 0.01
    halted = threading.Event()
    runner.start()
    try:
        for _ in range(500):  # the runner fails, retries and reports within a few attempts
            if any(isinstance(e, ProjectionHalt.Halted) for _, e in hooks.ledger.read_log(0, 1000)) or halted.wait(0.02):
                break
        while runner.attempts < 6:  # more failures at the same position record nothing new
            halted.wait(0.01)
    finally:
        runner.stop()
    [poisoned_at] = [p for p, e in hooks.ledger.read_log(0, 1000) if getattr(e, "external_ref", None) == "poison"]
    halts = [e for _, e in hooks.ledger.read_log(0, 1000) if isinstance(e, ProjectionHalt.Halted)]
    assert len(halts) == 1 and halts[0].projection == "test-views" and "poison" in halts[0].error
    assert runner.error is not None and runner.applied == halts[0].position  # stuck before the poisoned event
    assert halts[0].position < poisoned_at

    hooks.deliver_all()
    staff_bodies = [(h, b) for h, b in receiver.received if json.loads(b)["type"] == "projection.halted"]
    [(headers, body)] = staff_bodies
    assert verifies(secret, headers, body)
    assert json.loads(body)["data"] == {"projection": "test-views", "position": halts[0].position,
                                        "error": halts[0].error}
    items, _ = list_deliveries(hooks.system.views, business.id)
    assert "projection.halted" not in {i["event_type"] for i in items}  # a business endpoint never gets it
    items, _ = list_deliveries(hooks.system.views, staff.id)
    assert [i["event_type"] for i in items] == ["projection.halted"]


def test_only_staff_endpoints_may_subscribe_to_projection_halted(hooks):
    from ledger.domain.errors import ValidationError

    with pytest.raises(ValidationError):
        hooks.ledger.create_webhook_endpoint("http://127.0.0.1:9/x", ["projection.halted"], "mall")
    assert hooks.ledger.create_webhook_endpoint("http://127.0.0.1:9/x", ["projection.halted"], None)[0].business_id is None


def test_delivery_attempts_latency_and_backlog_are_metrics(sqlite_url, receiver):
    from prometheus_client.parser import text_string_to_metric_families

    clock = SteppingClock(START)
    settings = Settings(database_url=sqlite_url, env="development")  # the app's deliverer runs, on the test's clock
    keys = api_keys(settings, [("mall", "business", "mall")], clock=clock)
    with TestClient(create_app(settings=settings, clock=clock)) as client:
        api = Api(client, keys)

        def scrape():
            families = {f.name: f for f in text_string_to_metric_families(api.get("/metrics", who=None).text)}
            return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}

        def until(check):
            for _ in range(300):
                found = scrape()
                with contextlib.suppress(KeyError):  # a scrape whose views did not answer in time leaves the backlog out
                    if check(found):
                        return found
                threading.Event().wait(0.05)
            raise AssertionError(found)

        ready = until(lambda m: ("fundcenter_webhook_backlog", ()) in m)
        for outcome in ("delivered", "retrying", "failed"):  # every outcome is there from the start
            assert ready[("fundcenter_webhook_attempts_total", (("outcome", outcome),))] == 0
        assert ready[("fundcenter_webhook_backlog", ())] == 0 and ready[("fundcenter_webhook_outbox_lag_events", ())] >= 0

        receiver.statuses = [500]
        api.post("/v1/webhook-endpoints", {"url": receiver.url, "events": ["account.opened"]})
        quiet = api.post("/v1/webhook-endpoints", {"url": receiver.url, "events": ["account.opened"]}).json()
        api.post(f"/v1/webhook-endpoints/{quiet['id']}/disable")  # its queue is no backlog: it waits for an enable
        api.open("alice")
        # A scrape takes this process's counters before it reads the backlog, so the backlog may show
        # an attempt the counters do not yet: wait for both.
        failed = until(lambda m: m[("fundcenter_webhook_attempts_total", (("outcome", "retrying"),))] == 1
                       and m[("fundcenter_webhook_backlog", ())] == 1 and m[("fundcenter_webhook_backlog_due", ())] == 0)
        assert failed[("fundcenter_webhook_attempts_total", (("outcome", "delivered"),))] == 0
        assert failed[("fundcenter_webhook_attempt_duration_seconds_count", ())] == 1
        assert failed[("fundcenter_webhook_backlog", ())] == 1  # the active endpoint's, waiting for its retry
        assert failed[("fundcenter_webhook_backlog_due", ())] == 0  # the back-off has not run out on the test's clock
        assert 0 <= failed[("fundcenter_webhook_oldest_pending_seconds", ())] < FIRST_RETRY_S
        assert failed[("fundcenter_webhook_outbox_lag_events", ())] == 0

        clock.set(clock() + timedelta(seconds=FIRST_RETRY_S))  # the retry comes due
        # (the same race as above)
        delivered = until(lambda m: m[("fundcenter_webhook_attempts_total", (("outcome", "delivered"),))] == 1
                          and m[("fundcenter_webhook_backlog", ())] == 0)
        assert delivered[("fundcenter_webhook_attempt_duration_seconds_count", ())] == 2
        assert delivered[("fundcenter_webhook_attempt_duration_seconds_bucket", (("le", "10.0"),))] == 2
        assert delivered[("fundcenter_webhook_oldest_pending_seconds", ())] == 0
    assert [json.loads(b)["type"] for _, b in receiver.received] == ["account.opened"] * 2


def test_a_replay_request_is_checked_before_its_event_and_a_halt_is_bounded():
    from ledger.domain.errors import ValidationError
    from ledger.domain.projection_halts import ERROR_LENGTH_MAX, halt_id
    from ledger.domain.webhooks import EndpointDeleted, WebhookEndpoint

    endpoint = WebhookEndpoint(id=halt_id("x", 0), url="https://h.example.com/", event_types=["*"], business_id="mall",
                               description="", signing_secret="whsec_x", created_by="test")
    for bad in (-1, 2**63, True, "3"):
        with pytest.raises(ValidationError):
            endpoint.request_replay(bad, "test")
    endpoint.request_replay(7, "ops")
    [*_, requested] = endpoint.collect_events()
    assert isinstance(requested, WebhookEndpoint.ReplayRequested) and (requested.from_position, requested.by) == (7, "ops")
    endpoint.delete("ops")
    with pytest.raises(EndpointDeleted):
        endpoint.request_replay(0, "ops")

    halt = ProjectionHalt.of("fundcenter", 41, "ValueError: " + "x" * 10_000)
    assert halt.id == halt_id("fundcenter", 41) != halt_id("fundcenter", 42) and len(halt.error) == ERROR_LENGTH_MAX



def test_a_pinned_delivery_speaks_tls_to_the_address_and_checks_the_certificate_of_the_name(hooks, tmp_path, monkeypatch):
    """Over real TLS: the deliverer connects to the pinned address (here 127.0.0.1, pinned by hand, since
    production would refuse it) and the certificate is checked against the endpoint's name, not the address."""
    import ssl
    import subprocess

    from ledger.webhook_urls import Pinned

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=hooks.example.test", "-addext", "subjectAltName=DNS:hooks.example.test"],
                   check=True, capture_output=True, timeout=60)
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.headers["Host"], self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    trusting = ssl.create_default_context(cafile=str(cert))
    deliverer = Deliverer(hooks.ledger, hooks.system.views, clock=hooks.clock, development=False, rng=Random(1),
                          client=httpx.Client(verify=trusting, limits=httpx.Limits(max_keepalive_connections=0)))
    try:
        endpoint, _ = hooks.ledger.create_webhook_endpoint(f"https://hooks.example.test:{port}/in", ["*"], "mall")
        hooks.member("mall", "alice")
        pinned = Pinned(f"https://127.0.0.1:{port}/in", {"Host": f"hooks.example.test:{port}"}, "hooks.example.test")
        monkeypatch.setattr("projections.webhook_delivery.pin", lambda url, **kwargs: pinned)
        assert deliverer.run_once() == 1
        assert [host for host, _ in received] == [f"hooks.example.test:{port}"]

        unnamed = Pinned(f"https://127.0.0.1:{port}/in", {"Host": f"hooks.example.test:{port}"}, None)
        monkeypatch.setattr("projections.webhook_delivery.pin", lambda url, **kwargs: unnamed)
        hooks.member("mall", "bob")
        assert deliverer.run_once() == 1  # without the name, the certificate does not match the address: refused
        assert len(received) == 1
        items, _ = list_deliveries(hooks.system.views, endpoint.id)
        assert [i["status"] for i in items] == ["delivered", "pending"]
        assert "CERTIFICATE_VERIFY_FAILED" in items[1]["attempt_log"][0]["error"], items[1]["attempt_log"]
    finally:
        deliverer.close()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("error, traced", [
    (DatabaseUnavailable("the database is unreachable (connection refused)"), False),
    (ValueError("a bug"), True),
], ids=["outage", "bug"])
def test_delivery_logs_an_outage_in_one_line_and_a_bug_with_its_traceback(hooks, monkeypatch, caplog, error, traced):
    """`follow` keeps going through a failed round, logging the first of a streak once."""
    rounds = []

    def run_once():
        rounds.append(1)
        if len(rounds) >= 3:
            hooks.deliverer.stop()  # the round after this one ends follow()
        raise error

    monkeypatch.setattr(hooks.deliverer, "run_once", run_once)
    caplog.set_level(logging.INFO, logger="projections.webhook_delivery")
    hooks.deliverer.follow(idle_wait_s=0)
    failures = [r for r in caplog.records if r.name == "projections.webhook_delivery" and r.levelno >= logging.ERROR]
    assert len(rounds) == 3 and len(failures) == 1, [r.getMessage() for r in failures]
    assert str(error) in failures[0].getMessage() and (failures[0].exc_info is not None) is traced
