"""Application tests: FundCenter's commands on SQLite and on a real PostgreSQL."""

import dataclasses
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from ledger import FundCenter
from ledger.clock import SteppingClock
from ledger.domain import errors
from ledger.domain.ids import system_account_id
from ledger.views import TransferView


def open_member(fc, ref, currency="CNY", business="mall"):
    return fc.open_account("member", business, ref, currency, name=ref)


def funded(fc, ref, amount, currency="CNY"):
    account = open_member(fc, ref, currency)
    fc.adjust(account.id, amount, currency, "credit", "opening balance", f"fund-{ref}")
    return account


def test_opening_the_same_reference_twice_returns_the_same_account(fund_center):
    first = fund_center.open_account("institution", "mall", "main", "CNY", name="Mall")
    head = fund_center.head()
    again = fund_center.open_account("institution", "mall", "main", "CNY", name="Mall")
    assert (again.id, again.position) == (first.id, first.position)
    assert fund_center.head() == head
    with pytest.raises(errors.IdempotencyConflict):
        fund_center.open_account("institution", "mall", "main", "USD", name="Mall")


@pytest.mark.parametrize(
    "kind, business, ref, currency, error",
    [
        ("system", "mall", "x", "CNY", errors.ValidationError),
        ("member", "", "x", "CNY", errors.ValidationError),
        ("member", "mall", "", "CNY", errors.ValidationError),
        ("member", "mall", "x", "RMB", errors.UnknownCurrency),
    ],
)
def test_bad_account_input_is_refused_and_nothing_is_written(fund_center, kind, business, ref, currency, error):
    with pytest.raises(error):
        fund_center.open_account(kind, business, ref, currency)
    assert fund_center.head() == 0


def test_a_transfer_moves_money_and_a_repeat_returns_the_first_outcome(fund_center):
    alice, bob = funded(fund_center, "alice", 10_000), open_member(fund_center, "bob")
    first = fund_center.transfer(alice.id, bob.id, 2_500, "CNY", "order-1", memo="lunch")
    head = fund_center.head()
    assert first.position == head
    again = fund_center.transfer(alice.id, bob.id, 2_500, "CNY", "order-1", memo="lunch")
    assert again == first
    assert fund_center.head() == head
    assert fund_center.get_account(alice.id).posted == 7_500
    assert fund_center.get_account(bob.id).available == 2_500
    with pytest.raises(errors.IdempotencyConflict):
        fund_center.transfer(alice.id, bob.id, 2_501, "CNY", "order-1", memo="lunch")
    assert fund_center.head() == head


def test_refused_transfers_write_nothing(fund_center):
    alice, bob = funded(fund_center, "alice", 1_000), open_member(fund_center, "bob")
    dollars = funded(fund_center, "dollars", 1_000, currency="USD")
    suspense = system_account_id("difference", "CNY")
    head = fund_center.head()
    cases = [
        ((alice.id, bob.id, 1_001, "CNY"), errors.InsufficientFunds),
        ((alice.id, dollars.id, 1, "CNY"), errors.CurrencyMismatch),
        ((alice.id, bob.id, 1, "USD"), errors.CurrencyMismatch),
        ((alice.id, uuid4(), 1, "CNY"), errors.AccountNotFound),
        ((alice.id, alice.id, 1, "CNY"), errors.AccountsMustBeDifferent),
        ((suspense, bob.id, 1, "CNY"), errors.ValidationError),
        ((alice.id, bob.id, 0, "CNY"), errors.InvalidAmount),
        ((alice.id, bob.id, 10**16, "CNY"), errors.InvalidAmount),
    ]
    for n, (args, error) in enumerate(cases):
        with pytest.raises(error):
            fund_center.transfer(*args, idempotency_key=f"bad-{n}")
    with pytest.raises(errors.ValidationError):
        fund_center.transfer(alice.id, bob.id, 1, "CNY", idempotency_key="")
    assert fund_center.head() == head
    assert fund_center.get_account(alice.id).posted == 1_000


