"""Idempotency-Key means what it says, on every route that takes it, on SQLite and PostgreSQL:
a retry answers with the first outcome and writes nothing, the key with another request is
409 idempotency-conflict, a refusal records nothing (its retry is tried again), and the key
is 1-255 characters as the client sent it, whatever scope the ledger puts in front."""

import threading

import pytest

from api.app import create_app
from ledger import FundCenter
from ledger.domain.errors import IdempotencyConflict
from tests.api_client import problem_of
from tests.shop import UNIONPAY_FIRST, configure

# Every route that takes an Idempotency-Key, and how it derives its command from it
# (see api/service/): "id" - the command's own aggregate id is uuid5 of the scoped key;
# "record" - an IdempotentRequest (ledger/idempotency.py) records key, request and outcome.
IDEMPOTENT_ROUTES = {
    ("POST", "/v1/accounts"): "record",  # and the account id from (business_id, external_ref)
    ("POST", "/v1/accounts/{account_id}/status"): "record",
    ("POST", "/v1/transfers"): "id",
    ("POST", "/v1/transfers/{transfer_id}/reverse"): "id",  # the reversal's id
    ("POST", "/v1/transfers/batch"): "id",  # each item: its own key, or the batch key and its index
    ("POST", "/v1/holds"): "id",
    ("POST", "/v1/holds/{hold_id}/release"): "id",  # an operation on the hold, by key
    ("POST", "/v1/holds/{hold_id}/capture"): "id",
    ("POST", "/v1/admin/adjustments"): "id",
    ("POST", "/v1/admin/api-keys"): "record",  # and the key's id from the idempotency key
    ("POST", "/v1/webhook-endpoints"): "record",  # and the endpoint's id from the idempotency key
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/disable"): "record",
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/enable"): "record",
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): "record",  # a retry: the endpoint, no secret
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/replay"): "record",  # the request is the endpoint's event
    ("POST", "/v1/admin/api-keys/{key_id}/role"): "record",
    ("POST", "/v1/admin/banks"): "record",
    ("POST", "/v1/admin/channels"): "record",
    ("POST", "/v1/admin/channels/{code}/status"): "record",
    ("POST", "/v1/admin/channels/{code}/products/{method}"): "record",
    ("POST", "/v1/admin/routes"): "record",
    ("POST", "/v1/admin/payments/sweep"): "record",
    ("POST", "/v1/bindings"): "id",
    ("POST", "/v1/recharges"): "id",
    ("POST", "/v1/recharges/{recharge_id}/confirm"): "record",
    ("POST", "/v1/withdrawals"): "id",
    ("POST", "/v1/reconciliations"): "record",
    ("POST", "/v1/reconciliations/fetch"): "record",
    ("POST", "/v1/reconciliations/{reconciliation_id}/differences/{seq}/resolve"): "record",
    ("POST", "/v1/reconciliations/{reconciliation_id}/close"): "record",
    ("POST", "/v1/approvals/{approval_id}/approve"): "record",  # the held command: its own key
    ("POST", "/v1/approvals/{approval_id}/reject"): "record",
    ("POST", "/v1/days/{date}/close"): "record",  # the close's id is the day's: another key is day-already-closed
}


def head(client):
    return client.app.state.services.ledger.head()


def test_every_route_that_takes_the_header_is_one_we_made_idempotent(tmp_path):
    schema = create_app(f"sqlite:///{tmp_path}/x.db").openapi()
    routes = {(method.upper(), path) for path, operations in schema["paths"].items()
              for method, operation in operations.items()
              if any(p["in"] == "header" and p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))}
    assert routes == set(IDEMPOTENT_ROUTES)


# -- API keys ---------------------------------------------------------------------------------------


