"""`fundcenter serve --workers N`: several worker processes on one port and one PostgreSQL database.

A real `serve --workers 2` over a socket: concurrent transfers into one hot account all go
through (the workers' writers take turns: ledger/writer_turns.py), the books add up, the elected
projection runner keeps the views exactly-once, and when it is killed another takes over.
"""

import os
import signal
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from api.bootstrap import bootstrap
from ledger.store import Database
from projections.runner import LEADER_LOCK_CLASS
from tests.config import settings_for
from tests.serving import Server, create_keys, fundcenter_command, request

SOURCES, THREADS, PER_THREAD, AMOUNT = 8, 8, 15, 7


def wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def leaders(url):
    """The application names of the connections holding the projections' leader lock ("... pid N")."""
    with psycopg.connect(**Database.from_url(url).connect_kwargs(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s::oid", (LEADER_LOCK_CLASS,),
        ).fetchall()
    return [name for (name,) in rows]


def leader_pid(url):
    names = leaders(url)
    return int(names[0].rsplit(" ", 1)[1]) if len(names) == 1 else None


@pytest.fixture
def served(pg_url):
    keys = create_keys(pg_url)
    with Server(pg_url, "--workers", "2", start_s=60, ready=lambda base: leader_pid(pg_url) is not None) as server:
        yield server.base, keys, pg_url


def transfer_all_into(base, token, sources, hot):
    """THREADS threads, each PER_THREAD transfers from its source into `hot`; the responses."""
    def run(source):
        return [request(base, "POST", "/v1/transfers", token,
                        {"from_account": source, "to_account": hot, "amount": AMOUNT, "currency": "CNY"},
                        key=str(uuid.uuid4())) for _ in range(PER_THREAD)]

    with ThreadPoolExecutor(THREADS) as pool:
        return [answer for answers in pool.map(run, sources[:THREADS]) for answer in answers]


def replay(url):
    return subprocess.run([*fundcenter_command(), "replay", "--db", url], capture_output=True, text=True, timeout=120)


def test_two_workers_share_a_hot_account_and_survive_the_leaders_death(served):
    base, keys, url = served
    mall, admin = keys["mall"], keys["admin"]

    def account(ref):
        status, body = request(base, "POST", "/v1/accounts", mall,
                               {"kind": "member", "external_ref": ref, "currency": "CNY"}, key=f"open-{ref}")
        assert status == 201, body
        return body["id"]

    hot = account("merchant")
    sources = [account(f"member-{n}") for n in range(SOURCES)]
    for n, source in enumerate(sources):
        status, body = request(base, "POST", "/v1/admin/adjustments", admin,
                               {"account": source, "amount": 10_000, "currency": "CNY", "direction": "credit",
                                "reason": "seed"}, key=f"seed-{n}")
        assert status == 201, body

    answers = transfer_all_into(base, mall, sources, hot)
    assert [status for status, _ in answers] == [201] * THREADS * PER_THREAD, [a for a in answers if a[0] != 201][:3]
    head = max(body["position"] for _, body in answers)
    status, balance = request(base, "GET", f"/v1/accounts/{hot}/balance?min_position={head}", mall)
    assert status == 200 and balance["posted"] == THREADS * PER_THREAD * AMOUNT, balance
    assert wait_until(lambda: request(base, "GET", "/healthz")[1]["projection_lag"] == 0, 30)
    status, health = request(base, "GET", "/healthz")
    assert status == 200 and health["status"] == "ok", health

    # Kill the worker that runs the projections: another takes over (the survivor, or the one
    # uvicorn starts in its place), and nothing is lost or applied twice.
    first = leader_pid(url)
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert wait_until(lambda: leader_pid(url) not in (None, first), 30), leaders(url)

    answers = transfer_all_into(base, mall, sources, hot)
    assert [status for status, _ in answers] == [201] * THREADS * PER_THREAD, [a for a in answers if a[0] != 201][:3]
    head = max(body["position"] for _, body in answers)
    status, balance = request(base, "GET", f"/v1/accounts/{hot}/balance?min_position={head}", mall)
    assert status == 200 and balance["posted"] == 2 * THREADS * PER_THREAD * AMOUNT, balance
    assert wait_until(lambda: request(base, "GET", "/healthz")[1]["projection_lag"] == 0, 30)
    status, health = request(base, "GET", "/healthz")
    assert status == 200 and health["status"] == "ok", health

    checked = replay(url)  # the views equal a replay of the log: nothing lost, nothing twice
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Both processes wrote, each chaining from its own last link when nothing came between: one whole chain.
    audited = subprocess.run([*fundcenter_command(), "audit", "verify", "--db", url], capture_output=True, text=True,
                             timeout=120)
    assert audited.returncode == 0 and audited.stdout.startswith("verified: "), audited.stdout + audited.stderr


def test_more_than_one_worker_is_refused_on_sqlite(sqlite_url):
    result = subprocess.run([*fundcenter_command(), "serve", "--db", sqlite_url, "--workers", "2"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "needs PostgreSQL" in result.stderr, result.stderr


def test_the_runners_on_one_database_elect_one_and_another_takes_over(pg_url):
    """Two systems on one PostgreSQL database (as two workers are): one runner applies the log,
    the other follows its position (its waits answer); when the leader stops, the other leads."""
    with bootstrap(settings_for(pg_url)) as one, bootstrap(settings_for(pg_url)) as two:
        one.runner.start()
        assert wait_until(lambda: one.runner.leading, 10)
        two.runner.start()
        alice = one.ledger.open_account("member", "mall", "alice", "CNY")
        bob = two.ledger.open_account("member", "mall", "bob", "CNY")
        one.ledger.adjust(alice.id, 1_000, "CNY", "credit", "seed", "seed")
        paid = two.ledger.transfer(alice.id, bob.id, 400, "CNY", "t1")
        two.runner.wait(paid.position, timeout=10)  # the leader applied it; the follower saw its position
        assert one.runner.leading and not two.runner.leading
        assert two.runner.state()["running"] and not two.runner.state()["leading"]
        assert leaders(pg_url) == [f"fundcenter projections leader pid {os.getpid()}"]

        one.runner.stop()
        assert wait_until(lambda: two.runner.leading, 10)
        again = one.ledger.transfer(alice.id, bob.id, 100, "CNY", "t2")
        two.runner.wait(again.position, timeout=10)
        rows = two.views.query("SELECT COUNT(*) AS n FROM statement_entries WHERE account_id = ?", (str(bob.id),))
        assert rows[0]["n"] == 2  # each transfer applied once, by one runner or the other
