"""The money commands' plain case skips FastAPI's dependency solving (api/routes/lean.py), and
answers exactly as FastAPI's way does; everything else still goes FastAPI's way, unchanged."""

import contextlib
from uuid import UUID, uuid4

import fastapi.routing
import orjson
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.lean import LeanRoute
from tests.api_client import PROBLEM
from tests.config import api_keys, settings_for


@pytest.fixture
def solved(monkeypatch):
    """How many times FastAPI solved a route's dependencies."""
    calls = []
    solve = fastapi.routing.solve_dependencies

    async def counting(*args, **kwargs):
        calls.append(kwargs["request"].url.path)
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    return calls


@contextlib.contextmanager
def fastapi_way(api):
    """Any dependency override sends every request FastAPI's way (this one overrides nothing the app uses)."""
    def unused():
        return None

    api.client.app.dependency_overrides[unused] = unused
    try:
        yield
    finally:
        api.client.app.dependency_overrides.clear()


def funded_pair(api):
    alice, bob = api.open("alice"), api.open("bob")
    api.fund(alice, 10_000)
    return alice, bob


def hold_released_captured(api, account, to, amounts, tag):
    """A hold placed on `account`, part of it released, part captured to `to`: the three answers."""
    held, freed, taken = amounts
    placed = api.client.post("/v1/holds", content=orjson.dumps({"account": account, "amount": held, "reason": "deposit"}),
                             headers=headers(api, key=f"{tag}-place"))
    hold = placed.json()["id"]
    released = api.client.post(f"/v1/holds/{hold}/release", content=orjson.dumps({"amount": freed}),
                               headers=headers(api, key=f"{tag}-release"))
    captured = api.client.post(f"/v1/holds/{hold}/capture", content=orjson.dumps({"to_account": to, "amount": taken}),
                               headers=headers(api, key=f"{tag}-capture"))
    return placed, released, captured


def headers(api, who="mall", key="k-1", content_type="application/json"):
    sent = {"Authorization": f"Bearer {api.keys[who]}", "Idempotency-Key": key, "Content-Type": content_type}
    return {name: value for name, value in sent.items() if value is not None}


def test_a_plain_transfer_and_hold_skip_dependency_solving(api, solved):
    alice, bob = funded_pair(api)
    solved.clear()
    body = {"from_account": alice, "to_account": bob, "amount": 250, "currency": "CNY", "memo": "lunch"}
    posted = api.client.post("/v1/transfers", content=orjson.dumps(body), headers=headers(api, key="t-1"))
    assert posted.status_code == 201, posted.text
    assert posted.headers["x-request-id"]
    placed, released, captured = hold_released_captured(api, alice, bob, (100, 10, 20), "h")
    batch = api.client.post("/v1/transfers/batch", content=orjson.dumps({"transfers": [body, {**body, "amount": 10**9}]}),
                            headers=headers(api, key="b-1"))
    assert [placed.status_code, released.status_code, captured.status_code, batch.status_code] == [201, 200, 201, 200]
    first, second = batch.json()["results"]
    assert first["status"] == 201 and second["status"] >= 400 and second["problem"]
    assert solved == []  # none of them went FastAPI's way
    again = api.client.post("/v1/transfers", content=orjson.dumps(body), headers=headers(api, key="t-1"))
    assert again.json() == posted.json()  # a repeat answers with the first outcome
    read = api.get(f"/v1/transfers/{posted.json()['id']}")
    assert {k: v for k, v in posted.json().items() if k != "position"} == {
        k: v for k, v in read.json().items() if k != "position"}
    solved.clear()
    with fastapi_way(api):
        same = api.client.post("/v1/transfers", content=orjson.dumps(body), headers=headers(api, key="t-1"))
    assert same.content == posted.content and solved == ["/v1/transfers"]


def test_a_hold_id_in_another_spelling_goes_fastapis_way(api, solved):
    alice, _ = funded_pair(api)
    hold = api.post("/v1/holds", {"account": alice, "amount": 100, "reason": "deposit"}).json()["id"]
    solved.clear()
    released = api.client.post(f"/v1/holds/{hold.upper()}/release", content=b"{}", headers=headers(api, key="r-2"))
    assert released.status_code == 200 and released.json()["id"] == hold
    assert solved == [f"/v1/holds/{hold.upper()}/release"]