def test_creating_an_api_key_twice_with_one_key_makes_one_key_and_shows_its_secret_once(api):
    body = {"role": "business", "business_id": "cafe", "name": "cafe app"}
    # The keys the fixture made, once the views have them (the runner starts with the app).
    before = len(api.get("/v1/admin/api-keys", who="admin", params={"min_position": head(api.client)}).json()["items"])
    first = api.post("/v1/admin/api-keys", body, who="admin", key="new-key-1")
    assert first.status_code == 201 and first.json()["key"] and first.json()["note"] is None
    position = head(api.client)
    again = api.post("/v1/admin/api-keys", body, who="admin", key="new-key-1")
    assert again.status_code == 201
    assert again.json()["key"] is None and "first response" in again.json()["note"]
    assert {k: v for k, v in again.json().items() if k not in ("key", "note")} == {
        k: v for k, v in first.json().items() if k not in ("key", "note")}
    assert head(api.client) == position  # nothing written
    listed = api.get("/v1/admin/api-keys", who="admin", params={"min_position": position}).json()["items"]
    assert len(listed) == before + 1
    api.keys["cafe"] = first.json()["key"]
    assert api.open("latte", who="cafe")  # the one key works
    problem_of(api.post("/v1/admin/api-keys", {**body, "name": "other"}, who="admin", key="new-key-1"),
               409, "idempotency-conflict")
    # Another key makes another API key.
    other = api.post("/v1/admin/api-keys", body, who="admin", key="new-key-2").json()
    assert other["id"] != first.json()["id"] and other["key"]


def test_re_roling_a_key_is_answered_once(api):
    created = api.post("/v1/admin/api-keys", {"role": "auditor", "name": "a"}, who="admin").json()
    path = f"/v1/admin/api-keys/{created['id']}/role"
    first = api.post(path, {"role": "finance"}, who="admin", key="role-1")
    api.post(path, {"role": "operator"}, who="admin", key="role-2")
    position = head(api.client)
    again = api.post(path, {"role": "finance"}, who="admin", key="role-1")
    assert again.json() == first.json() and again.json()["role"] == "finance"
    assert head(api.client) == position
    listed = api.get("/v1/admin/api-keys", who="admin", params={"min_position": position}).json()["items"]
    assert {k["id"]: k["role"] for k in listed}[created["id"]] == "operator"  # the retry changed nothing
    problem_of(api.post(path, {"role": "auditor"}, who="admin", key="role-1"), 409, "idempotency-conflict")


