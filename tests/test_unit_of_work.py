"""The unit of work: every command runs in an attempt that saves once; a refusal saves nothing.

Stories through FundCenter, with the unit of work it runs every command through."""

from uuid import uuid4

import pytest

from ledger.domain import errors
from ledger.domain.accounts import Account
from ledger.unit_of_work import Attempt


def member(fc, ref):
    return fc.open_account("member", "mall", ref, "CNY")


def test_a_command_saves_once_and_a_refusal_saves_nothing(fund_center):
    alice, bob = member(fund_center, "alice"), member(fund_center, "bob")
    fund_center.adjust(alice.id, 100, "CNY", "credit", "seed", "seed")
    head = fund_center.head()
    done = fund_center.transfer(alice.id, bob.id, 60, "CNY", "t1")
    assert done.position == fund_center.head() == head + 3  # the transfer and two account events, one save
    with pytest.raises(errors.InsufficientFunds):
        fund_center.transfer(alice.id, bob.id, 60, "CNY", "t2")
    assert fund_center.head() == head + 3
    assert fund_center.unit_of_work.current() is None  # and no attempt is left behind


def test_an_attempt_commits_once(fund_center):
    uow = fund_center.unit_of_work

    def twice(attempt: Attempt) -> None:
        account = Account(id=uuid4(), kind="member", business_id="mall", external_ref="x",
                          currency="CNY", name="", request_hash="h")
        attempt.commit(account)
        attempt.commit(account)

    head = fund_center.head()
    with pytest.raises(AssertionError):
        uow.run(twice)
    assert fund_center.head() == head + 1 and uow.current() is None


def test_a_batch_is_one_attempt_and_one_save(fund_center):
    alice, bob = member(fund_center, "alice"), member(fund_center, "bob")
    fund_center.adjust(alice.id, 100, "CNY", "credit", "seed", "seed")
    head = fund_center.head()
    results = fund_center.transfer_many([
        dict(from_account=alice.id, to_account=bob.id, amount=10, currency="CNY", idempotency_key=f"b{n}")
        for n in range(3)
    ])
    # one save: the six account events first, then the three transfers, in order
    assert [r.position for r in results] == [head + 7, head + 8, head + 9] and fund_center.head() == head + 9
    assert fund_center.unit_of_work.current() is None
