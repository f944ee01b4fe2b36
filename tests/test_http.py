"""The HTTP API against the real app (lifespan, projections and all), on SQLite and PostgreSQL."""

from uuid import uuid4

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api_client import problem_of


def test_a_transfer_and_its_statement_with_read_your_writes(api):
    alice, bob = api.open("alice"), api.open("bob")
    api.fund(alice, 10_000)
    transfer = api.post("/v1/transfers", {"from_account": alice, "to_account": bob, "amount": 2_500, "currency": "CNY", "memo": "dinner"})
    assert transfer.status_code == 201
    position = transfer.json()["position"]
    statement = api.get(f"/v1/accounts/{bob}/statement", params={"min_position": position}).json()
    assert [(e["kind"], e["amount"], e["balance_after"], e["memo"]) for e in statement["entries"]] == [("transfer", 2_500, 2_500, "dinner")]
    assert api.get(f"/v1/accounts/{alice}").json()["available"] == 7_500
    balance = api.get(f"/v1/accounts/{alice}/balance", params={"min_position": position}).json()
    assert balance["posted"] == 7_500
    before = api.get(f"/v1/accounts/{alice}/balance", params={"as_of": "2000-01-01T00:00:00Z"}).json()
    assert before["posted"] == 0
    listed = api.get("/v1/transactions", params={"account_id": alice, "min_position": position}).json()["items"]
    assert [t["kind"] for t in listed] == ["transfer", "adjustment"]


def test_an_idempotent_retry_returns_the_identical_response(api):
    alice, bob = api.open("alice"), api.open("bob")
    api.fund(alice, 1_000)
    body = {"from_account": alice, "to_account": bob, "amount": 100, "currency": "CNY"}
    first = api.post("/v1/transfers", body, key="pay-1")
    again = api.post("/v1/transfers", body, key="pay-1")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    problem_of(api.post("/v1/transfers", {**body, "amount": 101}, key="pay-1"), 409, "idempotency-conflict")
    problem_of(api.post("/v1/transfers", body, key=False), 400, "idempotency-key-required")
    # Idempotency keys are per business: another business's "pay-1" is its own.
    carol, dave = api.open("carol", who="shop"), api.open("dave", who="shop")
    api.fund(carol, 100)
    other = api.post("/v1/transfers", {"from_account": carol, "to_account": dave, "amount": 100, "currency": "CNY"}, who="shop", key="pay-1")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


@pytest.mark.parametrize(
    "change, status, type_",
    [
        ({"amount": 0}, 422, "validation-error"),
        ({"amount": -5}, 422, "validation-error"),
        ({"amount": 1.5}, 422, "validation-error"),
        ({"amount": "10"}, 422, "validation-error"),
        ({"amount": True}, 422, "validation-error"),
        ({"amount": 10**16}, 422, "validation-error"),
        ({"currency": "cny"}, 422, "validation-error"),
        ({"currency": "XXX"}, 422, "unknown-currency"),
        ({"currency": "USD"}, 409, "currency-mismatch"),
        ({"amount": 10**6}, 409, "insufficient-funds"),
        ({"to_account": "not-a-uuid"}, 422, "validation-error"),
        ({"surprise": 1}, 422, "validation-error"),
        ({"to_account": str(uuid4())}, 404, "not-found"),
        ({"to_account": None}, 422, "validation-error"),
    ],
)
def test_bad_transfers_are_problems_not_500s(api, change, status, type_):
    alice, bob = api.open("alice"), api.open("bob")
    api.fund(alice, 1_000)
    body = {"from_account": alice, "to_account": bob, "amount": 10, "currency": "CNY", **change}
    problem_of(api.post("/v1/transfers", body), status, type_)
    assert api.get(f"/v1/accounts/{alice}").json()["posted"] == 1_000


def test_malformed_json_and_unknown_routes(api):
    response = api.call("POST", "/v1/transfers", content=b'{"amount": ', headers={"content-type": "application/json"})
    problem_of(response, 400, "malformed-request")
    problem_of(api.get("/v1/nothing-here"), 404, "not-found")
    problem_of(api.get("/v1/accounts/not-a-uuid"), 422, "validation-error")
    problem_of(api.call("PUT", "/v1/transfers"), 405, "method-not-allowed")


def test_frozen_and_closed_accounts(api):
    alice, bob = api.open("alice"), api.open("bob")
    api.fund(alice, 500)
    assert api.post(f"/v1/accounts/{alice}/status", {"status": "frozen"}).json()["status"] == "frozen"
    body = {"from_account": alice, "to_account": bob, "amount": 10, "currency": "CNY"}
    problem_of(api.post("/v1/transfers", body), 409, "account-frozen")
    api.post(f"/v1/accounts/{alice}/status", {"status": "active"})
    problem_of(api.post(f"/v1/accounts/{alice}/status", {"status": "closed"}), 409, "account-not-empty")
    api.post(f"/v1/accounts/{bob}/status", {"status": "closed"})
    problem_of(api.post("/v1/transfers", body), 409, "account-closed")
    problem_of(api.post(f"/v1/accounts/{alice}/status", {"status": "sleeping"}), 422, "validation-error")


