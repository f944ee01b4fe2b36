"""The OpenAPI document says how the API behaves: bearer security on the routes that need a key,
Idempotency-Key required where a route requires it, problem+json answers per route, 201 for
every create; and /docs and /redoc work with no asset from anywhere but the app."""

import re

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api_client import problem_of
from tests.config import settings_for

PROBLEM = "application/problem+json"
OPEN_ROUTES = {("GET", "/healthz"), ("GET", "/metrics"), ("POST", "/v1/channels/{code}/notifications")}
# Every POST that creates something (the catalog's upserts, confirmations, transitions and batch are not creates).
CREATES = {
    "/v1/accounts", "/v1/transfers", "/v1/holds", "/v1/holds/{hold_id}/capture", "/v1/admin/adjustments",
    "/v1/admin/api-keys", "/v1/admin/banks", "/v1/admin/channels", "/v1/bindings", "/v1/recharges", "/v1/withdrawals",
    "/v1/transfers/{transfer_id}/reverse",
    "/v1/reconciliations", "/v1/reconciliations/fetch", "/v1/webhook-endpoints",
}


@pytest.fixture
def document(tmp_path):
    return create_app(settings=settings_for(f"sqlite:///{tmp_path}/fundcenter.db")).openapi()


def operations(document):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def test_a_bearer_scheme_is_on_every_route_that_needs_a_key_and_only_there(document):
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer <key>`."}
    for method, path, operation in operations(document):
        if (method, path) in OPEN_ROUTES:
            assert "security" not in operation, (method, path)
        else:
            assert operation["security"] == [{"bearer": []}], (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_the_idempotency_key_is_required_where_the_route_requires_it(document, api):
    commands = []
    for method, path, operation in operations(document):
        headers = [p for p in operation.get("parameters", []) if p["in"] == "header" and p["name"] == "Idempotency-Key"]
        if headers:
            assert headers[0]["required"] is True and headers[0]["schema"]["minLength"] == 1, (method, path)
            assert {"400", "409"} <= set(operation["responses"]), (method, path)
            commands.append((method, path))
    assert ("POST", "/v1/transfers") in commands and ("POST", "/v1/accounts") in commands
    # Required in the document, and answered as before: 400 idempotency-key-required, not FastAPI's 422.
    body = {"kind": "member", "external_ref": "alice", "currency": "CNY"}
    problem_of(api.post("/v1/accounts", body, key=False), 400, "idempotency-key-required")


def test_who_asks_is_answered_before_what_is_missing_from_the_request(document, api):
    """A command without its Idempotency-Key is refused 401 to a caller without a valid key and 403
    to a key whose role may not run it, as any other request of theirs: never 400."""
    commands = [(method, path) for method, path, operation in operations(document)
                if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))]
    uuid = "00000000-0000-0000-0000-000000000000"
    for method, template in commands:
        path = re.sub(r"\{[a-z_]*id\}", uuid, template).replace("{date}", "2026-11-20").replace("{code}", "unionpay")
        problem_of(api.call(method, path, who=None, key=False, json={}), 401, "unauthorized")
        problem_of(api.call(method, path, who=None, key=False, json={}, headers={"Authorization": "Bearer fc_nope_nope"}),
                   401, "unauthorized")
        # Auditors read; none of these commands is theirs. Any staff key may ask to approve or reject:
        # whether its holder may is known once the approval's command is read, after the key is checked.
        anyone_on_staff = template.startswith("/v1/approvals/")
        expected = (400, "idempotency-key-required") if anyone_on_staff else (403, "forbidden")
        problem_of(api.call(method, path, who="auditor", key=False, json={}), *expected)


def test_every_route_documents_its_problems_as_problem_json(document):
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "request_id"} <= set(problem["properties"])
    for method, path, operation in operations(document):
        responses = operation["responses"]
        for code in ("4XX", "5XX", "500"):
            assert responses[code]["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}, (method, path)
        if "{" in path:
            assert PROBLEM in responses["404"]["content"], (method, path)
        if operation.get("parameters") or "requestBody" in operation:
            assert list(responses["422"]["content"]) == [PROBLEM], (method, path)
        for code, response in responses.items():
            assert response["headers"]["X-Request-Id"] == {"$ref": "#/components/headers/RequestId"}, (method, path, code)
    assert document["components"]["headers"]["RequestId"]["schema"]["pattern"] == "^[A-Za-z0-9._:-]{1,128}$"
    healthz = document["paths"]["/healthz"]["get"]["responses"]["503"]
    assert "application/json" in healthz["content"]  # /healthz answers its own JSON, not a problem


def test_every_create_answers_201(document):
    posts = {path: operation for method, path, operation in operations(document) if method == "POST"}
    for path in CREATES:
        assert "201" in posts[path]["responses"] and "200" not in posts[path]["responses"], path
    others = {path for path, operation in posts.items() if "201" in operation["responses"]}
    assert others == CREATES


def test_registering_a_bank_and_a_channel_answers_201(api):
    assert api.post("/v1/admin/banks", {"code": "icbc", "name": "ICBC"}, who="operator").status_code == 201
    channel = {"code": "unionpay", "name": "UnionPay"}
    assert api.post("/v1/admin/channels", channel, who="operator", key="ch-1").status_code == 201
    assert api.post("/v1/admin/channels", channel, who="operator", key="ch-1").status_code == 201  # the retry too


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_every_asset_from_the_app(tmp_path, page):
    with TestClient(create_app(settings=settings_for(f"sqlite:///{tmp_path}/fundcenter.db"))) as client:
        html = client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert not re.search(r"https?://", html.text), html.text
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
        assert assets and all(asset.startswith("/docs/assets/") for asset in assets), assets
        for asset in assets:
            response = client.get(asset)
            assert response.status_code == 200 and len(response.content) > 1000, asset
        assert "/openapi.json" in html.text
        assert client.get("/openapi.json").json()["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