def test_frozen_and_closed_accounts(fund_center):
    alice, bob = funded(fund_center, "alice", 1_000), open_member(fund_center, "bob")
    fund_center.set_account_status(alice.id, "frozen")
    with pytest.raises(errors.AccountFrozen):
        fund_center.transfer(alice.id, bob.id, 1, "CNY", "t1")
    fund_center.set_account_status(alice.id, "active")
    fund_center.transfer(alice.id, bob.id, 1_000, "CNY", "t3")
    with pytest.raises(errors.AccountNotEmpty):
        fund_center.set_account_status(bob.id, "closed")
    closed = fund_center.set_account_status(alice.id, "closed")
    assert closed.status == "closed"
    again = fund_center.set_account_status(alice.id, "closed")
    assert again.position == closed.position
    with pytest.raises(errors.AccountClosed):
        fund_center.transfer(bob.id, alice.id, 1, "CNY", "t4")


def test_recharge_debits_the_channels_pending_reconciliation(fund_center):
    alice = open_member(fund_center, "alice")
    recharge = fund_center.book_recharge(alice.id, 5_000, "CNY", "unionpay", "rc-1")
    suspense = system_account_id("pending_reconciliation", "CNY", "unionpay")
    assert [(p["account"], p["side"], p["amount"]) for p in recharge.postings] == [
        (suspense, "debit", 5_000), (alice.id, "credit", 5_000)
    ]
    assert fund_center.book_recharge(alice.id, 5_000, "CNY", "unionpay", "rc-1") == recharge
    assert fund_center.get_account(alice.id).posted == 5_000
    system = fund_center.get_account(suspense)
    assert (system.kind, system.role, system.channel, system.posted) == ("system", "pending_reconciliation", "unionpay", None)


def test_adjustments_go_against_the_difference_account(fund_center):
    alice = funded(fund_center, "alice", 100)
    debit = fund_center.adjust(alice.id, 40, "CNY", "debit", "duplicate credit", "adj-1")
    assert debit.postings[1]["account"] == system_account_id("difference", "CNY")
    assert fund_center.get_account(alice.id).posted == 60
    with pytest.raises(errors.InsufficientFunds):
        fund_center.adjust(alice.id, 61, "CNY", "debit", "too much", "adj-2")
    with pytest.raises(errors.ValidationError):
        fund_center.adjust(alice.id, 1, "CNY", "sideways", "?", "adj-3")
    with pytest.raises(errors.ValidationError):
        fund_center.adjust(alice.id, 1, "CNY", "credit", "", "adj-4")


def test_reversal_posts_the_opposite_once(fund_center):
    alice, bob = funded(fund_center, "alice", 1_000), open_member(fund_center, "bob")
    transfer = fund_center.transfer(alice.id, bob.id, 300, "CNY", "t1")
    reversal = fund_center.reverse_transfer(transfer.id, "rev-1", "sent by mistake")
    assert reversal.references == {"reverses": str(transfer.id)}
    assert fund_center.reverse_transfer(transfer.id, "rev-1", "sent by mistake") == reversal
    assert fund_center.get_transfer(transfer.id).reversed_by == reversal.id
    with pytest.raises(errors.AlreadyReversed):
        fund_center.reverse_transfer(transfer.id, "rev-2", "again")
    assert (fund_center.get_account(alice.id).posted, fund_center.get_account(bob.id).posted) == (1_000, 0)


def test_a_reversal_needs_the_funds_back(fund_center):
    alice, bob = funded(fund_center, "alice", 1_000), open_member(fund_center, "bob")
    carol = open_member(fund_center, "carol")
    transfer = fund_center.transfer(alice.id, bob.id, 300, "CNY", "t1")
    fund_center.transfer(bob.id, carol.id, 300, "CNY", "t2")
    with pytest.raises(errors.InsufficientFunds):
        fund_center.reverse_transfer(transfer.id, "rev-1", "too late")
    assert fund_center.get_transfer(transfer.id).reversed_by is None


