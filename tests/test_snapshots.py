"""Snapshots taken of the aggregate just saved (FundCenter._take_snapshots) are the snapshots the
library would take by reconstructing the aggregate from the store, on SQLite and PostgreSQL:
one-by-one commands, batches that bring an account several events in one save (the snapshot at
the version saved, a few events past the multiple), holds placed, captured, released and expired."""

from datetime import UTC, datetime, timedelta

from ledger import FundCenter
from ledger.domain.accounts import Account
from projections import ViewStore
from projections.verify import replay_and_verify

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
INTERVAL = 4


class SnapshottingFundCenter(FundCenter):
    name = "fundcenter"  # the same tables as FundCenter's
    snapshotting_intervals = {Account: INTERVAL}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def reconstructed(fc: FundCenter, account_id, version: int) -> dict:
    """The state the library's own `take_snapshot` would store: the account rebuilt from its events."""
    aggregate: Account = fc.repository.get(account_id, version=version)  # the library's projector: project_aggregate
    return Account.Snapshot.take(aggregate).state


def test_snapshots_of_the_saved_aggregate_are_the_librarys(store_url):
    clock = Clock()
    fc = SnapshottingFundCenter(store_url, clock=clock)
    try:
        alice = fc.open_account("member", "mall", "alice", "CNY").id
        bob = fc.open_account("member", "mall", "bob", "CNY").id
        fc.book_recharge(alice, 100_000, "CNY", "alipay", "rc-a")
        fc.book_recharge(bob, 100_000, "CNY", "alipay", "rc-b")
        for n in range(7):  # one event per account per save: each snapshot from memory
            fc.transfer(alice, bob, 100 + n, "CNY", f"t-{n}")
        hold = fc.place_hold(alice, 500, "h-1", reason="order", expires_at=clock.now + timedelta(hours=1))
        fc.capture_hold(hold.id, bob, 200)
        fc.place_hold(bob, 300, "h-2", expires_at=clock.now + timedelta(seconds=30))
        clock.now += timedelta(minutes=5)  # h-2 expires: bob's next debit records the expiry first (two events)
        fc.transfer(bob, alice, 50, "CNY", "t-expiry")
        items = [{"from_account": a, "to_account": b, "amount": 10 + n, "currency": "CNY", "idempotency_key": f"m-{n}"}
                 for n, (a, b) in enumerate([(alice, bob), (bob, alice)] * 5)]
        assert all(not isinstance(r, Exception) for r in fc.transfer_many(items))  # several events an account a save
        taken, past = 0, 0
        for account in (alice, bob):
            buckets = []
            for snapshot in fc.snapshots.get(account):
                version = snapshot.originator_version
                past += version % INTERVAL != 0
                buckets.append(version // INTERVAL)
                assert snapshot.state == reconstructed(fc, account, version)
                taken += 1
            assert buckets == sorted(set(buckets))  # at most one snapshot an interval (a save may pass two multiples)
        assert taken >= 8 and past >= 1  # the batch's saves took some past the multiple
    finally:
        fc.close()
    views_fc = FundCenter(store_url)
    views = ViewStore(views_fc.database)
    try:
        report = replay_and_verify(views_fc, views)
        assert report.ok, report.problems
        assert report.snapshots == taken
    finally:
        views.close()
        views_fc.close()
