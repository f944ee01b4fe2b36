"""Projections: the read models equal what the commands did, on SQLite and PostgreSQL."""

import random
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from ledger import FundCenter
from ledger.domain.ids import system_account_id
from ledger.domain.instants import iso
from ledger.domain.postings import Posting, Side
from ledger.domain.transfers import Transfer, TransferKind
from projections import ProjectionRunner, ViewStore
from projections.balances import account_balance
from projections.common import posted_texts, texts_shared
from projections.statements import balance_as_of, statement
from projections.suspense import suspense
from projections.transactions import list_transactions
from projections.trial_balance import trial_balance
from projections.verify import replay_and_verify


@pytest.fixture
def views(fund_center):
    store = ViewStore(fund_center.database)
    yield store
    store.close()


@pytest.fixture
def runner(fund_center, views):
    return ProjectionRunner(fund_center, views, batch_size=50)


def busy_day(fc, transfers=200, seed=7):
    """A morning (accounts, recharges, a freeze and capture, an adjustment), then random
    transfers, holds and releases among a few members."""
    mall = fc.open_account("institution", "mall", "main", "CNY", name="Mall")
    alice = fc.open_account("member", "mall", "alice", "CNY", name="Alice")
    bob = fc.open_account("member", "mall", "bob", "CNY", name="Bob")
    fc.book_recharge(alice.id, 50_000, "CNY", "unionpay", "busy-alice")
    fc.book_recharge(bob.id, 20_000, "CNY", "alipay", "busy-bob")
    fc.transfer(alice.id, bob.id, 12_000, "CNY", "busy-dinner", memo="dinner")
    hold = fc.place_hold(alice.id, 10_000, "busy-order", reason="order 1")
    fc.capture_hold(hold.id, mall.id, 6_000)
    fc.release_hold(hold.id)
    fc.adjust(bob.id, 100, "CNY", "credit", "goodwill", "busy-goodwill")
    rng = random.Random(seed)
    members = [fc.open_account("member", "shop", f"m{n}", "CNY").id for n in range(6)]
    for n, member in enumerate(members):
        fc.book_recharge(member, 100_000, "CNY", rng.choice(["unionpay", "alipay"]), f"busy-rc-{n}")
    for n in range(transfers):
        a, b = rng.sample(members, 2)
        if n % 10 == 3:
            hold = fc.place_hold(a, rng.randint(1, 500), f"busy-h-{n}")
            fc.release_hold(hold.id, rng.randint(1, hold.amount))
        else:
            fc.transfer(a, b, rng.randint(1, 2_000), "CNY", f"busy-t-{n}", memo=f"t{n}")
    return members


def customer_accounts(fc):
    ids = set()
    for _, event in fc.read_log(limit=1_000_000):
        if type(event).__qualname__ == "Account.Opened" and event.kind != "system":
            ids.add(event.originator_id)
    return ids


def test_views_match_the_commands(fund_center, views, runner):
    busy_day(fund_center, transfers=120)
    assert runner.catch_up() == fund_center.head()
    now = datetime.now(UTC)
    for account_id in customer_accounts(fund_center):
        expected = fund_center.get_account(account_id)
        row = account_balance(views, account_id, now)
        assert (row["posted"], row["pending_debits"], row["frozen"], row["available"], row["status"]) == (
            expected.posted, expected.pending_debits, expected.frozen, expected.available, expected.status
        )
        entries, cursor = statement(views, account_id, limit=1000)
        assert cursor is None
        running = 0
        for entry in entries:
            running += entry["amount"] if entry["side"] == "credit" else -entry["amount"]
            assert entry["balance_after"] == running
        assert running == expected.posted
    assert [row["balanced"] for row in trial_balance(views)] == [True]
    assert trial_balance(views)[0]["net"] == 0


def test_transactions_filter_and_page(fund_center, views, runner):
    members = busy_day(fund_center, transfers=60)
    runner.catch_up()
    seen, cursor = [], None
    while True:
        page, cursor = list_transactions(views, business_id="shop", limit=7, cursor=cursor)
        seen += page
        if cursor is None:
            break
    positions = [row["position"] for row in seen]
    assert positions == sorted(positions, reverse=True) and len({r["id"] for r in seen}) == len(seen)
    assert {r["kind"] for r in seen} == {"recharge", "transfer", "freeze", "unfreeze"}
    only_member, _ = list_transactions(views, account_id=members[0], limit=1000)
    assert all(str(members[0]) in (r["account_id"], r["counterparty_id"]) for r in only_member)
    freezes, _ = list_transactions(views, kind="freeze", limit=1000)
    assert freezes and all(r["kind"] == "freeze" for r in freezes)
    recharges, _ = list_transactions(views, channel="unionpay", limit=1000)
    assert recharges and all(r["kind"] == "recharge" and r["channel"] == "unionpay" for r in recharges)
    assert list_transactions(views, business_id="nobody")[0] == []


