"""The HTTP API as the tests call it: a client with keys for every role, and problem checks."""

from dataclasses import dataclass

from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"


@dataclass
class Api:
    client: TestClient
    keys: dict[str, str]
    calls: int = 0

    def call(self, method, path, who="mall", key=None, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if who is not None:
            headers["Authorization"] = f"Bearer {self.keys[who]}"
        if method == "POST" and key is not False:
            self.calls += 1
            headers["Idempotency-Key"] = key or f"auto-{self.calls}"
        response = self.client.request(method, path, headers=headers, **kwargs)
        assert response.status_code < 500, response.text
        return response

    def post(self, path, body=None, **kwargs):
        return self.call("POST", path, json=body, **kwargs)

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def open(self, ref, who="mall", kind="member", currency="CNY"):
        response = self.post("/v1/accounts", {"kind": kind, "external_ref": ref, "currency": currency, "name": ref}, who=who)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def fund(self, account, amount, currency="CNY"):
        body = {"account": account, "amount": amount, "currency": currency, "direction": "credit", "reason": "seed"}
        response = self.post("/v1/admin/adjustments", body, who="admin")
        assert response.status_code == 201, response.text
        return response.json()


def problem_of(response, status, type_):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == type_ and body["status"] == status and body["detail"]
    return body
