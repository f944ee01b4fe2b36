"""`fundcenter replay --verify` checks each aggregate against the others, not only the views.

A ledger with transfers, recharges and holds (captured, released, partly captured,
expired) passes; then each tampering of the event store that the views cannot see
(they are built from the transfers) is caught, by the command line, on both stores:
an account's credit inflated, its latest debit deleted, a snapshot's business id
changed, a hold's event edited or deleted.
"""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger import FundCenter
from ledger.domain.accounts import Account
from ledger.store import Database
from projections import ViewStore
from projections.verify import replay_and_verify

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class SnapshottingFundCenter(FundCenter):
    """The ledger with an account snapshot every 5 events (500 in production)."""

    name = "fundcenter"  # the same tables as FundCenter's
    snapshotting_intervals = {Account: 5}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def fundcenter(*args):
    script = Path(sys.executable).with_name("fundcenter")
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from api.cli import main; main()"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120, env=dict(os.environ))


def mismatches(result) -> list[str]:
    return [line.removeprefix("MISMATCH ") for line in result.stderr.splitlines() if line.startswith("MISMATCH ")]


@pytest.fixture
def books(store_url):
    """A day of business; every account's events are listed where a test edits them."""
    clock = Clock()
    fc = SnapshottingFundCenter(store_url, clock=clock)
    alice = fc.open_account("member", "mall", "alice", "CNY", name="Alice").id
    bob = fc.open_account("member", "mall", "bob", "CNY", name="Bob").id
    carol = fc.open_account("member", "mall", "carol", "CNY", name="Carol").id
    fc.book_recharge(alice, 50_000, "CNY", "unionpay", idempotency_key="rc-1")  # alice v2
    fc.book_recharge(bob, 10_000, "CNY", "alipay", idempotency_key="rc-2")  # bob v2
    fc.transfer(alice, bob, 12_000, "CNY", idempotency_key="order-1")  # alice v3 debited, bob v3
    captured = fc.place_hold(alice, 10_000, idempotency_key="freeze-1", reason="order 2").id  # alice v4
    fc.capture_hold(captured, bob, 6_000)  # alice v5 (snapshot), bob v4
    fc.release_hold(captured)  # alice v6: 4,000 released; the hold is posted
    partly = fc.place_hold(alice, 5_000, idempotency_key="freeze-2").id  # alice v7
    fc.capture_hold(partly, carol, 2_000)  # alice v8, carol v2; 3,000 still held
    released = fc.place_hold(bob, 4_000, idempotency_key="freeze-3", expires_at=START + timedelta(hours=1)).id  # bob v5
    fc.release_hold(released)  # bob v6: voided
    expiring = fc.place_hold(bob, 1_000, idempotency_key="freeze-4", expires_at=START + timedelta(hours=1)).id  # bob v7
    clock.now = START + timedelta(hours=2)
    fc.transfer(bob, carol, 500, "CNY", idempotency_key="order-3")  # bob v8 hold expired, v9 debited; carol v3
    fc.transfer(carol, alice, 1_000, "CNY", idempotency_key="order-4")  # carol v4 debited (its latest), alice v9
    fc.adjust(alice, 100, "CNY", "credit", "goodwill", idempotency_key="adj-1")  # alice v10 (snapshot)
    fc.close()
    return {
        "url": store_url, "alice": alice, "bob": bob, "carol": carol,
        "captured": captured, "partly": partly, "released": released, "expiring": expiring,
    }


# -- the event store, edited as an intruder would ---------------------------------------------