def test_freeze_unfreeze_and_capture(api):
    alice, shop = api.open("alice"), api.open("shop-till")
    api.fund(alice, 10_000)
    hold = api.post("/v1/holds", {"account": alice, "amount": 6_000, "reason": "order 7", "expires_at": "2999-01-01T00:00:00Z"})
    assert hold.status_code == 201
    hold_id = hold.json()["id"]
    assert api.get(f"/v1/accounts/{alice}").json()["frozen"] == 6_000
    capture = api.post(f"/v1/holds/{hold_id}/capture", {"to_account": shop, "amount": 2_000})
    assert capture.status_code == 201 and capture.json()["kind"] == "capture"
    problem_of(api.post(f"/v1/holds/{hold_id}/release", {"amount": 4_001}), 409, "exceeds-held-amount")
    released = api.post(f"/v1/holds/{hold_id}/release", {}).json()
    assert (released["status"], released["captured"], released["released"]) == ("posted", 2_000, 4_000)
    problem_of(api.post(f"/v1/holds/{hold_id}/release", {}), 409, "hold-not-active")
    problem_of(api.post("/v1/holds", {"account": alice, "amount": 1, "expires_at": "2000-01-01T00:00:00Z"}), 422, "invalid-expiry")
    problem_of(api.post("/v1/holds", {"account": alice, "amount": 1, "expires_at": "2999-01-01T00:00:00"}), 422, "validation-error")
    assert api.get(f"/v1/holds/{hold_id}").json()["status"] == "posted"
    problem_of(api.get(f"/v1/holds/{uuid4()}"), 404, "not-found")


def test_another_business_does_not_exist_for_a_business_key(api):
    theirs = api.open("carol", who="shop")
    api.fund(theirs, 1_000)
    mine = api.open("alice")
    hold = api.post("/v1/holds", {"account": theirs, "amount": 10}, who="shop").json()["id"]
    for response in [
        api.get(f"/v1/accounts/{theirs}"),
        api.get(f"/v1/accounts/{theirs}/statement"),
        api.get(f"/v1/accounts/{theirs}/balance"),
        api.post(f"/v1/accounts/{theirs}/status", {"status": "frozen"}),
        api.post("/v1/transfers", {"from_account": theirs, "to_account": mine, "amount": 1, "currency": "CNY"}),
        api.post("/v1/transfers", {"from_account": mine, "to_account": theirs, "amount": 1, "currency": "CNY"}),
        api.post("/v1/holds", {"account": theirs, "amount": 1}),
        api.post(f"/v1/holds/{hold}/release", {}),
        api.get(f"/v1/holds/{hold}"),
        api.get("/v1/transactions", params={"account_id": theirs}),
    ]:
        problem_of(response, 404, "not-found")
    assert api.get("/v1/transactions", params={"business_id": "shop"}).json()["items"] == []
    problem_of(api.post("/v1/accounts", {"kind": "member", "business_id": "shop", "external_ref": "x", "currency": "CNY"}), 403, "forbidden")
    assert api.get(f"/v1/accounts/{theirs}", who="auditor").json()["posted"] == 1_000


def test_roles(api):
    alice = api.open("alice")
    adjustment = {"account": alice, "amount": 5, "currency": "CNY", "direction": "credit", "reason": "r"}
    problem_of(api.post("/v1/admin/adjustments", adjustment), 403, "forbidden")
    problem_of(api.post("/v1/admin/adjustments", adjustment, who="operator"), 403, "forbidden")
    assert api.post("/v1/admin/adjustments", adjustment, who="finance").status_code == 201
    problem_of(api.get("/v1/events"), 403, "forbidden")
    assert api.get("/v1/events", who="auditor").status_code == 200
    problem_of(api.post("/v1/accounts", {"kind": "institution", "external_ref": "main", "currency": "CNY"}), 403, "forbidden")
    opened = api.post("/v1/accounts", {"kind": "institution", "business_id": "mall", "external_ref": "main", "currency": "CNY"}, who="operator")
    assert opened.status_code == 201
    problem_of(api.post("/v1/transfers", {"from_account": alice, "to_account": opened.json()["id"], "amount": 1, "currency": "CNY"}, who="auditor"), 403, "forbidden")
    problem_of(api.get("/v1/reports/trial-balance"), 403, "forbidden")
    problem_of(api.get("/v1/admin/api-keys", who="finance"), 403, "forbidden")


def test_authentication(api):
    problem_of(api.get("/v1/transactions", who=None), 401, "unauthorized")
    problem_of(api.get("/v1/transactions", who=None, headers={"Authorization": "Bearer fc_nope_nope"}), 401, "unauthorized")
    problem_of(api.get("/v1/transactions", who=None, headers={"Authorization": "Basic abc"}), 401, "unauthorized")
    forged = api.keys["mall"][:-4] + "AAAA"
    problem_of(api.get("/v1/transactions", who=None, headers={"Authorization": f"Bearer {forged}"}), 401, "unauthorized")