def test_freeze_unfreeze_and_capture(fund_center):
    alice, shop = funded(fund_center, "alice", 10_000), open_member(fund_center, "shop")
    hold = fund_center.place_hold(alice.id, 6_000, "order-7", reason="order 7")
    assert fund_center.place_hold(alice.id, 6_000, "order-7", reason="order 7") == hold
    view = fund_center.get_account(alice.id)
    assert (view.posted, view.frozen, view.available) == (10_000, 6_000, 4_000)
    with pytest.raises(errors.InsufficientFunds):
        fund_center.transfer(alice.id, shop.id, 4_001, "CNY", "t1")
    capture = fund_center.capture_hold(hold.id, shop.id, 2_500, idempotency_key="cap-1")
    assert fund_center.capture_hold(hold.id, shop.id, 2_500, idempotency_key="cap-1") == capture
    with pytest.raises(errors.IdempotencyConflict):
        fund_center.capture_hold(hold.id, shop.id, 2_000, idempotency_key="cap-1")
    with pytest.raises(errors.ExceedsHeldAmount):
        fund_center.release_hold(hold.id, 3_501)
    released = fund_center.release_hold(hold.id, 1_000, idempotency_key="rel-1")
    assert fund_center.release_hold(hold.id, 1_000, idempotency_key="rel-1") == released
    assert (released.remaining, released.status) == (2_500, "pending")
    final = fund_center.release_hold(hold.id)
    assert (final.remaining, final.captured, final.released, final.status) == (0, 2_500, 3_500, "posted")
    for again in (lambda: fund_center.release_hold(hold.id), lambda: fund_center.capture_hold(hold.id, shop.id)):
        with pytest.raises(errors.HoldNotActive):
            again()
    view = fund_center.get_account(alice.id)
    assert (view.posted, view.frozen, view.available) == (7_500, 0, 7_500)
    assert fund_center.get_account(shop.id).posted == 2_500


