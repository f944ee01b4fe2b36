"""The event store's pool checks a connection before use without a round trip while the
server has said nothing (ledger.pools.check_if_spoken_to): a connection the server ended is
still never handed to a command."""

import time

import psycopg
import pytest

from api.bootstrap import bootstrap
from ledger.pools import check_if_spoken_to
from tests.config import settings_for

WAIT_S = 10


def terminate_others(url: str) -> int:
    """End every other session on the database (as a restart or an operator would); how many."""
    with psycopg.connect(url, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
        deadline = time.monotonic() + WAIT_S
        while others(admin) and time.monotonic() < deadline:
            time.sleep(0.05)
    return row[0] if row else 0


def others(admin: psycopg.Connection) -> int:
    row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid()").fetchone()
    return row[0] if row else 0


def test_a_quiet_live_connection_passes_and_one_the_server_ended_fails(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SELECT 1")
        check_if_spoken_to(conn)  # alive, nothing to read: passes without a statement
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert terminate_others(pg_url) == 1
        with pytest.raises(psycopg.OperationalError):
            check_if_spoken_to(conn)


def test_commands_go_on_after_the_server_ended_every_pooled_connection(pg_url):
    with bootstrap(settings_for(pg_url)) as system:
        fc = system.ledger
        a = fc.open_account("member", "mall", "u1", "CNY")
        b = fc.open_account("member", "mall", "u2", "CNY")
        fc.book_recharge(a.id, 1_000, "CNY", "alipay", "rc-1")
        assert terminate_others(pg_url) >= 1
        done = fc.transfer(a.id, b.id, 300, "CNY", "t-1")
        assert done.amount == 300
        assert fc.transfer(a.id, b.id, 300, "CNY", "t-1").id == done.id  # and its repeat answers the first outcome


def test_one_caller_after_another_gets_the_connection_returned_last(pg_url):
    with bootstrap(settings_for(pg_url)) as system:
        datastore = system.ledger.recorder.datastore
        with datastore.get_connection() as first, datastore.get_connection() as second:  # two in the pool, at least
            pids = {first.info.backend_pid, second.info.backend_pid}
        assert len(pids) == 2
        served = []
        for _ in range(5):
            with datastore.get_connection() as conn:
                served.append(conn.info.backend_pid)
        assert served == [served[0]] * 5  # the same server process each time, its caches warm
        assert served[0] in pids


def test_the_views_go_on_after_the_server_ended_every_pooled_connection(pg_url):
    """The views' pool checks its connections the same way (no ping unless the server spoke):
    reads and the runner's batches go on after every session was ended."""
    from projections import ProjectionRunner, ViewStore
    from projections.balances import account_balance

    with bootstrap(settings_for(pg_url)) as system:
        fc = system.ledger
        a = fc.open_account("member", "mall", "u1", "CNY")
        fc.book_recharge(a.id, 1_000, "CNY", "alipay", "rc-1")
        views = ViewStore(fc.database)
        try:
            runner = ProjectionRunner(fc, views)
            runner.catch_up()
            assert terminate_others(pg_url) >= 1
            assert account_balance(views, a.id, fc.clock())["posted"] == 1_000  # a read on a fresh connection
            fc.book_recharge(a.id, 500, "CNY", "alipay", "rc-2")
            assert terminate_others(pg_url) >= 1
            assert runner.catch_up() > 0  # a batch on a fresh connection
            assert account_balance(views, a.id, fc.clock())["posted"] == 1_500
        finally:
            views.close()


def test_the_insert_holds_one_connection_and_closing_never_waits_long_for_it(pg_url, monkeypatch):
    import threading

    import ledger.pools as pools
    from ledger import FundCenter

    fc = FundCenter(pg_url)
    a = fc.open_account("member", "mall", "a", "CNY").id
    fc.adjust(a, 100, "CNY", "credit", "opening", "open-a")
    held = fc.recorder.datastore.held
    conn = held.take()  # the connection the inserts above left held
    assert conn is not None and held.take() is None  # one user at a time: another thread would use the pool
    monkeypatch.setattr(pools, "HELD_CLOSE_WAIT_S", 0.2)
    closing = threading.Thread(target=fc.close)
    started = time.monotonic()
    closing.start()
    closing.join(10)
    assert not closing.is_alive() and time.monotonic() - started < 5  # an insert that hangs does not hold it up
    held.give(failed=False)
