"""Balance proofs: the Merkle tree's properties (hypothesis), and over HTTP on SQLite and
PostgreSQL a business's balance verified against the day's signed root by exactly the lines the
README shows, and refused for a wrong balance."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from api.app import create_app
from ledger.audit import merkle
from ledger.clock import SteppingClock
from tests.api_client import Api, problem_of
from tests.config import BUSINESS_HOURS, DAY, api_keys, settings_for

D = DAY.isoformat()
README = Path(__file__).resolve().parent.parent / "README.md"

# -- the tree ------------------------------------------------------------------------------------------

balances = st.integers(min_value=-(2**100), max_value=2**100)
leaf_sets = st.dictionaries(st.uuids(), st.tuples(st.sampled_from(["CNY", "USD", "EUR"]), balances), min_size=1, max_size=70)


def leaves_of(drawn):
    return [merkle.Leaf(a, currency, balance) for a, (currency, balance) in sorted(drawn.items(), key=lambda kv: kv[0].bytes)]


def rfc6962_root(hashes):
    """The Merkle Tree Hash as RFC 6962 defines it, recursively: a reference for the tree."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return merkle.node_hash(rfc6962_root(hashes[:k]), rfc6962_root(hashes[k:]))


@settings(deadline=None)  # a stalled CI machine is no failure
@given(leaf_sets, st.data())
def test_every_leaf_proves_against_the_root_and_a_changed_leaf_does_not(drawn, data):
    leaves = leaves_of(drawn)
    root = merkle.root(leaves)
    assert root == rfc6962_root([merkle.leaf_hash(leaf) for leaf in leaves])
    index = data.draw(st.integers(0, len(leaves) - 1))
    leaf, path = leaves[index], merkle.proof(leaves, index)
    assert len(path) <= max(1, (len(leaves) - 1).bit_length())
    assert merkle.verify_proof(leaf, path, root)
    delta = data.draw(st.integers(-5, 5).filter(bool))
    assert not merkle.verify_proof(merkle.Leaf(leaf.account_id, leaf.currency, leaf.balance + delta), path, root)
    other = data.draw(st.uuids().filter(lambda u: u != leaf.account_id))
    assert not merkle.verify_proof(merkle.Leaf(other, leaf.currency, leaf.balance), path, root)
    if path:  # a path of another leaf, or with a step's side flipped, proves nothing
        flipped = [merkle.Step("left" if s.side == "right" else "right", s.hash) for s in path]
        assert not merkle.verify_proof(leaf, flipped, root)


@settings(deadline=None)  # a stalled CI machine is no failure
@given(leaf_sets)
def test_a_leaf_and_a_node_never_hash_alike_and_leaves_encode_one_to_one(drawn):
    leaves = leaves_of(drawn)
    assert len({leaf.encode() for leaf in leaves}) == len(leaves)
    assert all(len(leaf.encode()) == 35 for leaf in leaves)
    if len(leaves) >= 2:  # a node's 64 bytes presented as a leaf's: another hash (domain separation)
        node = merkle.node_hash(merkle.leaf_hash(leaves[0]), merkle.leaf_hash(leaves[1]))
        assert node != merkle.leaf_hash(leaves[0]) and merkle.root(leaves[:2]) == node


def test_leaves_out_of_order_or_twice_are_refused():
    a, b = UUID(int=1), UUID(int=2)
    with pytest.raises(ValueError):
        merkle.root([merkle.Leaf(b, "CNY", 1), merkle.Leaf(a, "CNY", 1)])
    with pytest.raises(ValueError):
        merkle.root([merkle.Leaf(a, "CNY", 1), merkle.Leaf(a, "CNY", 2)])
    with pytest.raises(ValueError):
        merkle.Leaf(a, "cny", 1)


# -- over HTTP -----------------------------------------------------------------------------------------


def readme_verifier():
    """The README's lines that verify a balance proof, exactly as written there."""
    block = re.search(r"```python\n(import base64, hashlib, json, uuid\n.*?)```", README.read_text(), re.S)
    assert block, "the README shows how to verify a balance proof"
    scope = {}
    exec(block.group(1), scope)  # the README's own code, which this test exists to run
    return scope["verify_balance_proof"]


