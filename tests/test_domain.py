"""Domain unit tests: aggregates and money, no store."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from ledger.domain import errors
from ledger.domain.accounts import Account
from ledger.domain.holds import Hold
from ledger.domain.money import AMOUNT_MINOR_MAX, check_amount, check_currency
from ledger.domain.postings import Posting, Side, reverse
from ledger.domain.transfers import Transfer, TransferKind

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def posting(account, side, amount):
    return Posting(account, side, amount, "CNY")


def member(balance: int = 0) -> Account:
    account = Account(
        id=uuid4(), kind="member", business_id="mall", external_ref="u1", currency="CNY",
        name="Alice", request_hash="h",
    )
    if balance:
        account.credit(uuid4(), balance)
    return account


@pytest.mark.parametrize("amount", [0, -1, 1.5, "10", True, None, AMOUNT_MINOR_MAX + 1])
def test_bad_amounts_are_refused(amount):
    with pytest.raises(errors.InvalidAmount):
        check_amount(amount)


def test_amount_bounds_are_inclusive():
    assert check_amount(1) == 1
    assert check_amount(AMOUNT_MINOR_MAX) == AMOUNT_MINOR_MAX


@pytest.mark.parametrize("currency", ["cny", "XXX", "", None, "RMB"])
def test_unknown_currencies_are_refused(currency):
    with pytest.raises(errors.UnknownCurrency):
        check_currency(currency)


def test_credit_then_debit_moves_the_posted_balance():
    account = member(1000)
    account.debit(uuid4(), 400, NOW)
    assert (account.posted, account.available(NOW)) == (600, 600)


def test_a_member_account_never_goes_below_zero():
    account = member(100)
    with pytest.raises(errors.InsufficientFunds):
        account.debit(uuid4(), 101, NOW)
    assert account.posted == 100


def test_open_holds_count_in_every_funds_check():
    account = member(1000)
    account.place_hold(uuid4(), 700, None, NOW)
    assert (account.frozen(NOW), account.available(NOW)) == (700, 300)
    with pytest.raises(errors.InsufficientFunds):
        account.debit(uuid4(), 301, NOW)
    with pytest.raises(errors.InsufficientFunds):
        account.place_hold(uuid4(), 301, None, NOW)


def test_an_expired_hold_stops_counting_at_its_expiry_without_any_event():
    account = member(1000)
    hold_id = uuid4()
    account.place_hold(hold_id, 700, NOW + timedelta(minutes=5), NOW)
    assert account.available(NOW + timedelta(minutes=4)) == 300
    later = NOW + timedelta(minutes=5)
    assert account.available(later) == 1000
    with pytest.raises(errors.HoldNotActive):
        account.release_hold(hold_id, 1, later)
    with pytest.raises(errors.HoldNotActive):
        account.capture_hold(hold_id, uuid4(), 1, later)


def test_expire_holds_records_expiry_and_forgets_the_hold():
    account = member(1000)
    account.place_hold(uuid4(), 700, NOW + timedelta(seconds=1), NOW)
    account.expire_holds(NOW + timedelta(seconds=2))
    assert account.holds == {}
    assert type(account.collect_events()[-1]).__name__ == "HoldExpired"


def test_release_and_capture_above_the_remaining_amount_are_refused():
    account = member(1000)
    hold_id = uuid4()
    account.place_hold(hold_id, 500, None, NOW)
    account.release_hold(hold_id, 200, NOW)
    with pytest.raises(errors.ExceedsHeldAmount):
        account.release_hold(hold_id, 301, NOW)
    with pytest.raises(errors.ExceedsHeldAmount):
        account.capture_hold(hold_id, uuid4(), 301, NOW)
    account.capture_hold(hold_id, uuid4(), 300, NOW)
    assert (account.posted, account.frozen(NOW), account.available(NOW)) == (700, 0, 700)
    with pytest.raises(errors.HoldNotActive):
        account.release_hold(hold_id, 1, NOW)


def test_a_frozen_account_takes_credits_but_no_debits():
    account = member(1000)
    account.change_status("frozen", NOW)
    account.credit(uuid4(), 1)
    with pytest.raises(errors.AccountFrozen):
        account.debit(uuid4(), 1, NOW)
    with pytest.raises(errors.AccountFrozen):
        account.place_hold(uuid4(), 1, None, NOW)


def test_closing_needs_an_empty_account_and_is_final():
    account = member(10)
    with pytest.raises(errors.AccountNotEmpty):
        account.change_status("closed", NOW)
    account.debit(uuid4(), 10, NOW)
    assert account.change_status("closed", NOW) is True
    with pytest.raises(errors.AccountClosed):
        account.credit(uuid4(), 1)
    with pytest.raises(errors.AccountClosed):
        account.change_status("active", NOW)
    assert account.change_status("closed", NOW) is False


def test_unknown_status_is_refused():
    with pytest.raises(errors.InvalidStatusChange):
        member().change_status("suspended", NOW)


def test_transfers_must_balance():
    a, b = uuid4(), uuid4()
    with pytest.raises(errors.UnbalancedTransfer):
        Transfer.post(uuid4(), TransferKind.TRANSFER, "CNY",
                      [posting(a, Side.DEBIT, 10), posting(b, Side.CREDIT, 9)], request_hash="h")
    with pytest.raises(errors.UnbalancedTransfer):
        Transfer.post(uuid4(), TransferKind.TRANSFER, "CNY", [posting(a, Side.DEBIT, 10)], request_hash="h")
    t = Transfer.post(uuid4(), TransferKind.TRANSFER, "CNY",
                      [posting(a, Side.DEBIT, 10), posting(b, Side.CREDIT, 4), posting(b, Side.CREDIT, 6)],
                      request_hash="h")
    assert t.amount == 10


def test_a_reversal_swaps_sides_and_a_transfer_is_reversed_once():
    a, b = uuid4(), uuid4()
    original = [posting(a, Side.DEBIT, 10), posting(b, Side.CREDIT, 10)]
    assert reverse(original) == [posting(a, Side.CREDIT, 10), posting(b, Side.DEBIT, 10)]
    t = Transfer.post(uuid4(), TransferKind.TRANSFER, "CNY", original, request_hash="h")
    t.mark_reversed(uuid4())
    with pytest.raises(errors.AlreadyReversed):
        t.mark_reversed(uuid4())


def test_hold_status_follows_the_pending_transfer_lifecycle():
    hold = Hold(id=uuid4(), account_id=uuid4(), currency="CNY", amount=100, reason="",
                expires_at=NOW + timedelta(hours=1), request_hash="h")
    assert hold.status(NOW) == "pending"
    assert hold.status(NOW + timedelta(hours=1)) == "expired"
    hold.capture(hold.check_open(30, NOW), uuid4(), "capture:1", "r")
    hold.release(hold.check_open(None, NOW), "release:1", "r")
    assert (hold.status(NOW), hold.remaining, hold.captured, hold.released) == ("posted", 0, 30, 70)
    with pytest.raises(errors.HoldNotActive):
        hold.check_open(None, NOW)


def test_a_fully_released_hold_is_voided():
    hold = Hold(id=uuid4(), account_id=uuid4(), currency="CNY", amount=100, reason="", expires_at=None, request_hash="h")
    hold.release(hold.check_open(None, NOW), "release:1", "r")
    assert hold.status(NOW) == "voided"
    with pytest.raises(errors.HoldNotActive):
        hold.check_open(1, NOW)