def refusals(api, alice, bob):
    """(name, path, content, headers) of requests the plain case does not take, or that the ledger refuses."""
    body = {"from_account": alice, "to_account": bob, "amount": 100, "currency": "CNY"}
    good = orjson.dumps(body)
    return [
        ("no key", "/v1/transfers", good, {"Idempotency-Key": "x", "Content-Type": "application/json"}),
        ("basic auth", "/v1/transfers", good, {**headers(api), "Authorization": "Basic abc"}),
        ("empty bearer", "/v1/transfers", good, {**headers(api), "Authorization": "Bearer "}),
        ("unknown key", "/v1/transfers", good, {**headers(api), "Authorization": "Bearer fc_nope"}),
        ("not allowed", "/v1/transfers", good, headers(api, who="auditor")),
        ("no idempotency key", "/v1/transfers", good, headers(api, key=None)),
        ("blank idempotency key", "/v1/transfers", good, headers(api, key="   ")),
        ("long idempotency key", "/v1/transfers", good, headers(api, key="k" * 256)),
        ("control character", "/v1/transfers", good, headers(api, key="a\tb")),
        ("no idempotency key, no api key", "/v1/transfers", good, {"Content-Type": "application/json"}),
        ("text body", "/v1/transfers", good, headers(api, content_type="text/plain")),
        ("no content type", "/v1/transfers", good, headers(api, content_type=None)),
        ("json with charset", "/v1/transfers", b"{", headers(api, content_type="application/json; charset=utf-8")),
        ("malformed", "/v1/transfers", b'{"from_account": ', headers(api)),
        ("empty body", "/v1/transfers", b"", headers(api)),
        ("not an object", "/v1/transfers", b"[1, 2]", headers(api)),
        ("extra field", "/v1/transfers", orjson.dumps({**body, "fee": 1}), headers(api)),
        ("missing field", "/v1/transfers", orjson.dumps({k: v for k, v in body.items() if k != "amount"}), headers(api)),
        ("negative amount", "/v1/transfers", orjson.dumps({**body, "amount": -5}), headers(api)),
        ("huge amount", "/v1/transfers", orjson.dumps({**body, "amount": 2**63}), headers(api)),
        ("past 64 bits", "/v1/transfers", good.replace(b'"amount":100', b'"amount":' + b"9" * 30), headers(api)),
        ("NaN", "/v1/transfers", good.replace(b'"amount":100', b'"amount":NaN'), headers(api)),
        ("lone surrogate", "/v1/transfers", orjson.dumps({**body, "memo": "x"}).replace(b'"x"', b'"\\ud800"'), headers(api)),
        ("insufficient funds", "/v1/transfers", orjson.dumps({**body, "amount": 10**9}), headers(api, key="if")),
        ("someone else's account", "/v1/transfers", good, headers(api, who="shop", key="else")),
        ("same account", "/v1/transfers", orjson.dumps({**body, "to_account": alice}), headers(api, key="same")),
        ("unknown hold", "/v1/holds/00000000-0000-0000-0000-000000000000/release", b"{}", headers(api, key="uh")),
        ("hold id not a uuid", "/v1/holds/nope/capture", orjson.dumps({"to_account": bob}), headers(api, key="nh")),
        ("empty batch", "/v1/transfers/batch", b'{"transfers": []}', headers(api, key="eb")),
    ]