def test_holds_are_refused_on_bad_input(fund_center):
    alice = funded(fund_center, "alice", 100)
    with pytest.raises(errors.InsufficientFunds):
        fund_center.place_hold(alice.id, 101, "h1")
    with pytest.raises(errors.InvalidExpiry):
        fund_center.place_hold(alice.id, 1, "h2", expires_at=datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(errors.HoldNotFound):
        fund_center.release_hold(uuid4())
    hold = fund_center.place_hold(alice.id, 10, "h3")
    with pytest.raises(errors.AccountsMustBeDifferent):
        fund_center.capture_hold(hold.id, alice.id)


def test_an_expired_hold_frees_the_funds_at_its_expiry(store_url):
    now = [datetime(2026, 11, 25, 9, 0, tzinfo=UTC)]
    fc = FundCenter(store_url, clock=lambda: now[0])
    try:
        alice, bob = funded(fc, "alice", 1_000), open_member(fc, "bob")
        hold = fc.place_hold(alice.id, 800, "h1", expires_at=now[0] + timedelta(minutes=30))
        assert fc.get_account(alice.id).available == 200
        now[0] += timedelta(minutes=30)
        assert fc.get_account(alice.id).available == 1_000
        assert fc.get_hold(hold.id).status == "expired"
        with pytest.raises(errors.HoldNotActive):
            fc.capture_hold(hold.id, bob.id)
        fc.transfer(alice.id, bob.id, 1_000, "CNY", "t1")
        assert fc.get_account(alice.id).posted == 0
    finally:
        fc.close()


def test_the_log_is_in_order_and_survives_a_restart(store_url):
    fc = FundCenter(store_url)
    alice, bob = funded(fc, "alice", 1_000), open_member(fc, "bob")
    fc.transfer(alice.id, bob.id, 400, "CNY", "t1")
    events = fc.read_log()
    fc.close()
    positions = [p for p, _ in events]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert type(events[0][1]).__qualname__ == "Account.Opened"
    reopened = FundCenter(store_url)
    try:
        assert reopened.get_account(bob.id).posted == 400
        assert [p for p, _ in reopened.read_log(after=positions[1], limit=2)] == positions[2:4]
    finally:
        reopened.close()


def test_two_processes_never_answer_from_a_stale_cache(store_url):
    """Each process caches aggregates; a write by the other must never lead to a wrong answer."""
    one, two = FundCenter(store_url), FundCenter(store_url)
    try:
        alice, bob = funded(one, "alice", 100), open_member(one, "bob")
        assert one.get_account(alice.id).posted == 100  # now cached in `one`
        two.adjust(alice.id, 900, "CNY", "credit", "top-up", "top-up")
        assert one.get_account(alice.id).posted == 1_000  # reads are fresh
        one.transfer(alice.id, bob.id, 700, "CNY", "t1")  # refused on the stale cache, then rechecked
        assert one.stats.rechecks == 1
        two.set_account_status(alice.id, "frozen")
        with pytest.raises(errors.AccountFrozen):
            one.transfer(alice.id, bob.id, 1, "CNY", "t2")
        assert one.set_account_status(alice.id, "frozen").status == "frozen"
        version = two.set_account_status(alice.id, "active").version
        assert one.set_account_status(alice.id, "frozen").version == version + 1  # no no-op on a stale status
        first = one.get_transfer(two.transfer(alice.id, bob.id, 700, "CNY", "t1").id)
        assert first.amount == 700 and two.stats.repeats == 1  # a repeat of what `one` did
    finally:
        one.close()
        two.close()


def test_a_batch_is_one_transaction_and_reads_like_sequential_transfers(fund_center):
    alice, bob, carol = funded(fund_center, "alice", 1_000), open_member(fund_center, "bob"), open_member(fund_center, "carol")
    items = [
        dict(from_account=alice.id, to_account=bob.id, amount=600, currency="CNY", idempotency_key="b-1"),
        dict(from_account=bob.id, to_account=carol.id, amount=500, currency="CNY", idempotency_key="b-2"),  # needs b-1
        dict(from_account=carol.id, to_account=alice.id, amount=100, currency="CNY", idempotency_key="b-3", memo="back"),
    ]
    head = fund_center.head()
    results = fund_center.transfer_many(items)
    assert [r.amount for r in results] == [600, 500, 100]
    assert fund_center.head() == head + 3 + 6  # three transfers, six account events, one save
    assert fund_center.transfer_many(items) == results  # a retry: every item repeats its first outcome
    assert fund_center.head() == head + 9
    assert [fund_center.get_account(a.id).posted for a in (alice, bob, carol)] == [500, 100, 400]


def test_a_transfer_and_its_account_entries_share_one_instant(store_url):
    """The accounts' events are stamped with their transfer's time, however often the clock is read
    meanwhile: one time and one accounting day for a transfer and its entries."""
    fc = FundCenter(store_url, clock=SteppingClock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC)))
    try:
        alice, bob = funded(fc, "alice", 1_000), open_member(fc, "bob")
        head = fc.head()
        fc.transfer(alice.id, bob.id, 100, "CNY", "t1")
        fc.transfer_many([dict(from_account=alice.id, to_account=bob.id, amount=n, currency="CNY",
                               idempotency_key=f"b-{n}") for n in (1, 2)])
        events = [e for _, e in fc.read_log(after=head)]
        transfers = [e for e in events if type(e).__qualname__ == "Transfer.Posted"]
        assert len(transfers) == 3 and len({t.timestamp for t in transfers}) == 3
        for posted in transfers:
            entries = [e for e in events if getattr(e, "transfer_id", None) == posted.originator_id]
            assert [type(e).__qualname__ for e in entries] == ["Account.Debited", "Account.Credited"]
            assert {e.timestamp for e in entries} == {posted.timestamp}
            assert posted.day == fc.day_of(posted.timestamp)
    finally:
        fc.close()


def test_a_transfer_view_is_the_one_its_class_makes(fund_center):
    """`TransferView.of` sets its fields at once: the same view, field for field and in order, as
    the dataclass's own `__init__` makes; it compares, copies and replaces as one."""
    alice, bob = funded(fund_center, "alice", 1_000), open_member(fund_center, "bob")
    view = fund_center.transfer(alice.id, bob.id, 400, "CNY", "t1", memo="rent")
    made = TransferView(**{f.name: getattr(view, f.name) for f in dataclasses.fields(TransferView)})
    assert made == view and list(vars(made).items()) == list(vars(view).items())
    assert dataclasses.asdict(view) == dataclasses.asdict(made)
    assert dataclasses.replace(view, position=None).position is None and view.position is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.amount = 1
    assert view == fund_center.transfer(alice.id, bob.id, 400, "CNY", "t1", memo="rent")  # a repeat