def test_concurrent_creates_with_one_key_make_one_api_key(store_url):
    fc = FundCenter(store_url)
    try:
        results, errors = [], []

        def create():
            try:
                results.append(fc.create_api_key("auditor", name="twin", idempotency_key="staff/twin"))
            except Exception as error:
                errors.append(error)

        threads = [threading.Thread(target=create) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert len({view.id for view, _ in results}) == 1
        assert len([token for _, token in results if token is not None]) == 1
        topics = [type(event).__qualname__ for _, event in fc.read_log()]
        assert topics.count("ApiKey.Created") == 1 and topics.count("IdempotentRequest.Recorded") == 1
    finally:
        fc.close()


# -- accounts -------------------------------------------------------------------------------------------


def test_account_status_retries_answer_the_first_outcome(api):
    alice = api.open("alice")
    first = api.post(f"/v1/accounts/{alice}/status", {"status": "frozen"}, key="st-1")
    assert first.json()["status"] == "frozen"
    api.post(f"/v1/accounts/{alice}/status", {"status": "active"}, key="st-2")
    position = head(api.client)
    again = api.post(f"/v1/accounts/{alice}/status", {"status": "frozen"}, key="st-1")
    assert again.json() == first.json()  # the first outcome, position and all
    assert head(api.client) == position and api.get(f"/v1/accounts/{alice}").json()["status"] == "active"
    problem_of(api.post(f"/v1/accounts/{alice}/status", {"status": "closed"}, key="st-1"), 409, "idempotency-conflict")
    # A no-op is an outcome too: recorded, and answered again.
    noop = api.post(f"/v1/accounts/{alice}/status", {"status": "active"}, key="st-3")
    assert api.post(f"/v1/accounts/{alice}/status", {"status": "active"}, key="st-3").json() == noop.json()


def test_a_refused_command_records_nothing_and_its_retry_is_tried_again(api):
    alice = api.open("alice")
    api.fund(alice, 100)
    position = head(api.client)
    problem_of(api.post(f"/v1/accounts/{alice}/status", {"status": "closed"}, key="close-1"), 409, "account-not-empty")
    assert head(api.client) == position
    bob = api.open("bob")
    api.post("/v1/transfers", {"from_account": alice, "to_account": bob, "amount": 100, "currency": "CNY"})
    closed = api.post(f"/v1/accounts/{alice}/status", {"status": "closed"}, key="close-1")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"


def test_opening_an_account_honours_the_key(api):
    body = {"kind": "member", "external_ref": "alice", "currency": "CNY", "name": "Alice"}
    first = api.post("/v1/accounts", body, key="open-1")
    again = api.post("/v1/accounts", body, key="open-1")
    assert (again.status_code, again.json()) == (201, first.json())
    problem_of(api.post("/v1/accounts", {**body, "external_ref": "bob"}, key="open-1"), 409, "idempotency-conflict")
    # The same account under another key: the account's own idempotency answers it.
    assert api.post("/v1/accounts", body, key="open-2").json()["id"] == first.json()["id"]
    # One key for two commands is a conflict too.
    problem_of(api.post(f"/v1/accounts/{first.json()['id']}/status", {"status": "frozen"}, key="open-1"),
               409, "idempotency-conflict")


def test_keys_are_per_business(api):
    body = {"kind": "member", "external_ref": "alice", "currency": "CNY"}
    mine = api.post("/v1/accounts", body, key="same")
    theirs = api.post("/v1/accounts", body, who="shop", key="same")
    assert theirs.status_code == 201 and theirs.json()["id"] != mine.json()["id"]


# -- the key itself ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 128, 200, 255])
def test_a_key_of_up_to_255_characters_works_on_every_kind_of_command(api, length):
    alice, bob = api.open("alice"), api.open("bob")
    api.fund(alice, 1_000)
    key = "k" * length
    transfer = api.post("/v1/transfers", {"from_account": alice, "to_account": bob, "amount": 1, "currency": "CNY"}, key=key)
    assert transfer.status_code == 201, transfer.text
    hold = api.post("/v1/holds", {"account": alice, "amount": 10}, key=key)
    assert hold.status_code == 201, hold.text
    release = api.post(f"/v1/holds/{hold.json()['id']}/release", {"amount": 1}, key=key)
    assert release.status_code == 200, release.text
    capture = api.post(f"/v1/holds/{hold.json()['id']}/capture", {"to_account": bob, "amount": 1}, key=key)
    assert capture.status_code == 201, capture.text
    status = api.post(f"/v1/accounts/{api.open('carol')}/status", {"status": "frozen"}, key=key)
    assert status.status_code == 200, status.text
    batch = api.post("/v1/transfers/batch", {"transfers": [
        {"from_account": alice, "to_account": bob, "amount": 1, "currency": "CNY"},
        {"from_account": alice, "to_account": bob, "amount": 1, "currency": "CNY", "idempotency_key": key}]}, key=key)
    assert batch.status_code == 200 and [r["status"] for r in batch.json()["results"]] == [201, 201]
    assert batch.json()["results"][1]["transfer"] == transfer.json()  # the same key and request: the first transfer
    created = api.post("/v1/admin/api-keys", {"role": "auditor"}, who="admin", key=key)
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("key, status, type_", [
    ("k" * 256, 422, "validation-error"),
    ("a\tb", 422, "validation-error"),
    (" ", 400, "idempotency-key-required"),
])
def test_a_key_out_of_bounds_is_refused_at_the_edge(api, key, status, type_):
    alice = api.open("alice")
    position = head(api.client)
    problem_of(api.post(f"/v1/accounts/{alice}/status", {"status": "frozen"}, key=key), status, type_)
    assert head(api.client) == position


def test_the_ledger_takes_a_scoped_key_longer_than_the_clients(fund_center):
    alice = fund_center.open_account("member", "mall", "alice", "CNY")
    fund_center.adjust(alice.id, 100, "CNY", "credit", "seed", "seed")
    key = "business/" + "b" * 64 + "/" + "k" * 255
    hold = fund_center.place_hold(alice.id, 10, key)
    assert fund_center.release_hold(hold.id, 5, idempotency_key=key).released == 5
    assert fund_center.set_account_status(alice.id, "frozen", idempotency_key=key).status == "frozen"


def test_the_ledger_refuses_a_key_reused_for_another_command(fund_center):
    alice = fund_center.open_account("member", "mall", "alice", "CNY")
    fund_center.set_account_status(alice.id, "frozen", idempotency_key="staff/x")
    head = fund_center.head()
    with pytest.raises(IdempotencyConflict):
        fund_center.register_bank("icbc", "ICBC", idempotency_key="staff/x")
    assert fund_center.head() == head


# -- channels, payments and reconciliation ---------------------------------------------------------------


def test_catalog_changes_are_answered_once(shop):
    op = "operator"
    first = shop.ok("POST", "/v1/admin/banks", {"code": "icbc", "name": "ICBC"}, who=op, key="bank-1")
    assert shop.ok("POST", "/v1/admin/banks", {"code": "icbc", "name": "ICBC"}, who=op, key="bank-1") == first
    conflict = shop.call("POST", "/v1/admin/banks", {"code": "icbc", "name": "Other"}, who=op, key="bank-1")
    assert (conflict.status_code, conflict.json()["type"]) == (409, "idempotency-conflict")
    channel = {"code": "unionpay", "name": "UnionPay"}
    registered = shop.ok("POST", "/v1/admin/channels", channel, who=op, key="ch-1")
    assert shop.ok("POST", "/v1/admin/channels", channel, who=op, key="ch-1") == registered
    closed = shop.ok("POST", "/v1/admin/channels/unionpay/status", {"status": "closed"}, who=op, key="close-up")
    shop.ok("POST", "/v1/admin/channels/unionpay/status", {"status": "open"}, who=op, key="open-up")
    ledger = shop.client.app.state.services.ledger
    position = ledger.head()
    again = shop.ok("POST", "/v1/admin/channels/unionpay/status", {"status": "closed"}, who=op, key="close-up")
    assert again == closed and again["channels"]["unionpay"]["status"] == "closed"  # the first outcome
    assert ledger.head() == position and ledger.catalog().channels["unionpay"]["status"] == "open"  # nothing changed
    product = {"fee": {"rate_bps": 60}, "banks": {"icbc": {"enabled": True}}}
    configured = shop.ok("POST", "/v1/admin/channels/unionpay/products/withholding", product, who=op, key="prod-1")
    assert shop.ok("POST", "/v1/admin/channels/unionpay/products/withholding", product, who=op, key="prod-1") == configured
    wrong = shop.call("POST", "/v1/admin/channels/unionpay/products/payout", product, who=op, key="prod-1")
    assert (wrong.status_code, wrong.json()["type"]) == (409, "idempotency-conflict")
    route = {"business_id": "mall", "method": "withholding", "channels": UNIONPAY_FIRST[:1]}
    routed = shop.ok("POST", "/v1/admin/routes", route, who=op, key="route-1")
    assert shop.ok("POST", "/v1/admin/routes", route, who=op, key="route-1") == routed
    # A refusal (an unknown channel) records nothing: the key works once the channel exists.
    missing = shop.call("POST", "/v1/admin/channels/later/status", {"status": "closed"}, who=op, key="later-1")
    assert missing.status_code == 404
    shop.ok("POST", "/v1/admin/channels", {"code": "later", "name": "Later"}, who=op)
    assert shop.ok("POST", "/v1/admin/channels/later/status", {"status": "closed"}, who=op,
                   key="later-1")["channels"]["later"]["status"] == "closed"


def test_confirm_and_sweep_are_answered_once(shop):
    configure(shop, {"auth_pay": UNIONPAY_FIRST, "withholding": [{"channel": "slow", "priority": 1}]})
    alice = shop.account("alice")
    binding = shop.bind(alice)["id"]
    recharge = shop.recharge(alice, 2_000, method="auth_pay", binding_id=binding).json()
    assert recharge["status"] == "awaiting_confirmation"
    code = shop.channels["unionpay"].sms_code(recharge["id"])
    path = f"/v1/recharges/{recharge['id']}/confirm"
    confirmed = shop.ok("POST", path, {"sms_code": code}, key="confirm-1")
    assert confirmed["status"] == "succeeded"
    ledger = shop.client.app.state.services.ledger
    position = ledger.head()
    assert shop.ok("POST", path, {"sms_code": code}, key="confirm-1") == confirmed
    assert ledger.head() == position
    other = shop.call("POST", path, {"sms_code": "000000" if code != "000000" else "111111"}, key="confirm-1")
    assert (other.status_code, other.json()["type"]) == (409, "idempotency-conflict")

    pending = shop.recharge(alice, 777, binding_id=binding).json()
    assert pending["status"] == "pending"
    shop.channels["slow"].query(pending["id"])
    shop.ok("GET", "/v1/transactions", params={"min_position": pending["position"]})  # the sweep reads the views
    swept = shop.ok("POST", "/v1/admin/payments/sweep", {"older_than_s": 0}, who="operator", key="sweep-1")
    assert [p["id"] for p in swept] == [pending["id"]]
    position = ledger.head()
    assert shop.ok("POST", "/v1/admin/payments/sweep", {"older_than_s": 0}, who="operator", key="sweep-1") == swept
    assert ledger.head() == position
    conflict = shop.call("POST", "/v1/admin/payments/sweep", {"older_than_s": 5}, who="operator", key="sweep-1")
    assert (conflict.status_code, conflict.json()["type"]) == (409, "idempotency-conflict")


STATEMENT = ("channel_txn_id,reference,kind,amount,fee,status,time\n"
             "up-1,theirs-1,recharge,500,0,succeeded,2026-11-25T10:00:00Z\n")


def test_import_resolve_and_close_are_answered_once(shop):
    ledger = shop.client.app.state.services.ledger
    configure(shop, {"withholding": UNIONPAY_FIRST})  # the channel must be one we know

    def post(path, body, key):
        return shop.call("POST", path, body, who="admin", key=key)

    body = {"channel": "unionpay", "date": "2026-11-25", "file": STATEMENT}
    imported = post("/v1/reconciliations", body, "imp-1")
    assert imported.status_code == 201, imported.text
    rec = imported.json()
    assert post("/v1/reconciliations", body, "imp-1").json() == rec
    conflict = post("/v1/reconciliations", {**body, "file": STATEMENT + "up-2,theirs-2,recharge,1,0,succeeded,"
                                            "2026-11-25T10:00:00Z\n"}, "imp-1")
    assert (conflict.status_code, conflict.json()["type"]) == (409, "idempotency-conflict")
    [difference] = shop.ok("GET", f"/v1/reconciliations/{rec['id']}/differences", who="admin")["items"]
    path = f"/v1/reconciliations/{rec['id']}/differences/{difference['seq']}/resolve"
    resolved = post(path, {"action": "write_off", "reason": "theirs"}, "res-1")
    assert resolved.status_code == 200, resolved.text
    position = ledger.head()
    assert post(path, {"action": "write_off", "reason": "theirs"}, "res-1").json() == resolved.json()
    assert ledger.head() == position
    conflict = post(path, {"action": "wait", "reason": "theirs"}, "res-1")
    assert (conflict.status_code, conflict.json()["type"]) == (409, "idempotency-conflict")
    closed = post(f"/v1/reconciliations/{rec['id']}/close", None, "close-1")
    assert closed.status_code == 200 and closed.json()["closed_by"], closed.text
    position = ledger.head()
    assert post(f"/v1/reconciliations/{rec['id']}/close", None, "close-1").json() == closed.json()
    assert ledger.head() == position
    # The import's retry still answers with the reconciliation as it was imported.
    assert post("/v1/reconciliations", body, "imp-1").json() == rec