class Store:
    def __init__(self, url: str) -> None:
        self.db = Database.from_url(url)
        sqlite = self.db.kind == "sqlite"
        self.p = "?" if sqlite else "%s"
        self.events = "stored_events" if sqlite else "fundcenter_events"
        self.snapshots = "stored_snapshots" if sqlite else "fundcenter_snapshots"

    def key(self, aggregate_id):
        return aggregate_id.hex if self.db.kind == "sqlite" else aggregate_id

    def versions(self, table, aggregate_id):
        with self.db.connect() as conn:
            rows = conn.execute(
                f"SELECT originator_version, topic FROM {table} WHERE originator_id = {self.p} ORDER BY originator_version",
                (self.key(aggregate_id),),
            ).fetchall()
        return [(version, topic.rsplit(".", 1)[-1].rsplit(":", 1)[-1]) for version, topic in rows]

    def edit(self, table, aggregate_id, version, change):
        """Decode the stored state (the transcoder's JSON bytes), change it, write it back."""
        where = f"originator_id = {self.p} AND originator_version = {self.p}"
        with self.db.connect() as conn:
            (state,) = conn.execute(f"SELECT state FROM {table} WHERE {where}", (self.key(aggregate_id), version)).fetchone()
            document = json.loads(bytes(state))
            change(document)
            new = json.dumps(document, separators=(",", ":")).encode()
            conn.execute(f"UPDATE {table} SET state = {self.p} WHERE {where}", (new, self.key(aggregate_id), version))
            if self.db.kind == "sqlite":
                conn.commit()

    def delete(self, aggregate_id, version):
        with self.db.connect() as conn:
            conn.execute(
                f"DELETE FROM {self.events} WHERE originator_id = {self.p} AND originator_version = {self.p}",
                (self.key(aggregate_id), version),
            )


# -- clean --------------------------------------------------------------------------------------


def test_a_clean_ledger_passes_with_every_account_hold_and_snapshot_checked(books):
    store = Store(books["url"])
    assert [v for v, _ in store.versions(store.snapshots, books["alice"])] == [5, 10]
    assert [v for v, _ in store.versions(store.snapshots, books["bob"])] == [5]
    result = fundcenter("replay", "--verify", "--db", books["url"])
    assert result.returncode == 0, result.stderr
    assert "views equal a clean replay" in result.stdout
    assert "accounts, holds and snapshots agree with the transfers" in result.stdout
    fc = FundCenter(books["url"])
    views = ViewStore(fc.database)
    try:
        report = replay_and_verify(fc, views)
    finally:
        views.close()
        fc.close()
    assert report.ok, report.problems
    # alice, bob, carol; the two channels' pending_reconciliation and the difference account
    assert (report.accounts, report.holds, report.snapshots) == (6, 4, 3)


# -- each tampering, caught -------------------------------------------------------------------


def test_an_inflated_credit_is_caught(books):
    store = Store(books["url"])
    alice = books["alice"]
    assert store.versions(store.events, alice)[-1] == (10, "Credited")

    def inflate(state):  # the adjustment of 100 made 25,100, and the balance with it
        state["amount"], state["balance_after"] = 25_100, state["balance_after"] + 25_000

    store.edit(store.events, alice, 10, inflate)
    store.edit(store.snapshots, alice, 10, lambda state: state["state"].update(posted=state["state"]["posted"] + 25_000))
    result = fundcenter("replay", "--verify", "--db", books["url"])
    assert result.returncode == 1
    assert mismatches(result) == [f"account {alice}: posted from its events 56100, from the transfers 31100"]
    # and the command side would have let Alice spend it:
    fc = FundCenter(books["url"])
    try:
        assert fc.get_account(alice).posted == 56_100
    finally:
        fc.close()


def test_a_credit_whose_amount_alone_was_inflated_is_caught(books):
    store = Store(books["url"])
    alice = books["alice"]
    assert store.versions(store.events, alice)[1] == (2, "Credited")
    store.edit(store.events, alice, 2, lambda state: state.update(amount=75_000))
    result = fundcenter("replay", "--verify", "--db", books["url"])
    assert result.returncode == 1
    assert mismatches(result) == [
        f"account {alice}: version 2 Credited 75000: balance_after from its event 50000, from the amounts 75000"
    ]


def test_a_deleted_latest_debit_is_caught(books):
    store = Store(books["url"])
    carol = books["carol"]
    assert store.versions(store.events, carol)[-1] == (4, "Debited")
    store.delete(carol, 4)
    result = fundcenter("replay", "--verify", "--db", books["url"])
    assert result.returncode == 1
    assert mismatches(result) == [f"account {carol}: posted from its events 2500, from the transfers 1500"]


