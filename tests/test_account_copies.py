"""The copies of an account the aggregate cache hands out (`copy.deepcopy`, made by
`Account.__deepcopy__` without the generic walk) are as independent as deep copies."""

import copy
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from ledger.domain.accounts import Account, AccountStatus

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
IMMUTABLE = (str, int, type(None), UUID, datetime)  # what a copy may share with its original


def member_with_holds() -> Account:
    account = Account(id=uuid4(), kind="member", business_id="mall", external_ref="u1", currency="CNY",
                      name="Alice", request_hash="h")
    account.credit(uuid4(), 1_000)
    account.place_hold(uuid4(), 100, NOW + timedelta(hours=1), NOW)
    account.place_hold(uuid4(), 50, None, NOW, purpose="withdrawal")
    return account


def system_account() -> Account:
    return Account(id=uuid4(), kind="system", business_id="system", external_ref="clearing/-/CNY", currency="CNY",
                   name="clearing CNY", request_hash="", role="clearing", channel="alipay")


def state(account: Account) -> dict:
    return {**vars(account), "_pending_events": list(account.pending_events), "holds": dict(account.holds)}


def test_a_copy_has_the_same_state():
    for account in (member_with_holds(), system_account()):
        copied = copy.deepcopy(account)
        assert copied is not account and type(copied) is Account
        assert state(copied) == state(account)
        assert copied.version == account.version and copied.available(NOW) == account.available(NOW)


def test_changing_a_copy_leaves_the_original_as_it_was():
    account = member_with_holds()
    before = state(account)
    hold_id = UUID(next(iter(account.holds)))
    copied = copy.deepcopy(account)
    copied.debit(uuid4(), 500, NOW)
    copied.release_hold(hold_id, 100, NOW)
    copied.place_hold(uuid4(), 10, None, NOW)
    copied.change_status(AccountStatus.FROZEN.value, NOW)
    copied.collect_events()
    assert state(account) == before
    assert len(account.pending_events) == 4 and str(hold_id) in account.holds


def test_every_attribute_a_copy_shares_is_immutable():
    """The guard for the copy's shortcut: an attribute of another kind needs `__deepcopy__` to copy it."""
    account = member_with_holds()
    account.change_status(AccountStatus.FROZEN.value, NOW, by="ops")
    for candidate in (account, system_account()):
        copied = copy.deepcopy(candidate)
        for name, value in vars(candidate).items():
            if name in ("holds", "_pending_events"):
                assert getattr(copied, name) is not value and getattr(copied, name) == value
            else:
                assert isinstance(value, IMMUTABLE), (name, type(value))