def test_a_retried_batch_with_new_items_and_a_changed_one_reads_like_sequential_transfers(fund_center, monkeypatch):
    """A retry that repeats some items, adds new ones and sends one key with another amount: the repeats
    answer their first outcome (the changed one a conflict), the new ones post in order, in one save, and
    the accounts the first batch left in memory stay there (nothing is read again from the store)."""
    alice, bob = funded(fund_center, "alice", 1_000), open_member(fund_center, "bob")
    first = [dict(from_account=alice.id, to_account=bob.id, amount=100, currency="CNY", idempotency_key=f"m-{i}")
             for i in range(3)]
    before = fund_center.transfer_many(first)
    head = fund_center.head()
    retry = [first[0], dict(first[1], amount=999), dict(first[2], idempotency_key="m-new"), first[2]]
    reads = []
    recorder = fund_center.recorder
    select_events = recorder.select_events
    monkeypatch.setattr(recorder, "select_events", lambda *a, **kw: reads.append(a) or select_events(*a, **kw))
    results = fund_center.transfer_many(retry)
    monkeypatch.undo()
    assert reads == []  # no aggregate read again from the store
    assert results[0] == before[0] and results[3] == before[2]
    assert type(results[1]).__name__ == "IdempotencyConflict"
    assert results[2].amount == 100 and fund_center.head() == head + 3  # the new item alone: one save
    assert fund_center.get_account(alice.id).posted == 600 and fund_center.get_account(bob.id).posted == 400


def test_a_refused_item_refuses_only_itself(fund_center):
    alice, bob = funded(fund_center, "alice", 1_000), open_member(fund_center, "bob")
    results = fund_center.transfer_many([
        dict(from_account=alice.id, to_account=bob.id, amount=700, currency="CNY", idempotency_key="r-1"),
        dict(from_account=alice.id, to_account=bob.id, amount=700, currency="CNY", idempotency_key="r-2"),
        dict(from_account=alice.id, to_account=bob.id, amount=0, currency="CNY", idempotency_key="r-3"),
        dict(from_account=alice.id, to_account=bob.id, amount=300, currency="CNY", idempotency_key="r-4"),
    ])
    assert [type(r).__name__ for r in results] == ["TransferView", "InsufficientFunds", "InvalidAmount", "TransferView"]
    assert fund_center.get_account(alice.id).posted == 0
    with pytest.raises(errors.ValidationError):
        fund_center.transfer_many([results[0]] * 1001)


def test_queries_between_commands_track_nothing(fund_center):
    alice = funded(fund_center, "alice", 100)
    for _ in range(50):
        fund_center.get_account(alice.id)
    assert fund_center.unit_of_work.current() is None


def test_a_busy_account_is_snapshotted_and_reloads_from_its_snapshot(store_url):
    fc = FundCenter(store_url)
    try:
        alice, bob = funded(fc, "alice", 10**9), open_member(fc, "bob")
        hold = fc.place_hold(alice.id, 1_000, "h", expires_at=datetime(2999, 1, 1, tzinfo=UTC))
        for n in range(260):  # each transfer is an event on both accounts: alice passes 500 events
            fc.transfer(alice.id, bob.id, 1, "CNY", f"t{n}")
            fc.transfer(bob.id, alice.id, 1, "CNY", f"r{n}")
        snapshots = fc.snapshots.get(alice.id, desc=True, limit=1)
        assert list(snapshots), "no snapshot taken"
    finally:
        fc.close()
    reopened = FundCenter(store_url)
    try:
        view = reopened.get_account(alice.id)
        assert (view.posted, view.frozen, view.available) == (10**9, 1_000, 10**9 - 1_000)
        assert reopened.release_hold(hold.id).status == "voided"
    finally:
        reopened.close()
