"""`fundcenter serve` as a user runs it: a subprocess, a real socket, a scripted session."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.config import configured_secrets


def fundcenter_command():
    script = Path(sys.executable).with_name("fundcenter")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from api.cli import main; main()"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(base, method, path, token=None, body=None, key=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if key:
        headers["Idempotency-Key"] = key
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def create_keys(url):
    """An admin key and business mall's key, made by the CLI as an operator would."""

    def key(*args):
        result = subprocess.run([*fundcenter_command(), "keys", "create", "--db", url, *args],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    return {"admin": key("--role", "admin"), "mall": key("--role", "business", "--business", "mall")}


@pytest.fixture
def served(store_url):
    keys = create_keys(store_url)
    port = free_port()
    server = subprocess.Popen(
        [*fundcenter_command(), "serve", "--db", store_url, "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, **configured_secrets()},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if request(base, "GET", "/healthz")[0] == 200:
                break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"serve did not come up: {server.communicate()[1][-2000:]}")
        time.sleep(0.1)
    yield base, keys
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


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
