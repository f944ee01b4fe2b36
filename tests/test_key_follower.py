"""A `serve` that leaves the projections to another process (`serve --no-projections`) follows
the log's API-key events alone (projections/key_follower.py) and so may trust its key cache: a
known key reads nothing; a key revoked or re-roled by another process stops counting within a
bounded time, and before any `?min_position=` waiter hears of its position; while the follower
does not follow, every request reads its key from the event store."""

import subprocess
import time
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import _key_changes
from ledger import FundCenter
from projections import ProjectionRunner, ViewStore
from projections.key_follower import EventFollower
from tests.api_client import problem_of
from tests.config import settings_for
from tests.serving import Server, fundcenter_command, request

BOUND_S = 5.0  # a change made elsewhere counts well within this (the follower reads the log every 0.1 s at least)


@contextmanager
def serving_alone(url):
    """`serve --no-projections` as the tests can have it: the app without its runner."""
    with TestClient(create_app(settings=settings_for(url, run_projections=False))) as client:
        follower = client.app.state.services.keys.follower
        until(lambda: follower.following)
        yield client


@contextmanager
def elsewhere(url):
    """Another process's ledger: its saves are not told to the app's cache."""
    fc = FundCenter(url)
    try:
        yield fc
    finally:
        fc.close()


def until(condition, within_s=BOUND_S):
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "not within the bound"
        time.sleep(0.01)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def keys(store_url):
    with elsewhere(store_url) as fc:
        made = {name: fc.create_api_key(role, business, name=name) for name, role, business in
                [("admin", "admin", None), ("cafe", "business", "cafe")]}
    return {name: (view.id, secret) for name, (view, secret) in made.items()}


def counting(client):
    ledger, reads = client.app.state.services.ledger, []
    authenticate = ledger.authenticate
    ledger.authenticate = lambda token: reads.append(token) or authenticate(token)
    return reads


def test_a_known_key_is_not_read_again(store_url, keys):
    with serving_alone(store_url) as client:
        reads = counting(client)
        cafe = keys["cafe"][1]
        for _ in range(5):
            assert client.get("/v1/transactions", headers=bearer(cafe)).status_code == 200
        assert reads == [cafe]


def test_a_revocation_made_elsewhere_stops_the_key(store_url, keys):
    with serving_alone(store_url) as client, elsewhere(store_url) as other:
        reads = counting(client)
        cafe_id, cafe = keys["cafe"]
        assert client.get("/v1/transactions", headers=bearer(cafe)).status_code == 200
        other.revoke_api_key(cafe_id, by="test")
        until(lambda: client.get("/v1/transactions", headers=bearer(cafe)).status_code == 401)
        problem_of(client.get("/v1/transactions", headers=bearer(cafe)), 401, "unauthorized")
        assert reads[0] == cafe


def test_a_new_role_given_elsewhere_counts(store_url, keys):
    with serving_alone(store_url) as client, elsewhere(store_url) as other:
        cafe_id, cafe = keys["cafe"]
        problem_of(client.get("/v1/events", headers=bearer(cafe)), 403, "forbidden")  # a business key: no events
        other.grant_role(cafe_id, "auditor", None, by="test")
        until(lambda: client.get("/v1/events", headers=bearer(cafe)).status_code == 200)


def test_a_key_created_elsewhere_works(store_url, keys):
    with serving_alone(store_url) as client, elsewhere(store_url) as other:
        assert client.get("/v1/transactions", headers=bearer(keys["cafe"][1])).status_code == 200
        _, fresh = other.create_api_key("business", "bakery", name="bakery")
        assert client.get("/v1/transactions", headers=bearer(fresh)).status_code == 200


