"""Lookups through HTTP: a transfer by id and its reversal, accounts listed, banks and routes read."""

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

from ledger import FundCenter
from ledger.domain.holds import Hold
from ledger.domain.transfers import Transfer
from tests.api_client import problem_of
from tests.config import BUSINESS_HOURS
from tests.shop import UNIONPAY_FIRST, configure


def _pay(api, source, target, amount, who="mall", key=None):
    body = {"from_account": source, "to_account": target, "amount": amount, "currency": "CNY"}
    response = api.post("/v1/transfers", body, who=who, key=key)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_transfer_is_read_by_id_by_its_business_and_staff_only(api):
    alice, bob = api.open("alice"), api.open("bob")
    api.fund(alice, 1_000)
    paid = _pay(api, alice, bob, 300)
    read = api.get(f"/v1/transfers/{paid['id']}")
    assert read.status_code == 200
    assert {k: read.json()[k] for k in ("id", "kind", "amount", "currency", "reversed_by")} == {
        "id": paid["id"], "kind": "transfer", "amount": 300, "currency": "CNY", "reversed_by": None}
    assert api.get(f"/v1/transfers/{paid['id']}", who="auditor").json()["postings"] == paid["postings"]
    problem_of(api.get(f"/v1/transfers/{paid['id']}", who="shop"), 404, "not-found")
    problem_of(api.get(f"/v1/transfers/{uuid4()}"), 404, "not-found")


def test_a_transfer_is_reversed_once_and_a_retry_answers_the_first_reversal(api):
    alice, bob = api.open("alice"), api.open("bob")
    api.fund(alice, 1_000)
    paid = _pay(api, alice, bob, 300)
    path = f"/v1/transfers/{paid['id']}/reverse"
    problem_of(api.post(path, {"reason": "refund"}, who="shop"), 404, "not-found")
    first = api.post(path, {"reason": "refund"}, key="undo-1")
    assert first.status_code == 201, first.text
    reversal = first.json()
    assert reversal["kind"] == "reversal" and reversal["references"] == {"reverses": paid["id"]}
    assert sorted((p["account"], p["side"], p["amount"]) for p in reversal["postings"]) == sorted(
        (p["account"], "credit" if p["side"] == "debit" else "debit", p["amount"]) for p in paid["postings"])
    again = api.post(path, {"reason": "refund"}, key="undo-1")
    assert (again.status_code, again.json()) == (201, reversal)
    problem_of(api.post(path, {"reason": "another reason"}, key="undo-1"), 409, "idempotency-conflict")
    problem_of(api.post(path, {"reason": "refund"}, key="undo-2"), 409, "already-reversed")
    problem_of(api.post(path, {"reason": "refund"}, key=False), 400, "idempotency-key-required")
    assert api.get(f"/v1/transfers/{paid['id']}").json()["reversed_by"] == reversal["id"]
    assert api.get(f"/v1/accounts/{alice}").json()["available"] == 1_000
    assert api.get(f"/v1/accounts/{bob}").json()["available"] == 0


def test_a_business_reverses_only_transfers_between_its_own_accounts(api):
    alice = api.open("alice")
    seed = api.fund(alice, 1_000)
    problem_of(api.post(f"/v1/transfers/{seed['id']}/reverse", {"reason": "no"}), 403, "forbidden")
    problem_of(api.post(f"/v1/transfers/{uuid4()}/reverse", {"reason": "no"}), 404, "not-found")
    problem_of(api.post(f"/v1/transfers/{seed['id']}/reverse", {"reason": ""}), 422, "validation-error")
    undone = api.post(f"/v1/transfers/{seed['id']}/reverse", {"reason": "seeded twice"}, who="admin")
    assert undone.status_code == 201, undone.text