def test_every_refusal_answers_as_fastapis_way_does(api, capsys):
    alice, bob = funded_pair(api)
    api.post("/v1/transfers", {"from_account": alice, "to_account": bob, "amount": 1, "currency": "CNY"})  # keys known
    api.post("/v1/transfers", {"from_account": alice, "to_account": bob, "amount": 1, "currency": "CNY"}, who="shop")
    for n, (name, path, content, sent) in enumerate(refusals(api, alice, bob)):
        if sent.get("Idempotency-Key") == "k-1":
            sent = {**sent, "Idempotency-Key": f"case-{n}"}
        capsys.readouterr()
        lean = api.client.post(path, content=content, headers=sent)
        with fastapi_way(api):
            full = api.client.post(path, content=content, headers=sent)
        logged = [orjson.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        assert [(line["status"], line["key_id"], line["path"]) for line in logged] == [
            (full.status_code, logged[1]["key_id"], logged[1]["path"])] * 2, name  # the same access-log line
        assert lean.status_code == full.status_code and lean.status_code >= 400, (name, lean.text, full.text)
        assert lean.headers["content-type"] == full.headers["content-type"] == PROBLEM, name
        assert lean.headers.get("www-authenticate") == full.headers.get("www-authenticate"), name
        mine, theirs = lean.json(), full.json()
        assert mine.pop("request_id") != theirs.pop("request_id"), name
        assert mine == theirs, name


def test_a_repeated_header_goes_fastapis_way(api, solved):
    alice, bob = funded_pair(api)
    solved.clear()
    body = orjson.dumps({"from_account": alice, "to_account": bob, "amount": 100, "currency": "CNY"})
    sent = [*headers(api, key="d-1").items(), ("Idempotency-Key", "d-2")]
    answer = api.client.post("/v1/transfers", content=body, headers=sent)
    assert answer.status_code == 201 and solved == ["/v1/transfers"]


def test_unusual_but_valid_requests_go_fastapis_way_and_are_done(api, solved):
    alice, bob = funded_pair(api)
    solved.clear()
    body = orjson.dumps({"from_account": alice, "to_account": bob, "amount": 100, "currency": "CNY"})
    cases = [(b"\xef\xbb\xbf" + body, "application/json"), (body, "application/json; charset=utf-8"),
             (body, "application/vnd.api+json")]
    for n, (content, content_type) in enumerate(cases):
        answer = api.client.post("/v1/transfers", content=content, headers=headers(api, key=f"u-{n}", content_type=content_type))
        assert answer.status_code == 201, answer.text
    assert solved == ["/v1/transfers"] * len(cases)


@pytest.fixture
def routed(monkeypatch):
    """The paths a money route was handed by the app's routers (api/lean_front.py takes the plain case before them)."""
    calls = []
    handle = LeanRoute.handle

    async def counting(self, scope, receive, send):
        calls.append(scope["path"])
        return await handle(self, scope, receive, send)

    monkeypatch.setattr(LeanRoute, "handle", counting)
    return calls


def test_the_plain_case_is_answered_before_the_routers(api, routed, capsys):
    alice, bob = funded_pair(api)
    routed.clear()
    capsys.readouterr()
    body = {"from_account": alice, "to_account": bob, "amount": 250, "currency": "CNY"}
    posted = api.client.post("/v1/transfers", content=orjson.dumps(body), headers=headers(api, key="f-1"))
    refused = api.client.post("/v1/transfers", content=orjson.dumps({**body, "amount": 10**9}),
                              headers=headers(api, key="f-2"))
    hold = api.client.post("/v1/holds", content=orjson.dumps({"account": alice, "amount": 100, "reason": "deposit"}),
                           headers=headers(api, key="f-3")).json()["id"]
    captured = api.client.post(f"/v1/holds/{hold}/capture", content=orjson.dumps({"to_account": bob, "amount": 20}),
                               headers=headers(api, key="f-4"))
    assert (posted.status_code, refused.status_code, captured.status_code) == (201, 409, 201)
    assert refused.headers["content-type"] == PROBLEM and refused.json()["type"].endswith("insufficient-funds")
    assert routed == []  # none went through the routers
    logged = [orjson.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(line["path"], line["status"], line["key_id"] is not None) for line in logged] == [
        ("/v1/transfers", 201, True), ("/v1/transfers", 409, True), ("/v1/holds", 201, True),
        ("/v1/holds/{hold_id}/capture", 201, True)]  # the access log and metric see the route, as before
    unknown = api.client.post("/v1/transfers", content=orjson.dumps(body),
                              headers={**headers(api, key="f-5"), "Authorization": "Bearer fc_nope"})
    assert unknown.status_code == 401 and routed == ["/v1/transfers"]  # not the plain case: the routers' way
    extra = api.client.post("/v1/transfers", content=orjson.dumps({**body, "fee": 1}), headers=headers(api, key="f-6"))
    assert extra.status_code == 422 and routed == ["/v1/transfers"] * 2  # the body it read goes on with it


def test_a_route_declared_before_a_money_route_keeps_its_paths(sqlite_url):
    """The router gives a path to the first route that matches it; so does the front."""
    settings = settings_for(sqlite_url)
    keys = api_keys(settings, [("mall", "business", "mall")])
    app = create_app(settings=settings)
    app.router.routes.insert(0, APIRoute("/v1/transfers", lambda: {"shadow": True}, methods=["POST"]))
    with TestClient(app) as client:
        known = {"Authorization": f"Bearer {keys['mall']}"}
        assert client.get("/v1/transactions", headers=known).status_code == 200  # the key is known now
        sent = {**known, "Idempotency-Key": "s-1", "Content-Type": "application/json"}
        body = {"from_account": str(uuid4()), "to_account": str(uuid4()), "amount": 1, "currency": "CNY"}  # valid
        assert client.post("/v1/transfers", content=orjson.dumps(body), headers=sent).json() == {"shadow": True}


@pytest.fixture
def in_threads(monkeypatch):
    """The money commands whose endpoint ran in the services' thread pool (`Money`'s blocking
    methods), by idempotency key."""
    from api.service.money import Money

    keys = []

    def counting(method):
        def call(self, *args):
            keys.append(args[-1])
            return method(self, *args)
        return call

    for name in ("transfer", "place_hold", "release_hold", "capture_hold"):
        monkeypatch.setattr(Money, name, counting(getattr(Money, name)))
    return keys


def test_a_plain_transfer_is_handed_to_the_writer_on_the_event_loop(api, in_threads):
    alice, bob = funded_pair(api)
    body = {"from_account": alice, "to_account": bob, "amount": 250, "currency": "CNY", "memo": "lunch"}
    posted = api.client.post("/v1/transfers", content=orjson.dumps(body), headers=headers(api, key="e-1"))
    assert posted.status_code == 201 and posted.json()["amount"] == 250
    refused = api.client.post("/v1/transfers", content=orjson.dumps({**body, "amount": 10**9}),
                              headers=headers(api, key="e-2"))
    assert refused.status_code == 409 and refused.headers["content-type"] == PROBLEM
    assert in_threads == []  # neither took a thread of the pool
    with fastapi_way(api):
        again = api.client.post("/v1/transfers", content=orjson.dumps(body), headers=headers(api, key="e-1"))
    assert again.json() == posted.json() and len(in_threads) == 1  # the thread's way answers the same
    assert api.get(f"/v1/accounts/{bob}").json()["posted"] == 250


def test_a_transfer_that_needs_a_read_first_runs_in_a_thread(api, in_threads):
    alice, bob = funded_pair(api)
    body = {"from_account": alice, "to_account": bob, "amount": 5, "currency": "CNY"}
    api.client.app.state.services.ledger.unit_of_work.evict([UUID(alice)])  # the loop may not read it
    evicted = api.client.post("/v1/transfers", content=orjson.dumps(body), headers=headers(api, key="n-1"))
    api.client.post("/v1/transfers", content=orjson.dumps({**body, "reference": "order-7"}), headers=headers(api, key="n-2"))
    referenced = api.client.post("/v1/transfers", content=orjson.dumps({**body, "reference": "order-7"}),
                                 headers=headers(api, key="n-4"))  # a used reference: its answer reads
    elsewhere = api.client.post("/v1/transfers", content=orjson.dumps(body), headers=headers(api, who="shop", key="n-3"))
    assert [evicted.status_code, referenced.status_code, elsewhere.status_code] == [201, 201, 404]
    assert elsewhere.json()["type"].endswith("not-found")
    assert len(in_threads) == 3 and "n-2" not in in_threads  # a new reference went the loop's way
    assert referenced.json()["reference"] == "order-7"
    assert api.get(f"/v1/accounts/{bob}").json()["posted"] == 10


def test_plain_hold_commands_are_handed_to_the_writer_on_the_event_loop(api, in_threads):
    alice, bob = funded_pair(api)
    placed, released, captured = hold_released_captured(api, alice, bob, (300, 50, 100), "hl")
    hold = placed.json()["id"]
    too_much = api.client.post(f"/v1/holds/{hold}/capture", content=orjson.dumps({"to_account": bob, "amount": 10**6}),
                               headers=headers(api, key="hl-4"))
    assert [placed.status_code, released.status_code, captured.status_code] == [201, 200, 201]
    assert too_much.status_code >= 400 and too_much.headers["content-type"] == PROBLEM
    assert in_threads == []
    with fastapi_way(api):
        again = api.client.post(f"/v1/holds/{hold}/capture", content=orjson.dumps({"to_account": bob, "amount": 100}),
                                headers=headers(api, key="hl-capture"))
    assert again.status_code == 201 and again.json() == captured.json() and len(in_threads) == 1
    shop = api.client.post(f"/v1/holds/{hold}/release", content=b"{}", headers=headers(api, who="shop", key="hl-5"))
    assert shop.status_code == 404 and len(in_threads) == 2  # another business's hold: the thread's way, as before
    account = api.get(f"/v1/accounts/{alice}").json()
    assert account["frozen"] == 150 and api.get(f"/v1/accounts/{bob}").json()["posted"] == 100


def test_a_reference_s_repeat_found_on_the_way_answers_the_first_outcome(api, in_threads):
    from ledger.idempotency import request_id

    alice, bob = funded_pair(api)
    body = {"from_account": alice, "to_account": bob, "amount": 40, "currency": "CNY", "reference": "order-8"}
    first = api.client.post("/v1/transfers", content=orjson.dumps(body), headers=headers(api, key="u-1"))
    ledger = api.client.app.state.services.ledger
    ledger.unit_of_work.evict([request_id("reference/transfer/mall/order-8")])  # the loop takes it for new
    again = api.client.post("/v1/transfers", content=orjson.dumps(body), headers=headers(api, key="u-2"))
    ledger.unit_of_work.evict([request_id("reference/transfer/mall/order-8")])
    other = api.client.post("/v1/transfers", content=orjson.dumps({**body, "amount": 41}), headers=headers(api, key="u-3"))
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert other.status_code == 409 and other.json()["type"].endswith("idempotency-conflict")
    assert in_threads == []  # all three went the loop's way (the last two finished in the pool)
    assert api.get(f"/v1/accounts/{bob}").json()["posted"] == 40