def test_a_waiter_hears_of_a_position_only_after_the_key_changes_up_to_it(store_url, keys):
    """`fundcenter project` applies the revocation; a request waiting for its position answers
    only once this process's follower has told the cache, so the next request is refused."""
    with serving_alone(store_url) as client, elsewhere(store_url) as other:
        admin, (cafe_id, cafe) = keys["admin"][1], keys["cafe"]
        assert client.get("/v1/transactions", headers=bearer(cafe)).status_code == 200
        follower = client.app.state.services.keys.follower
        tell = follower.listener
        follower.listener = lambda after, upto: time.sleep(0.3) or tell(after, upto)  # slow to tell: the waiter waits
        position = other.revoke_api_key(cafe_id, by="test").position
        views = ViewStore(other.database)
        try:
            ProjectionRunner(other, views).catch_up()  # as `fundcenter project` would
        finally:
            views.close()
        listed = client.get(f"/v1/admin/api-keys?min_position={position}", headers=bearer(admin))
        assert listed.status_code == 200, listed.text
        problem_of(client.get("/v1/transactions", headers=bearer(cafe)), 401, "unauthorized")


def test_the_follower_tells_of_a_change_before_its_waiters_go_on(store_url, keys):
    with elsewhere(store_url) as ledger, elsewhere(store_url) as other:
        told = []
        follower = EventFollower(ledger, _key_changes(), lambda after, upto: told.append((after, upto))).start()
        try:
            until(lambda: follower.following)
            other.open_account("member", "cafe", "m1", "CNY")  # not a key change: not told
            position = other.revoke_api_key(keys["cafe"][0], by="test").position
            follower.wait(position, timeout=BOUND_S)
            assert len(told) == 1 and told[0][0] < position <= told[0][1]
        finally:
            follower.stop()
        assert not follower.following
        follower.wait(position + 100, timeout=0)  # a follower that does not follow holds no waiter


def test_while_the_follower_is_not_following_every_request_reads_its_key(store_url, keys):
    with serving_alone(store_url) as client:
        reads = counting(client)
        client.app.state.services.keys.follower.stop()
        cafe = keys["cafe"][1]
        for _ in range(3):
            assert client.get("/v1/transactions", headers=bearer(cafe)).status_code == 200
        assert reads == [cafe] * 3


def test_while_the_follower_cannot_read_the_log_every_request_reads_its_key(store_url, keys):
    with serving_alone(store_url) as client:
        services = client.app.state.services
        follower, ledger, cafe = services.keys.follower, services.ledger, keys["cafe"][1]
        assert client.get("/v1/transactions", headers=bearer(cafe)).status_code == 200
        reads = counting(client)
        head = ledger.head
        ledger.head = lambda: 1 / 0  # the follower's read fails
        until(lambda: not follower.following)
        for _ in range(3):
            assert client.get("/v1/transactions", headers=bearer(cafe)).status_code == 200
        assert reads == [cafe] * 3
        ledger.head = head
        until(lambda: follower.following)  # it resumes by itself
        reads.clear()
        for _ in range(3):
            assert client.get("/v1/transactions", headers=bearer(cafe)).status_code == 200
        assert len(reads) <= 1


def test_serve_without_projections_follows_keys_changed_by_other_processes(pg_url, tmp_path):
    """Real processes: `serve --no-projections`, the CLI making a key, another ledger revoking one."""
    with elsewhere(pg_url) as other:
        mall, token = other.create_api_key("business", "mall", name="mall")
    with Server(pg_url, "--no-projections", log=tmp_path / "serve.log") as server:
        assert request(server.base, "GET", "/v1/transactions", token)[0] == 200
        fresh = subprocess.run([*fundcenter_command(), "keys", "create", "--db", pg_url, "--role", "business",
                                "--business", "bakery"], capture_output=True, text=True, timeout=60)
        assert fresh.returncode == 0, fresh.stderr
        assert request(server.base, "GET", "/v1/transactions", fresh.stdout.strip())[0] == 200
        with elsewhere(pg_url) as other:
            other.revoke_api_key(mall.id, by="test")
        until(lambda: request(server.base, "GET", "/v1/transactions", token)[0] == 401)
