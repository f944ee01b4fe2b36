"""What operators see: /metrics as Prometheus parses it (prometheus_client's own parser), a request
id on every response and in every problem, and one JSON access-log line per request that never
holds the key or a body."""

import json
import logging
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api_client import problem_of

HEX_ID = re.compile(r"[0-9a-f]{32}")


def scrape(api):
    response = api.get("/metrics", who=None)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def value(family, name, **labels):
    found = [s.value for s in family.samples if s.name == name and s.labels == labels]
    assert len(found) == 1, (name, labels, family.samples)
    return found[0]


@pytest.fixture
def access_lines():
    lines = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    handler = Keep()
    logger = logging.getLogger("fundcenter.access")
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def test_metrics_parse_with_their_names_labels_and_values(api):
    alice = api.open("alice")
    api.open("bob")
    position = api.fund(alice, 1_000)["position"]
    problem_of(api.get("/v1/accounts/not-a-uuid"), 422, "validation-error")
    api.get("/v1/events", who="auditor", params={"min_position": position})
    families = scrape(api)

    requests = families["fundcenter_http_requests"]
    assert requests.type == "counter"
    assert value(requests, "fundcenter_http_requests_total", method="POST", route="/v1/accounts", status="201") == 2
    assert value(requests, "fundcenter_http_requests_total", method="GET", route="/v1/accounts/{account_id}",
                 status="422") == 1
    assert not any(s.name.endswith("_created") for family in families.values() for s in family.samples)

    latency = families["fundcenter_http_request_duration_seconds"]
    assert latency.type == "histogram"
    labels = {"method": "POST", "route": "/v1/accounts"}
    assert value(latency, "fundcenter_http_request_duration_seconds_count", **labels) == 2
    assert value(latency, "fundcenter_http_request_duration_seconds_bucket", le="+Inf", **labels) == 2
    assert value(latency, "fundcenter_http_request_duration_seconds_sum", **labels) > 0

    assert value(families["fundcenter_problems"], "fundcenter_problems_total", type="validation-error") == 1
    assert value(families["fundcenter_commands"], "fundcenter_commands_total", outcome="done") >= 3
    head = value(families["fundcenter_log_head"], "fundcenter_log_head")
    reached = value(families["fundcenter_projection_position"], "fundcenter_projection_position")
    assert head >= position and reached <= head
    assert value(families["fundcenter_projection_lag_events"], "fundcenter_projection_lag_events") == head - reached
    assert value(families["fundcenter_database_up"], "fundcenter_database_up") == 1
    assert value(families["fundcenter_projection_halted"], "fundcenter_projection_halted") == 0
    assert value(families["fundcenter_projection_failing_seconds"], "fundcenter_projection_failing_seconds") == 0
    assert value(families["fundcenter_projection_behind_seconds"], "fundcenter_projection_behind_seconds") >= 0
    assert families["fundcenter_projection_retries"].type == "counter"
    assert value(families["fundcenter_projection_retries"], "fundcenter_projection_retries_total") == 0


def test_a_scrape_counts_no_webhook_attempt_its_backlog_has_not_seen(api, monkeypatch):
    """A scrape takes this process's counters before it reads the backlog: an attempt recorded (and
    then counted) while it reads is in neither of them, and the next scrape has it in both."""
    import api.routes.ops as ops

    read, landed = ops.backlog, []

    def an_attempt_lands_meanwhile(store, now_s):
        found = read(store, now_s)
        if not landed:  # the deliverer records a delivery, then counts it
            api.client.app.state.services.metrics.webhook_attempt("delivered", 0.02)
            landed.append(now_s)
        return found

    monkeypatch.setattr(ops, "backlog", an_attempt_lands_meanwhile)
    attempts = "fundcenter_webhook_attempts_total"
    assert value(scrape(api)["fundcenter_webhook_attempts"], attempts, outcome="delivered") == 0
    assert landed
    assert value(scrape(api)["fundcenter_webhook_attempts"], attempts, outcome="delivered") == 1