def test_reversed_transfers_are_marked(fund_center, views, runner):
    alice = fund_center.open_account("member", "mall", "alice", "CNY")
    bob = fund_center.open_account("member", "mall", "bob", "CNY")
    fund_center.book_recharge(alice.id, 1_000, "CNY", "alipay", "rc")
    transfer = fund_center.transfer(alice.id, bob.id, 400, "CNY", "t")
    fund_center.reverse_transfer(transfer.id, "rev", "mistake")
    runner.catch_up()
    rows, _ = list_transactions(views, account_id=alice.id)
    assert {(r["kind"], r["status"]) for r in rows} == {("recharge", "posted"), ("transfer", "reversed"), ("reversal", "posted")}


def test_suspense_shows_each_channels_pending_reconciliation_per_day(fund_center, views, runner):
    alice = fund_center.open_account("member", "mall", "alice", "CNY")
    booked = fund_center.book_recharge(alice.id, 1_000, "CNY", "alipay", "rc-1")
    fund_center.book_recharge(alice.id, 500, "CNY", "alipay", "rc-2")
    fund_center.book_recharge(alice.id, 70, "CNY", "unionpay", "rc-3")
    runner.catch_up()
    today = fund_center.accounting_day.day_of(booked.created_at).isoformat()  # the day the ledger booked them on
    assert suspense(views) == [
        {"day": today, "channel": "alipay", "currency": "CNY", "pending": 1_500, "reconciled": 0},
        {"day": today, "channel": "unionpay", "currency": "CNY", "pending": 70, "reconciled": 0},
    ]
    assert suspense(views, channel="unionpay", day=today)[0]["pending"] == 70
    system = account_balance(views, system_account_id("pending_reconciliation", "CNY", "alipay"), datetime.now(UTC))
    assert (system["kind"], system["posted"], system["debits"]) == ("system", -1_500, 1_500)


def test_a_hold_stops_counting_in_the_view_at_its_expiry(fund_center, views, runner):
    alice = fund_center.open_account("member", "mall", "alice", "CNY")
    fund_center.book_recharge(alice.id, 1_000, "CNY", "alipay", "rc")
    expiry = datetime.now(UTC) + timedelta(hours=1)
    fund_center.place_hold(alice.id, 600, "h", expires_at=expiry)
    runner.catch_up()
    before = account_balance(views, alice.id, expiry - timedelta(seconds=1))
    after = account_balance(views, alice.id, expiry)
    assert (before["frozen"], before["available"]) == (600, 400)
    assert (after["frozen"], after["available"]) == (0, 1_000)


def test_point_in_time_balances_equal_the_events_up_to_that_instant(fund_center, views, runner):
    alice = fund_center.open_account("member", "mall", "alice", "CNY")
    bob = fund_center.open_account("member", "mall", "bob", "CNY")
    fund_center.book_recharge(alice.id, 10_000, "CNY", "alipay", "rc")
    instants = []
    for n in range(12):
        fund_center.transfer(alice.id, bob.id, 100 + n, "CNY", f"t{n}")
        time.sleep(0.002)
        instants.append(datetime.now(UTC))
        time.sleep(0.002)
    runner.catch_up()
    for instant in [instants[0] - timedelta(seconds=5), *instants]:
        expected = defaultdict(int)
        for _, event in fund_center.read_log(limit=10_000):
            if type(event).__qualname__ == "Transfer.Posted" and event.timestamp <= instant:
                for p in event.postings:
                    expected[p["account"]] += p["amount"] if p["side"] == "credit" else -p["amount"]
        assert balance_as_of(views, alice.id, instant) == expected[alice.id]
        assert balance_as_of(views, bob.id, instant) == expected[bob.id]


class Crash(Exception):
    pass


class CrashingView:
    """Fails in the middle of the third batch, after the real views wrote their rows."""

    name, tables = "crash", dict[str, str]()

    def __init__(self):
        self.batches = 0

    def apply(self, cur, batch):
        self.batches += 1
        if self.batches == 3:
            raise Crash()