def test_keys_are_created_once_listed_re_roled_and_revoked(api):
    created = api.post("/v1/admin/api-keys", {"role": "business", "business_id": "cafe", "name": "cafe app"}, who="admin")
    assert created.status_code == 201
    key = created.json()
    api.keys["cafe"] = key["key"]
    assert api.open("latte", who="cafe")
    listed = api.get("/v1/admin/api-keys", who="admin", params={"min_position": key["position"]}).json()["items"]
    assert {"cafe app"} <= {k["name"] for k in listed} and all("key" not in k and "secret_hash" not in k for k in listed)
    problem_of(api.post("/v1/admin/api-keys", {"role": "business"}, who="admin"), 422, "validation-error")
    regranted = api.post(f"/v1/admin/api-keys/{key['id']}/role", {"role": "auditor"}, who="admin")
    assert regranted.json()["role"] == "auditor"
    assert api.get("/v1/events", who="cafe").status_code == 200
    assert api.call("DELETE", f"/v1/admin/api-keys/{key['id']}", who="admin").json()["revoked"] is True
    problem_of(api.get("/v1/events", who="cafe"), 401, "unauthorized")
    roles = api.get("/v1/admin/roles", who="admin").json()
    assert {r["role"] for r in roles} == {"admin", "operator", "finance", "auditor", "business"}
    events = api.get("/v1/events", who="auditor", params={"limit": 1000}).json()["events"]
    assert {"ledger.domain.access:ApiKey.Revoked", "ledger.domain.access:ApiKey.RoleGranted"} <= {e["topic"] for e in events}
    assert all("secret_hash" not in e["data"] for e in events)


def test_batch_transfers(api):
    alice, bob = api.open("alice"), api.open("bob")
    api.fund(alice, 1_000)
    body = {"transfers": [
        {"from_account": alice, "to_account": bob, "amount": 600, "currency": "CNY"},
        {"from_account": alice, "to_account": bob, "amount": 600, "currency": "CNY"},
        {"from_account": bob, "to_account": alice, "amount": 100, "currency": "CNY", "idempotency_key": "own"},
    ]}
    first = api.post("/v1/transfers/batch", body, key="batch-1")
    assert [r["status"] for r in first.json()["results"]] == [201, 409, 201]
    assert first.json()["results"][1]["problem"]["type"] == "insufficient-funds"
    again = api.post("/v1/transfers/batch", body, key="batch-1").json()
    # Done items repeat their first outcome; a refused item wrote nothing, so it is simply tried again.
    assert [again["results"][i] for i in (0, 2)] == [first.json()["results"][i] for i in (0, 2)]
    assert again["results"][1]["problem"]["type"] == "insufficient-funds"
    problem_of(api.post("/v1/transfers/batch", {"transfers": []}), 422, "validation-error")


def test_reports_events_health_and_metrics(api):
    alice, _ = api.open("alice"), api.open("bob")
    position = api.fund(alice, 1_000)["position"]
    trial = api.get("/v1/reports/trial-balance", who="finance", params={"min_position": position}).json()
    assert trial["turnover"] == [{"currency": "CNY", "debits": 1_000, "credits": 1_000, "net": 0, "accounts": 3, "balanced": True}]
    assert trial["currencies"] == [{"currency": "CNY", "debit": 1_000, "credit": 1_000, "accounts": 3, "balanced": True}]
    assert {(a["account_id"], a["debit"], a["credit"]) for a in trial["accounts"] if a["kind"] != "system"} == {(alice, 0, 1_000)}
    assert api.get("/v1/reports/suspense", who="finance").json()["days"] == []
    page = api.get("/v1/events", who="auditor", params={"after": 0, "limit": 2}).json()
    rest = api.get("/v1/events", who="auditor", params={"after": page["next_after"], "limit": 1000}).json()
    positions = [e["position"] for e in page["events"] + rest["events"]]
    assert positions == sorted(positions) and len(positions) == len(set(positions)) and rest["next_after"] is None
    health = api.get("/healthz", who=None).json()
    assert health["status"] == "ok" and health["log_head"] >= position
    metrics = api.get("/metrics", who=None).text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(metrics) for s in family.samples}
    assert samples["fundcenter_http_requests_total", (("method", "POST"), ("route", "/v1/accounts"), ("status", "201"))] == 2
    assert ("fundcenter_projection_lag_events", ()) in samples and ("fundcenter_commands_total", (("outcome", "done"),)) in samples
    assert api.get("/openapi.json", who=None).json()["info"]["title"] == "Fund Center"


def test_positions_and_cursors_out_of_range_are_problems(api):
    alice = api.open("alice")
    for path, params in [
        ("/v1/events", {"after": 2**63}),
        ("/v1/transactions", {"min_position": 2**63}),
        (f"/v1/accounts/{alice}/statement", {"cursor": "OTk5OTk5OTk5OTk5OTk5OTk5OTk5fDA"}),
        ("/v1/transactions", {"cursor": "bm90LWEtY3Vyc29y"}),
    ]:
        problem_of(api.get(path, who="admin", params=params), 422, "validation-error")