def test_accounts_are_listed_by_kind_external_ref_and_status_a_page_at_a_time(api):
    by_ref = {f"member-{n}": api.open(f"member-{n}") for n in range(5)}
    opened = sorted(by_ref.values())
    other = api.open("elsewhere", who="shop")
    assert api.post(f"/v1/accounts/{by_ref['member-0']}/status", {"status": "frozen"}).status_code == 200
    position = api.fund(by_ref["member-1"], 10)["position"]

    def listed(who="mall", **params):
        pages, cursor = [], None
        while True:
            query = {**params, "limit": 2, "min_position": position, **({"cursor": cursor} if cursor else {})}
            body = api.get("/v1/accounts", who=who, params=query).json()
            pages.append(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                return pages

    pages = listed(kind="member")
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [a["id"] for page in pages for a in page] == opened
    assert {a["business_id"] for page in pages for a in page} == {"mall"}
    [[only]] = listed(external_ref="member-3")
    assert (only["id"], only["external_ref"], only["kind"]) == (by_ref["member-3"], "member-3", "member")
    [[cold]] = listed(status="frozen")
    assert cold["id"] == by_ref["member-0"]
    [[funded]] = listed(external_ref="member-1")
    assert funded["posted"] == 10
    assert listed(business_id="shop") == [[]]
    assert [a["id"] for page in listed(who="shop") for a in page] == [other]
    assert {a["business_id"] for page in listed(who="operator", external_ref="elsewhere") for a in page} == {"shop"}
    problem_of(api.get("/v1/accounts", params={"cursor": "nonsense!"}), 422, "validation-error")


def test_banks_and_routes_are_read_by_operators(api):
    assert api.post("/v1/admin/banks", {"code": "ICBC", "name": "工商银行"}, who="operator").status_code == 201
    assert api.get("/v1/admin/banks", who="operator").json()["banks"]["ICBC"] == "工商银行"
    routes = api.get("/v1/admin/routes", who="admin").json()["routes"]
    assert isinstance(routes, dict)
    assert api.get("/v1/admin/routes", who="operator", params={"business_id": "nobody"}).json() == {"routes": {}}
    problem_of(api.get("/v1/admin/banks"), 403, "forbidden")


def test_a_reference_is_one_transfer_per_business_and_a_repeat_answers_the_first(api):
    alice, bob = api.open("alice"), api.open("bob")
    api.fund(alice, 1_000)
    body = {"from_account": alice, "to_account": bob, "amount": 100, "currency": "CNY", "reference": "order-1"}
    first = api.post("/v1/transfers", body, key="pay-1")
    assert first.status_code == 201 and first.json()["reference"] == "order-1"
    again = api.post("/v1/transfers", body, key="pay-2")  # another key, the same order: the first transfer
    assert (again.status_code, again.json()) == (201, first.json())
    problem_of(api.post("/v1/transfers", {**body, "amount": 101}, key="pay-3"), 409, "idempotency-conflict")
    problem_of(api.post("/v1/transfers", {**body, "reference": "order-2"}, key="pay-1"), 409, "idempotency-conflict")
    problem_of(api.post("/v1/transfers", {**body, "reference": ""}), 422, "validation-error")
    [refused] = api.post("/v1/transfers/batch", {"transfers": [body]}).json()["results"]
    assert (refused["status"], refused["problem"]["type"]) == (422, "validation-error")
    assert api.get(f"/v1/accounts/{alice}").json()["available"] == 900
    # Another business's "order-1" is its own.
    carol, dave = api.open("carol", who="shop"), api.open("dave", who="shop")
    api.fund(carol, 100)
    theirs = api.post("/v1/transfers", {**body, "from_account": carol, "to_account": dave}, who="shop", key="pay-1")
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]

    def found(who="mall", **params):
        response = api.get("/v1/transfers", who=who, params={"min_position": theirs.json()["position"], **params})
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["items"]]

    assert found(reference="order-1") == [first.json()["id"]]
    assert api.get("/v1/transfers", params={"reference": "order-1"}).json()["items"][0] == {
        **first.json(), "position": None}
    assert found(who="shop", reference="order-1") == [theirs.json()["id"]]
    assert found(reference="order-1", business_id="shop") == []
    assert found(reference="order-9") == []
    assert sorted(found(who="auditor", reference="order-1")) == sorted([first.json()["id"], theirs.json()["id"]])
    assert found(who="auditor", reference="order-1", business_id="shop") == [theirs.json()["id"]]
    problem_of(api.get("/v1/transfers"), 422, "validation-error")
    listed = api.get("/v1/transactions", params={"account_id": alice, "min_position": theirs.json()["position"]})
    assert [t["reference"] for t in listed.json()["items"]] == ["order-1", None]


def test_a_hold_with_a_reference_is_placed_once(api):
    alice = api.open("alice")
    api.fund(alice, 1_000)
    body = {"account": alice, "amount": 300, "reason": "deposit", "reference": "booking-7"}
    first = api.post("/v1/holds", body, key="hold-1")
    assert first.status_code == 201 and first.json()["reference"] == "booking-7"
    again = api.post("/v1/holds", body, key="hold-2")
    assert (again.status_code, again.json()["id"]) == (201, first.json()["id"])
    problem_of(api.post("/v1/holds", {**body, "amount": 301}, key="hold-3"), 409, "idempotency-conflict")
    assert api.get(f"/v1/accounts/{alice}").json()["available"] == 700
    params = {"reference": "booking-7", "min_position": first.json()["position"]}
    assert [h["id"] for h in api.get("/v1/holds", params=params).json()["items"]] == [first.json()["id"]]
    assert api.get("/v1/holds", who="shop", params=params).json()["items"] == []


