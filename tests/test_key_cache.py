"""API keys cached in memory (api/deps.py KeyCache): a request whose key is known reads
nothing from the event store; a revocation or a new role counts at once in the process
that made it, and in another process as soon as its projection runner applies it."""

import time
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger import FundCenter
from tests.api_client import problem_of
from tests.config import settings_for


@contextmanager
def serving(url):
    """One `serve` process, as the tests can have it: the app on its own ledger, views and runner."""
    with TestClient(create_app(settings=settings_for(url))) as client:
        yield client


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def keys(store_url):
    fc = FundCenter(store_url)
    made = {name: fc.create_api_key(role, business, name=name)[1]
            for name, role, business in [("admin", "admin", None), ("cafe", "business", "cafe")]}
    fc.close()
    return made


def counting(client):
    """Count the requests whose key the ledger reads from the event store (once the runner follows the log)."""
    services = client.app.state.services
    services.runner.wait(services.ledger.head(), timeout=10)
    ledger, reads = client.app.state.services.ledger, []
    authenticate = ledger.authenticate
    ledger.authenticate = lambda token: reads.append(token) or authenticate(token)
    return reads


def listed_key(client, keys, name):
    """The key named `name` as the admin's key list shows it, read once the views hold every key made."""
    made = client.app.state.services.ledger.head()
    listed = client.get(f"/v1/admin/api-keys?min_position={made}", headers=bearer(keys["admin"])).json()["items"]
    return next(k for k in listed if k["name"] == name)


def wait_until_applied(client, position):
    client.app.state.services.runner.wait(position, timeout=10)


def test_a_known_key_is_not_read_again_and_its_revocation_counts_at_once(store_url, keys):
    with serving(store_url) as client:
        reads = counting(client)
        for _ in range(5):
            assert client.get("/v1/transactions", headers=bearer(keys["cafe"])).status_code == 200
        assert reads == [keys["cafe"]]
        key_id = client.get("/v1/admin/api-keys", headers=bearer(keys["admin"])).json()["items"]
        cafe = next(k for k in key_id if k["name"] == "cafe")
        granted = client.post(f"/v1/admin/api-keys/{cafe['id']}/role", json={"role": "auditor"},
                              headers={**bearer(keys["admin"]), "Idempotency-Key": "re-role"})
        assert granted.status_code == 200, granted.text
        assert client.get("/v1/events", headers=bearer(keys["cafe"])).status_code == 200  # the new role, at once
        assert client.delete(f"/v1/admin/api-keys/{cafe['id']}", headers=bearer(keys["admin"])).json()["revoked"]
        problem_of(client.get("/v1/events", headers=bearer(keys["cafe"])), 401, "unauthorized")


def test_a_revocation_made_by_another_process_counts_once_its_runner_applies_it(store_url, keys):
    with serving(store_url) as one, serving(store_url) as other:
        reads = counting(other)
        for _ in range(3):
            assert other.get("/v1/transactions", headers=bearer(keys["cafe"])).status_code == 200
        assert reads == [keys["cafe"]]
        cafe = listed_key(one, keys, "cafe")
        revoked = one.delete(f"/v1/admin/api-keys/{cafe['id']}", headers=bearer(keys["admin"])).json()
        wait_until_applied(other, revoked["position"])
        problem_of(other.get("/v1/transactions", headers=bearer(keys["cafe"])), 401, "unauthorized")


def test_a_revocation_applied_by_the_other_processs_runner_is_found_in_the_log(store_url, keys):
    """The views are shared: when the first process's runner applied the revocation, the second
    one's runner finds the tracking record past it, and looks the key events up in the log."""
    with serving(store_url) as one, serving(store_url) as other:
        assert other.get("/v1/transactions", headers=bearer(keys["cafe"])).status_code == 200
        other_runner = other.app.state.services.runner
        other_runner.stop()
        cafe = listed_key(one, keys, "cafe")
        revoked = one.delete(f"/v1/admin/api-keys/{cafe['id']}", headers=bearer(keys["admin"])).json()
        wait_until_applied(one, revoked["position"])  # applied by the first process's runner
        other_runner.start()
        deadline = time.monotonic() + 10
        while other_runner.applied < revoked["position"] and time.monotonic() < deadline:
            time.sleep(0.01)
        problem_of(other.get("/v1/transactions", headers=bearer(keys["cafe"])), 401, "unauthorized")


def test_while_the_runner_is_not_following_every_request_reads_its_key(store_url, keys):
    with serving(store_url) as client:
        reads = counting(client)
        client.app.state.services.runner.stop()
        for _ in range(3):
            assert client.get("/v1/transactions", headers=bearer(keys["cafe"])).status_code == 200
        assert reads == [keys["cafe"]] * 3
