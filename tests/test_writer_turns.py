"""Writers of several ledgers on one PostgreSQL database taking turns (ledger/writer_turns.py):
no conflicts between them, even on one hot account; what the others wrote is applied to the
cache at the start of a turn; a ledger that does not take turns is still found by the
optimistic check; a lost turn connection is made again; a turn waits a bounded time."""

import threading

import psycopg
import pytest

from ledger import FundCenter, writer_turns
from ledger.domain import errors
from ledger.outages import database_unavailable
from ledger.store import Database
from tests.test_writer import members

TURNS = {"FUNDCENTER_WRITER_TURNS": "true"}


@pytest.fixture
def two(pg_url):
    one, other = FundCenter(pg_url, env=TURNS), FundCenter(pg_url, env=TURNS)
    yield one, other
    one.close()
    other.close()


def test_turns_are_off_unless_asked_for(pg_url, sqlite_url):
    for url, env in ((pg_url, {}), (sqlite_url, TURNS)):
        fc = FundCenter(url, env=env)
        try:
            assert fc.writer.turns is None
        finally:
            fc.close()


def test_two_ledgers_taking_turns_never_conflict_on_a_hot_account(two):
    one, other = two
    sources = members(one, 6, funded=10_000)
    hot = one.open_account("institution", "w", "hot", "CNY").id
    for fc in two:  # each caches the accounts
        assert fc.get_account(sources[0]).posted == 10_000
    failures, conflicts = [], [fc.stats.conflicts for fc in two]

    def pay(fc, t):
        for n in range(25):
            try:
                fc.transfer(sources[(t + n) % len(sources)], hot, 3, "CNY", f"p-{id(fc)}-{t}-{n}")
            except Exception as error:  # any failure fails the test
                failures.append(error)

    threads = [threading.Thread(target=pay, args=(fc, t)) for fc in two for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]
    assert [fc.stats.conflicts for fc in two] == conflicts  # each decided on current state: no save lost
    assert one.get_account(hot).posted == other.get_account(hot).posted == 2 * 4 * 25 * 3
    assert sum(one.get_account(s).posted for s in sources) == 6 * 10_000 - 2 * 4 * 25 * 3
    assert one.writer.turns.applied > 0 and other.writer.turns.applied > 0  # the other's events, from the log


def test_a_turn_applies_what_the_other_wrote_to_the_cached_accounts(two):
    one, other = two
    a, b = members(one, 2, funded=1_000)
    other.transfer(a, b, 1, "CNY", "warm")  # `other`'s first turn (its cache cleared), a and b cached since
    one.transfer(a, b, 100, "CNY", "by-one")
    applied = other.writer.turns.applied
    other.transfer(a, b, 10, "CNY", "by-other")  # its turn reads one's transfer first
    assert other.writer.turns.applied == applied + 2  # an event on each account (the transfer: not cached there)
    assert other.stats.conflicts == 0 and other.writer.turns.cleared == 1
    assert one.get_account(a).posted == 1_000 - 111


def test_a_turn_far_behind_clears_the_cache_instead_of_reading_the_log(two, monkeypatch):
    one, other = two
    a, b = members(one, 2, funded=1_000)
    other.transfer(a, b, 1, "CNY", "warm")
    monkeypatch.setattr(writer_turns, "CATCH_UP_PAGE", 2)
    monkeypatch.setattr(writer_turns, "CATCH_UP_PAGES_MAX", 2)
    for n in range(3):  # 9 events: more than 2 pages of 2
        one.transfer(a, b, 10, "CNY", f"by-one-{n}")
    other.transfer(a, b, 1, "CNY", "after")
    assert other.writer.turns.cleared == 2 and other.stats.conflicts == 0
    assert other.get_account(a).posted == 1_000 - 32