@pytest.fixture
def days(store_url, tmp_path):
    key_file = tmp_path / "signing-key.pem"
    key_file.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    service_settings = settings_for(store_url, signing_key_file=key_file)
    clock = SteppingClock(BUSINESS_HOURS())
    keys = api_keys(service_settings, [("admin", "admin", None), ("finance", "finance", None), ("auditor", "auditor", None),
                                       ("mall", "business", "mall"), ("shop", "business", "shop")], clock=clock)
    with TestClient(create_app(settings=service_settings, clock=clock)) as client:
        yield Api(client, keys), clock


def test_a_balance_proof_verifies_with_the_readmes_lines_and_not_for_a_wrong_balance(days):
    api, clock = days
    alice, bob, carol = api.open("alice"), api.open("bob"), api.open("carol", who="shop")
    api.fund(alice, 10_000)
    api.fund(carol, 700)
    assert api.post("/v1/transfers", {"from_account": alice, "to_account": bob, "amount": 2_500, "currency": "CNY"}).status_code == 201
    problem_of(api.get(f"/v1/accounts/{alice}/balance-proof", params={"date": D}), 404, "day-not-closed")
    clock.set(datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) + timedelta(days=1, hours=2))
    assert api.post("/v1/transfers", {"from_account": alice, "to_account": bob, "amount": 1, "currency": "CNY"}).status_code == 201
    closed = api.post(f"/v1/days/{D}/close", {}, who="finance")
    assert closed.status_code == 200, closed.text
    body = json.loads(closed.json()["certificate"]["body"])
    report = api.get("/v1/reports/trial-balance", who="finance", params={
        "as_of": body["accounting_day"]["ends_at"], "min_position": closed.json()["recorded_at"]}).json()
    assert body["trial_balance"] == report["currencies"]  # the views' trial balance at the day's end, the same
    public_key = api.get("/v1/days/public-key").text.encode()
    verify = readme_verifier()

    proof = api.get(f"/v1/accounts/{alice}/balance-proof", params={"date": D}).json()
    assert (proof["account_id"], proof["day"], proof["currency"], proof["balance"]) == (alice, D, "CNY", 7_500)
    assert verify(proof, public_key)
    for account, balance in ((bob, 2_500), (carol, 700)):
        who = "shop" if account == carol else "mall"
        other = api.get(f"/v1/accounts/{account}/balance-proof", params={"date": D}, who=who).json()
        assert other["balance"] == balance and verify(other, public_key)

    wrong = json.loads(json.dumps(proof))
    wrong["leaf"]["balance"] = wrong["balance"] = 7_501
    assert not verify(wrong, public_key)
    wrong = json.loads(json.dumps(proof))
    wrong["balance"] = 7_501  # the leaf right, the figure shown wrong
    assert not verify(wrong, public_key)
    forged = json.loads(json.dumps(proof))
    forged["certificate"]["body"] = forged["certificate"]["body"].replace(proof["merkle_root"], "0" * 64)
    with pytest.raises(InvalidSignature):
        verify(forged, public_key)

    problem_of(api.get(f"/v1/accounts/{carol}/balance-proof", params={"date": D}), 404, "not-found")  # shop's, asked by mall
    auditor = api.get(f"/v1/accounts/{carol}/balance-proof", params={"date": D}, who="auditor")
    assert auditor.status_code == 200 and verify(auditor.json(), public_key)
    late = api.open("dave")  # opened after the close: no leaf that day
    problem_of(api.get(f"/v1/accounts/{late}/balance-proof", params={"date": D}, who="auditor"), 404, "not-found")


def test_proofs_read_the_leaves_back_from_the_log_when_none_are_kept(days):
    api, clock = days
    alice = api.open("alice")
    api.fund(alice, 4_200)
    clock.set(datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) + timedelta(days=1, hours=2))
    api.post(f"/v1/days/{D}/close", {}, who="admin")
    views = api.client.app.state.services.views
    first = api.get(f"/v1/accounts/{alice}/balance-proof", params={"date": D}).json()
    assert views.query("SELECT COUNT(*) AS n FROM day_close_leaves WHERE day = ?", (D,))[0]["n"] == 2  # alice, difference
    with views.transaction() as cur:
        cur.execute("DELETE FROM day_close_leaves")
    assert api.get(f"/v1/accounts/{alice}/balance-proof", params={"date": D}).json() == first
    with views.transaction() as cur:  # a kept leaf edited: checked against the signed root, read from the log again
        cur.execute("UPDATE day_close_leaves SET balance = 1 WHERE account_id = ?", (alice,))
    assert api.get(f"/v1/accounts/{alice}/balance-proof", params={"date": D}).json() == first