def test_a_deleted_middle_event_is_a_gap_in_the_versions(books):
    store = Store(books["url"])
    alice = books["alice"]
    assert store.versions(store.events, alice)[2] == (3, "Debited")
    store.delete(alice, 3)
    result = fundcenter("replay", "--verify", "--db", books["url"])
    assert result.returncode == 1
    problems = mismatches(result)
    assert problems[0] == f"account {alice}: versions jump from 2 to 4"
    assert problems[1] == f"snapshot of {alice} at version 5: versions jump from 2 to 4 (and 1 more snapshot)"


def test_a_snapshot_with_another_business_id_is_caught(books):
    store = Store(books["url"])
    bob = books["bob"]
    store.edit(store.snapshots, bob, 5, lambda state: state["state"].update(business_id="evil"))
    result = fundcenter("replay", "--verify", "--db", books["url"])
    assert result.returncode == 1
    assert mismatches(result) == [
        f"snapshot of account {bob} at version 5: business_id from the snapshot 'evil', from its events 'mall'"
    ]


def test_a_hold_whose_release_was_edited_is_caught(books):
    store = Store(books["url"])
    hold = books["captured"]
    assert store.versions(store.events, hold) == [(1, "Placed"), (2, "Captured"), (3, "Released")]
    store.edit(store.events, hold, 3, lambda state: state.update(amount=1_000))
    result = fundcenter("replay", "--verify", "--db", books["url"])
    assert result.returncode == 1
    assert mismatches(result) == [f"hold {hold}: released from its events 1000, on account {books['alice']} 4000"]


def test_a_hold_missing_its_latest_capture_is_caught(books):
    store = Store(books["url"])
    hold = books["partly"]
    assert store.versions(store.events, hold)[-1] == (2, "Captured")
    store.delete(hold, 2)
    result = fundcenter("replay", "--verify", "--db", books["url"])
    assert result.returncode == 1
    assert mismatches(result) == [f"hold {hold}: captured from its events 0, on account {books['alice']} 2000"]


def test_a_hold_that_claims_more_than_its_account_is_caught(books):
    store = Store(books["url"])
    hold = books["partly"]
    store.edit(store.events, hold, 1, lambda state: state.update(amount=50_000))  # the Placed event
    result = fundcenter("replay", "--verify", "--db", books["url"])
    assert result.returncode == 1
    assert mismatches(result) == [f"hold {hold}: amount from its events 50000, on account {books['alice']} 5000"]


def test_the_audit_names_the_first_mismatch_per_kind(books):
    store = Store(books["url"])
    bob, carol, hold = books["bob"], books["carol"], books["captured"]
    store.delete(carol, 4)
    store.edit(store.events, bob, 2, lambda state: state.update(amount=10_001))
    store.edit(store.events, hold, 3, lambda state: state.update(amount=1_000))
    store.edit(store.snapshots, bob, 5, lambda state: state["state"].update(external_ref="mallory"))
    fc = FundCenter(books["url"])
    views = ViewStore(fc.database)
    try:
        report = replay_and_verify(fc, views)
    finally:
        views.close()
        fc.close()
    assert report.problems == [
        f"account {bob}: version 2 Credited 10001: balance_after from its event 10000, from the amounts 10001"
        " (and 1 more account)",
        f"hold {hold}: released from its events 1000, on account {books['alice']} 4000",
        f"snapshot of account {bob} at version 5: external_ref from the snapshot 'mallory', from its events 'bob'",
    ]


def test_the_audit_reads_the_store_a_page_at_a_time(books, monkeypatch):
    import projections.stored_aggregates as stored

    monkeypatch.setattr(stored, "PAGE", 2)  # every account's events and the snapshots span several pages
    store = Store(books["url"])
    fc = FundCenter(books["url"])
    views = ViewStore(fc.database)
    try:
        report = replay_and_verify(fc, views)
        assert report.ok, report.problems
        assert (report.accounts, report.holds, report.snapshots) == (6, 4, 3)
        store.edit(store.snapshots, books["bob"], 5, lambda state: state["state"].update(posted=1))
        assert replay_and_verify(fc, views).problems == [
            f"snapshot of account {books['bob']} at version 5: posted from the snapshot 1, from its events 28000"
        ]
    finally:
        views.close()
        fc.close()