def test_a_ledger_without_turns_is_read_at_the_next_turn_or_found_by_the_optimistic_check(two, pg_url):
    one, other = two
    a, b = members(one, 2, funded=1_000)
    other.transfer(a, b, 1, "CNY", "warm")  # a and b cached by `other`
    loner = FundCenter(pg_url)  # takes no turn
    try:
        loner.transfer(a, b, 100, "CNY", "loner")
        other.transfer(a, b, 10, "CNY", "after")  # its turn reads the loner's transfer from the log
        assert other.stats.conflicts == 0
        loner.transfer(a, b, 100, "CNY", "loner-2")
        other.writer.turns.known = other.head()  # as if the loner wrote between a turn's catch-up and its save
        other.transfer(a, b, 10, "CNY", "after-2")  # its cache does not know the loner's second transfer
        assert other.stats.conflicts == 1  # the save lost, was refreshed and made again
    finally:
        loner.close()
    assert other.get_account(a).posted == 1_000 - 221


def test_a_lost_turn_connection_is_made_again(two, pg_url):
    one, _ = two
    a, b = members(one, 2, funded=1_000)
    lost = one.writer.turns._conn
    with psycopg.connect(**Database.from_url(pg_url).connect_kwargs(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (lost.info.backend_pid,))  # as a server restart does
    assert one.transfer(a, b, 5, "CNY", "after").amount == 5  # the turn found its session gone and made another
    assert one.writer.turns._conn is not lost and one.get_account(a).posted == 995


def test_a_turn_waits_for_the_lock_at_most_its_bound(pg_url, monkeypatch):
    monkeypatch.setattr(writer_turns, "TURN_WAIT_S", 1)
    fc = FundCenter(pg_url, env=TURNS)
    try:
        a, b = members(fc, 2, funded=1_000)
        with psycopg.connect(**Database.from_url(pg_url).connect_kwargs(), autocommit=True) as other:
            other.execute("SELECT pg_advisory_lock(%s)", (writer_turns.TURN_KEY,))  # a writer that keeps its turn
            with pytest.raises(psycopg.errors.LockNotAvailable) as waited:
                fc.transfer(a, b, 5, "CNY", "waits")
            assert database_unavailable(waited.value)  # 503 over HTTP
        assert fc.transfer(a, b, 5, "CNY", "waits").amount == 5  # released: it goes through
    finally:
        fc.close()


def test_a_refused_command_in_its_turn_is_refused_as_ever(two):
    one, other = two
    a, b = members(one, 2, funded=100)
    one.transfer(a, b, 60, "CNY", "first")
    with pytest.raises(errors.InsufficientFunds):
        other.transfer(a, b, 60, "CNY", "second")  # other's turn knows a has 40 left
    assert other.stats.conflicts == 0


def test_metrics_show_the_turns_of_a_process_that_takes_them(pg_url, monkeypatch):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.config import api_keys, settings_for

    settings = settings_for(pg_url)
    keys = api_keys(settings, [("admin", "admin", None), ("mall", "business", "mall")])
    monkeypatch.setenv("FUNDCENTER_WRITER_TURNS", "true")  # as `serve --workers N` sets it for its workers
    with TestClient(create_app(settings=settings)) as client:
        mall = {"Authorization": f"Bearer {keys['mall']}"}
        opened = client.post("/v1/accounts", headers={**mall, "Idempotency-Key": "o1"},
                             json={"kind": "member", "external_ref": "alice", "currency": "CNY"})
        assert opened.status_code == 201, opened.text
        text = client.get("/metrics").text
    turns = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.startswith("fundcenter_writer_")}
    assert turns["fundcenter_writer_turns_total"] >= 1 and turns["fundcenter_writer_turn_cache_cleared_total"] == 1
    assert turns["fundcenter_writer_turn_wait_seconds_total"] >= 0
    assert "fundcenter_writer_turn_events_applied_total" in turns


def test_metrics_leave_the_turns_out_of_a_process_that_takes_none(api):
    assert "fundcenter_writer_" not in api.client.get("/metrics").text