def test_recharges_and_withdrawals_with_a_reference_are_made_once_and_found_by_it(shop):
    configure(shop, {"withholding": UNIONPAY_FIRST, "payout": UNIONPAY_FIRST})
    alice = shop.account("alice")
    binding = shop.bind(alice)["id"]
    first = shop.recharge(alice, 10_000, binding_id=binding, key="rc-1", reference="topup-1")
    assert first.status_code == 201 and first.json()["reference"] == "topup-1"
    again = shop.recharge(alice, 10_000, binding_id=binding, key="rc-2", reference="topup-1")
    assert (again.status_code, again.json()["id"], again.json()["status"]) == (201, first.json()["id"], "succeeded")
    conflict = shop.recharge(alice, 10_001, binding_id=binding, key="rc-3", reference="topup-1")
    assert (conflict.status_code, conflict.json()["type"]) == (409, "idempotency-conflict")
    assert shop.balance(alice)["posted"] == 10_000
    body = {"account": alice, "amount": 4_000, "currency": "CNY", "binding_id": binding, "reference": "payout-1"}
    paid = shop.ok("POST", "/v1/withdrawals", body, key="wd-1")
    assert shop.ok("POST", "/v1/withdrawals", body, key="wd-2")["id"] == paid["id"]
    refused = shop.call("POST", "/v1/withdrawals", {**body, "amount": 1}, key="wd-3")
    assert (refused.status_code, refused.json()["type"]) == (409, "idempotency-conflict")

    def found(path, reference, who="mall"):
        params = {"reference": reference, "min_position": paid["position"]}
        return shop.ok("GET", path, who=who, params=params)["items"]

    [recharge] = found("/v1/recharges", "topup-1")
    assert (recharge["id"], recharge["status"], recharge["reference"]) == (first.json()["id"], "succeeded", "topup-1")
    [withdrawal] = found("/v1/withdrawals", "payout-1")
    assert (withdrawal["id"], withdrawal["amount"]) == (paid["id"], 4_000)
    assert found("/v1/withdrawals", "topup-1") == [] and found("/v1/recharges", "payout-1") == []
    assert found("/v1/recharges", "topup-1", who="other") == []
    assert [r["id"] for r in found("/v1/recharges", "topup-1", who="admin")] == [first.json()["id"]]


def test_an_accounts_bindings_are_listed_a_page_at_a_time(shop):
    configure(shop, {"withholding": UNIONPAY_FIRST})
    alice, bob = shop.account("alice"), shop.account("bob")
    bound = [shop.bind(alice)["id"], shop.bind(alice, card="6222020200112233445")["id"], shop.bind(bob)["id"]]
    unbound = shop.ok("DELETE", f"/v1/bindings/{bound[0]}")
    assert unbound["status"] == "unbound"
    position = shop.bind(alice)["position"]
    pages, cursor = [], None
    while True:
        params = {"account": alice, "limit": 2, "min_position": position, **({"cursor": cursor} if cursor else {})}
        body = shop.ok("GET", "/v1/bindings", params=params)
        pages.append(body["items"])
        if (cursor := body["next_cursor"]) is None:
            break
    assert [len(page) for page in pages] == [2, 1]
    listed = [b for page in pages for b in page]
    assert [b["id"] for b in listed[:2]] == bound[:2]  # a refused card's binding too
    assert listed[0]["status"] == "unbound"
    assert {b["account_id"] for b in listed} == {alice}
    assert shop.call("GET", "/v1/bindings", who="other", params={"account": alice}).status_code == 404
    assert shop.ok("GET", "/v1/bindings", who="admin", params={"account": bob})["items"][0]["id"] == bound[2]


def test_events_written_before_the_reference_was_recorded_still_load(store_url):
    fc = FundCenter(store_url, clock=BUSINESS_HOURS)
    try:
        alice, bob = (fc.open_account("member", "mall", ref, "CNY") for ref in ("alice", "bob"))
        fc.adjust(alice.id, 1_000, "CNY", "credit", "seed", idempotency_key="seed", by="someone")
        fc.transfer(alice.id, bob.id, 100, "CNY", "pay", reference="order-1")
        fc.place_hold(alice.id, 50, "hold", reference="booking-1")
        checked = set()
        for _, event in fc.read_log():
            stored = fc.mapper.to_stored_event(event)
            state = fc.mapper.transcoder.decode(stored.state)
            if "reference" not in state:
                continue
            old = dataclasses.replace(stored, state=fc.mapper.transcoder.encode(
                {k: v for k, v in state.items() if k != "reference"}))
            loaded = fc.mapper.to_domain_event(old)
            assert getattr(loaded, "reference", None) is None and loaded.mutate(None).reference is None
            checked.add(type(loaded).__qualname__)
        assert {Transfer.Posted.__qualname__, Hold.Placed.__qualname__} <= checked
    finally:
        fc.close()


def test_concurrent_commands_with_one_reference_and_different_keys_make_one_transfer(store_url):
    fc = FundCenter(store_url, clock=BUSINESS_HOURS)
    try:
        alice, bob = (fc.open_account("member", "mall", ref, "CNY") for ref in ("alice", "bob"))
        fc.adjust(alice.id, 1_000, "CNY", "credit", "seed", idempotency_key="seed", by="someone")

        def pay(n):
            return fc.transfer(alice.id, bob.id, 100, "CNY", f"key-{n}", reference="order-1").id

        with ThreadPoolExecutor(8) as pool:
            paid = set(pool.map(pay, range(16)))
        assert len(paid) == 1
        assert fc.get_account(alice.id).posted == 900
    finally:
        fc.close()