def test_a_crash_mid_batch_neither_double_counts_nor_skips(fund_center, views):
    from projections import all_views

    busy_day(fund_center, transfers=60)
    crashing = ProjectionRunner(fund_center, views, batch_size=40, views=(*all_views(), CrashingView()))
    with pytest.raises(Crash):
        crashing.catch_up()
    assert crashing.position == 80  # two whole batches; the third rolled back entirely
    restarted = ProjectionRunner(fund_center, views, batch_size=40)
    restarted.catch_up()
    assert restarted.position == fund_center.head()
    report = replay_and_verify(fund_center, views)
    assert report.ok, report.problems


def test_replay_of_thousands_of_transfers_equals_the_live_views_and_finds_tampering(fund_center, views, runner):
    busy_day(fund_center, transfers=1_500)
    runner.catch_up()
    progress = []
    report = replay_and_verify(fund_center, views, on_progress=lambda position, head: progress.append(position))
    assert report.ok, report.problems
    assert report.transfers > 1_300 and progress[-1] == fund_center.head()
    victim = views.query("SELECT account_id, position, seq FROM statement_entries ORDER BY position DESC LIMIT 1")[0]
    with views.transaction() as cur:
        cur.execute(
            "UPDATE statement_entries SET balance_after = balance_after + 1 WHERE account_id = ? AND position = ? AND seq = ?",
            (victim["account_id"], victim["position"], victim["seq"]),
        )
    tampered = replay_and_verify(fund_center, views)
    assert not tampered.ok
    assert tampered.problems == [
        f"statement_entries: row ({victim['account_id']}, {victim['position']}, {victim['seq']}) column balance_after:"
        f" live {tampered_value(views, victim)}, replay {tampered_value(views, victim) - 1}"
    ]


def tampered_value(views, victim):
    return views.query(
        "SELECT balance_after FROM statement_entries WHERE account_id = ? AND position = ? AND seq = ?",
        (victim["account_id"], victim["position"], victim["seq"]),
    )[0]["balance_after"]


def test_verify_says_plainly_when_the_live_views_lag(fund_center, views):
    busy_day(fund_center, transfers=5)
    report = replay_and_verify(fund_center, views, catch_up=False)
    assert report.problems == [
        f"the live views lag: they are at position 0, the log at {fund_center.head()};"
        " run `fundcenter project --once` first"
    ]
    assert replay_and_verify(fund_center, views).ok


def test_the_runner_follows_the_log_and_serves_read_your_writes(fund_center, views, runner):
    alice = fund_center.open_account("member", "mall", "alice", "CNY")
    runner.start()
    try:
        for n in range(5):
            recharge = fund_center.book_recharge(alice.id, 100, "CNY", "alipay", f"rc-{n}")
            runner.wait(recharge.position, timeout=10)
            assert account_balance(views, alice.id, datetime.now(UTC))["posted"] == 100 * (n + 1)
    finally:
        runner.stop()
    assert runner.error is None


def test_a_runner_pacing_a_busy_log_answers_a_waiter_at_once_and_stops_at_once(fund_center, views, runner, monkeypatch):
    """Between batches near the head the runner waits for more of the log (PACE_S), unless a
    reader waits for a position it has not applied yet; stop() ends a pause too. PACE_S is made
    far longer than any bound below, so each bound fails only if pacing did not do as said."""
    import projections.runner as runner_module

    monkeypatch.setattr(runner_module, "PACE_S", 60.0)
    alice = fund_center.open_account("member", "mall", "alice", "CNY")
    runner.catch_up()  # before it follows, so that it starts idle (a catch-up that applied events paces)
    runner.start()
    try:
        first = fund_center.book_recharge(alice.id, 100, "CNY", "alipay", "rc-first")
        deadline = time.monotonic() + 10
        while runner.applied < first.position and time.monotonic() < deadline:  # applied on its own, from idle
            time.sleep(0.01)
        assert runner.applied == first.position  # and now, no one waiting, the runner paces for up to a minute
        second = fund_center.book_recharge(alice.id, 100, "CNY", "alipay", "rc-second")
        time.sleep(0.3)
        assert runner.applied < second.position  # pacing: not applied without a reader asking
        runner.wait(second.position, timeout=10)  # a reader asking: applied at once
        assert account_balance(views, alice.id, datetime.now(UTC))["posted"] == 200
    finally:
        stopping = threading.Thread(target=runner.stop)
        stopping.start()
        stopping.join(10)  # out of the pause, not after the minute
        assert not stopping.is_alive()
    assert runner.error is None


