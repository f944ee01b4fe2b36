"""`fundcenter serve` as a user runs it: a subprocess, a real socket, a scripted session."""

import pytest

from tests.serving import Server, create_keys, request


@pytest.fixture
def served(store_url):
    keys = create_keys(store_url)
    with Server(store_url) as server:
        yield server.base, keys


def test_a_scripted_session_over_a_real_socket(served):
    base, keys = served
    mall = keys["mall"]
    status, alice = request(base, "POST", "/v1/accounts", mall, {"kind": "member", "external_ref": "alice", "currency": "CNY"}, key="o1")
    assert status == 201
    _, bob = request(base, "POST", "/v1/accounts", mall, {"kind": "member", "external_ref": "bob", "currency": "CNY"}, key="o2")
    status, _ = request(base, "POST", "/v1/admin/adjustments", keys["admin"],
                        {"account": alice["id"], "amount": 5_000, "currency": "CNY", "direction": "credit", "reason": "seed"}, key="a1")
    assert status == 201
    status, transfer = request(base, "POST", "/v1/transfers", mall,
                               {"from_account": alice["id"], "to_account": bob["id"], "amount": 1_250, "currency": "CNY"}, key="t1")
    assert status == 201
    status, statement = request(base, "GET", f"/v1/accounts/{bob['id']}/statement?min_position={transfer['position']}", mall)
    assert status == 200 and [e["balance_after"] for e in statement["entries"]] == [1_250]
    status, problem = request(base, "POST", "/v1/transfers", mall,
                              {"from_account": alice["id"], "to_account": bob["id"], "amount": 10**6, "currency": "CNY"}, key="t2")
    assert (status, problem["type"]) == (409, "insufficient-funds")
    status, health = request(base, "GET", "/healthz")
    # The views reached the transfer's position (the statement waited for it), and the refused
    # transfer wrote nothing: the transfer is the head of the log, so the views are not behind it.
    assert status == 200 and health["status"] == "ok" and health["projection_lag"] == 0, health
    assert health["database"]["up"] and not health["projections"]["failing"]
