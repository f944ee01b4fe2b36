"""Typed postings and hold entries, and the invariants the account's events assert.

Unit tests, no store: the values of ledger.domain.postings, and a property test
driving an account through its public methods in any order: whatever it refuses,
the invariants its events assert (posted >= 0, held <= posted) always hold.
"""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain import errors
from ledger.domain.accounts import Account
from ledger.domain.postings import POSTINGS_COUNT_MAX, HoldEntry, Posting, Side, check_balanced, move, reverse
from ledger.domain.transfers import Transfer, TransferKind

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def member() -> Account:
    return Account(id=uuid4(), kind="member", business_id="mall", external_ref=str(uuid4()), currency="CNY",
                   name="", request_hash="h")


def test_a_posting_is_stored_as_the_record_the_projections_read():
    a = uuid4()
    p = Posting(a, Side.DEBIT, 10, "CNY")
    assert p.as_record() == {"account": a, "side": "debit", "amount": 10}
    assert Posting.from_record(p.as_record(), "CNY") == p
    assert p.reversed() == Posting(a, Side.CREDIT, 10, "CNY") and p.reversed().reversed() == p


def test_a_transfer_keeps_typed_postings_and_stores_records():
    a, b = uuid4(), uuid4()
    t = Transfer.post(uuid4(), TransferKind.TRANSFER, "CNY", move(a, b, 25, "CNY"), request_hash="h")
    assert t.postings == (Posting(a, Side.DEBIT, 25, "CNY"), Posting(b, Side.CREDIT, 25, "CNY"))
    [posted] = t.collect_events()
    assert posted.postings == [p.as_record() for p in t.postings]
    assert reverse(t.postings) == [Posting(a, Side.CREDIT, 25, "CNY"), Posting(b, Side.DEBIT, 25, "CNY")]


def test_postings_must_balance_per_currency_and_stay_in_the_transfers_currency():
    a, b = uuid4(), uuid4()
    with pytest.raises(errors.UnbalancedTransfer):
        check_balanced([Posting(a, Side.DEBIT, 10, "CNY"), Posting(b, Side.CREDIT, 10, "USD")])
    with pytest.raises(errors.UnbalancedTransfer):
        check_balanced(move(a, b, 1, "CNY") * (POSTINGS_COUNT_MAX // 2 + 1))
    check_balanced(move(a, b, 1, "CNY") * (POSTINGS_COUNT_MAX // 2))
    with pytest.raises(errors.CurrencyMismatch):
        Transfer.post(uuid4(), TransferKind.TRANSFER, "CNY", move(a, b, 10, "USD"), request_hash="h")


def test_a_hold_entry_is_reduced_to_nothing_and_never_below():
    entry = HoldEntry(30, None, "freeze")
    assert entry.reduced(10) == HoldEntry(20, None, "freeze")
    assert entry.reduced(30) is None
    with pytest.raises(AssertionError):
        entry.reduced(31)
    assert HoldEntry(5, NOW, "freeze").is_expired(NOW) and not HoldEntry(5, None, "freeze").is_expired(NOW)


def test_an_old_snapshot_of_an_account_keeps_its_holds_as_entries():
    """Class version 1 kept each open hold as a dict; the upcast makes entries of them."""
    state = {"holds": {"h1": {"remaining": 7, "expires_at": None, "purpose": "withdrawal"}}}
    Account.upcast_v1_v2(state)
    assert state == {"holds": {"h1": HoldEntry(7, None, "withdrawal")}}


def test_the_events_refuse_to_break_the_invariants_even_when_the_checks_are_skipped():
    account = member()
    account.credit(uuid4(), 100)
    with pytest.raises(AssertionError):
        account._debited(uuid4(), 101, -1)  # below zero
    account.place_hold(uuid4(), 60, None, NOW)
    with pytest.raises(AssertionError):
        account._debited(uuid4(), 50, 50)  # 60 still held on 50
    with pytest.raises(AssertionError):
        account._hold_placed(uuid4(), 41, None, "freeze")  # 101 held on 100
    assert (account.posted, account.held) == (100, 60)


operations = st.lists(st.tuples(
    st.sampled_from(["credit", "debit", "hold", "release", "capture", "expire", "later"]),
    st.integers(min_value=1, max_value=200),
), max_size=40)


@settings(max_examples=200, deadline=None)
@given(operations)
def test_whatever_the_account_is_asked_its_invariants_hold(ops):
    account, now, holds = member(), NOW, []
    for op, amount in ops:
        try:
            if op == "credit":
                account.credit(uuid4(), amount)
            elif op == "debit":
                account.debit(uuid4(), amount, now)
            elif op == "hold":
                hold_id = uuid4()
                account.place_hold(hold_id, amount, now + timedelta(minutes=amount % 7), now)
                holds.append(hold_id)
            elif op in ("release", "capture") and holds:
                hold_id = holds[amount % len(holds)]
                if op == "release":
                    account.release_hold(hold_id, amount, now)
                else:
                    account.capture_hold(hold_id, uuid4(), amount, now)
            elif op == "expire":
                account.expire_holds(now)
            elif op == "later":
                now += timedelta(minutes=amount % 5)
        except errors.LedgerError:
            pass
        assert 0 <= account.held <= account.posted
        assert account.available(now) >= 0 and account.frozen(now) <= account.pending_debits(now)
    replayed = None
    for event in account.collect_events():
        replayed = event.mutate(replayed)
    assert replayed is not None
    assert (replayed.posted, replayed.holds) == (account.posted, account.holds)