def test_a_second_runner_cannot_apply_the_same_events_twice(fund_center, views):
    busy_day(fund_center, transfers=10)
    first = ProjectionRunner(fund_center, views, batch_size=1000)
    first.catch_up()
    # A stale runner that read the old position would fail on the tracking record, not double-count.
    from eventsourcing.persistence import IntegrityError, Tracking

    with pytest.raises(IntegrityError), views.transaction() as cur:
        views.record_tracking(cur, Tracking(fund_center.name, first.position))
    assert replay_and_verify(fund_center, views).ok


def test_two_runners_on_one_log_apply_each_event_once(fund_center, views):
    busy_day(fund_center, transfers=30)
    other_views = ViewStore(fund_center.database)
    try:
        first = ProjectionRunner(fund_center, views, batch_size=25)
        second = ProjectionRunner(fund_center, other_views, batch_size=25)
        first.catch_up(until=50)
        second.catch_up(until=50)  # loses every race up to 50, then has nothing to do
        assert second.position == 50
        threads = [threading.Thread(target=r.catch_up) for r in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert first.position == second.position == fund_center.head()
        assert replay_and_verify(fund_center, views).ok
    finally:
        other_views.close()


def test_views_survive_a_restart_of_the_process(store_url):
    fc = FundCenter(store_url)
    busy_day(fc, transfers=20)
    store = ViewStore(fc.database)
    ProjectionRunner(fc, store).catch_up(until=30)
    store.close()
    fc.close()
    fc, store = FundCenter(store_url), None
    try:
        store = ViewStore(fc.database)
        runner = ProjectionRunner(fc, store)
        assert runner.position == 30
        runner.catch_up()
        assert replay_and_verify(fc, store).ok
    finally:
        if store is not None:
            store.close()
        fc.close()


def test_views_applied_an_event_per_batch_equal_views_applied_in_one_batch(fund_center, views):
    """Each batch folds its changes per row (one statement per table): folding many events
    into one row must give what applying them one by one gives."""
    members = busy_day(fund_center, transfers=120)
    dinner = fund_center.transfer(members[0], members[1], 700, "CNY", "fold-dinner")
    fund_center.reverse_transfer(dinner.id, "fold-reverse", "mistake", by="ops")
    fund_center.set_account_status(members[2], "frozen", by="ops")
    fund_center.set_account_status(members[2], "active", by="ops")
    hold = fund_center.place_hold(members[3], 900, "fold-hold")
    fund_center.capture_hold(hold.id, members[4], 300)
    fund_center.release_hold(hold.id, 200)
    fund_center.release_hold(hold.id)
    one_by_one = ProjectionRunner(fund_center, views, batch_size=1)
    assert one_by_one.catch_up() == fund_center.head()
    report = replay_and_verify(fund_center, views, batch_size=1000)  # the replay: the whole log in one batch
    assert report.ok, report.problems


def test_each_runner_has_views_of_its_own_so_no_cache_spans_two_stores(fund_center, views):
    # A view keeps accounts' metadata of its store in memory: a second runner (another store,
    # or verify's scratch views) must not read the first one's.
    first, second = ProjectionRunner(fund_center, views), ProjectionRunner(fund_center, views)
    assert not {id(v) for v in first.views} & {id(v) for v in second.views}
    caches = [v.account_metadata for runner in (first, second) for v in runner.views if hasattr(v, "account_metadata")]
    assert len(caches) == 4 and len({id(c) for c in caches}) == 4


def test_a_transfers_texts_are_made_once_per_batch_for_all_the_views():
    def posted():
        a, b = uuid4(), uuid4()
        transfer = Transfer.post(uuid4(), TransferKind.TRANSFER, "CNY",
                                 [Posting(a, Side.DEBIT, 10, "CNY"), Posting(b, Side.CREDIT, 10, "CNY")], request_hash="h")
        return transfer.collect_events()[0]

    event, other = posted(), posted()
    texts = posted_texts(event)
    assert texts == (str(event.originator_id), tuple(str(p["account"]) for p in event.postings), iso(event.timestamp))
    assert posted_texts(event) is not texts  # outside a batch: made each time
    with texts_shared():
        shared = posted_texts(event)
        assert shared == texts and posted_texts(event) is shared  # made once in the batch
        assert posted_texts(other) != shared and posted_texts(other) is posted_texts(other)
        with texts_shared():  # a scope of its own
            assert posted_texts(event) is not shared
        assert posted_texts(event) is shared
    assert posted_texts(event) is not shared  # the scope is over: nothing kept