def test_a_sane_request_id_is_echoed_and_any_other_is_replaced(api):
    given = api.get("/healthz", who=None, headers={"X-Request-Id": "order-42.attempt:1_A"})
    assert given.headers["X-Request-Id"] == "order-42.attempt:1_A"
    assert HEX_ID.fullmatch(api.get("/healthz", who=None).headers["X-Request-Id"])
    for insane in ("x" * 129, "two words", "a/b", "<script>", ""):
        response = api.get("/healthz", who=None, headers={"X-Request-Id": insane})
        assert HEX_ID.fullmatch(response.headers["X-Request-Id"]), insane
    assert api.get("/healthz", who=None, headers={"X-Request-Id": "y" * 128}).headers["X-Request-Id"] == "y" * 128
    first, second = api.get("/healthz", who=None), api.get("/healthz", who=None)
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


def test_every_problem_names_its_request_id(api):
    unauthorized = problem_of(api.get("/v1/transactions", who=None, headers={"X-Request-Id": "req-1"}), 401, "unauthorized")
    assert unauthorized["request_id"] == "req-1"
    missing = api.get("/v1/accounts/00000000-0000-0000-0000-000000000000")
    body = problem_of(missing, 404, "not-found")
    assert body["request_id"] == missing.headers["X-Request-Id"] and HEX_ID.fullmatch(body["request_id"])
    body = problem_of(api.post("/v1/accounts", {"kind": "member"}, headers={"X-Request-Id": "req-2"}), 422, "validation-error")
    assert body["request_id"] == "req-2"
    body = problem_of(api.get("/nowhere", who=None, headers={"X-Request-Id": "req-3"}), 404, "not-found")
    assert body["request_id"] == "req-3"


def test_one_json_access_line_per_request_without_the_key_or_the_body(api, access_lines):
    made = api.post("/v1/admin/api-keys", {"role": "business", "business_id": "mall", "name": "till"}, who="admin").json()
    api.keys["till"] = made["key"]
    access_lines.clear()
    secret_ref = "secret-external-ref-7"
    body = {"kind": "member", "external_ref": secret_ref, "currency": "CNY", "name": "Alice"}
    opened = api.post("/v1/accounts", body, who="till", headers={"X-Request-Id": "open-1"})
    assert opened.status_code == 201
    api.get(f"/v1/accounts/{opened.json()['id']}?min_position=0", who="till")
    api.get("/v1/transactions", who=None)
    api.get("/healthz", who=None)
    entries = [json.loads(line) for line in access_lines]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("POST", "/v1/accounts", 201), ("GET", "/v1/accounts/{account_id}", 200), ("GET", "/v1/transactions", 401),
        ("GET", "/healthz", 200),
    ]
    for entry in entries:
        assert set(entry) == {"method", "path", "status", "latency_ms", "request_id", "key_id"}
        assert isinstance(entry["latency_ms"], float) and entry["latency_ms"] >= 0
    assert entries[0]["request_id"] == "open-1" and HEX_ID.fullmatch(entries[1]["request_id"])
    assert [e["key_id"] for e in entries] == [made["id"], made["id"], None, None]
    text = "\n".join(access_lines)
    assert made["key"] not in text and "Bearer" not in text and secret_ref not in text and "min_position" not in text


def test_an_unexpected_error_is_a_problem_with_its_request_id_and_counted(api, monkeypatch, access_lines):
    from fastapi.testclient import TestClient

    def boom(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("api.service.reports.Reports.events", boom)
    client = TestClient(api.client.app, raise_server_exceptions=False)  # the app the fixture started
    headers = {"Authorization": f"Bearer {api.keys['auditor']}", "X-Request-Id": "bug-1"}
    response = client.get("/v1/events", headers=headers)
    body = problem_of(response, 500, "internal-error")
    assert body["request_id"] == "bug-1" and response.headers["X-Request-Id"] == "bug-1"
    assert json.loads(access_lines[-1])["status"] == 500 and json.loads(access_lines[-1])["request_id"] == "bug-1"
    families = scrape(api)
    assert value(families["fundcenter_problems"], "fundcenter_problems_total", type="internal-error") == 1
    assert value(families["fundcenter_http_requests"], "fundcenter_http_requests_total", method="GET", route="/v1/events",
                 status="500") == 1
