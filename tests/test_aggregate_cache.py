"""The aggregate cache keeps accounts apart from the rest (ledger/aggregate_cache.py): the transfers a
ledger makes never push its accounts out, each part keeps its own bound, and both are configurable."""

from uuid import uuid4

import pytest

from ledger import FundCenter
from ledger.aggregate_cache import AggregateCache
from ledger.domain.accounts import Account
from ledger.domain.transfers import Transfer


@pytest.fixture
def small_caches(monkeypatch):
    monkeypatch.setenv("FUNDCENTER_ACCOUNT_CACHE_SIZE", "6")
    monkeypatch.setenv("AGGREGATE_CACHE_MAXSIZE", "4")


def test_transfers_do_not_push_accounts_out(store_url, small_caches):
    fc = FundCenter(store_url)
    try:
        ids = []
        for n in range(6):
            account = fc.open_account("member", "c", f"m{n}", "CNY").id
            fc.adjust(account, 1_000, "CNY", "credit", "opening", f"open-{n}")
            ids.append(account)
        made = [fc.transfer(ids[n % 6], ids[(n + 1) % 6], 1, "CNY", f"t-{n}") for n in range(30)]
        uow = fc.unit_of_work
        assert all(uow.in_cache(Account, account) is not None for account in ids)
        assert [uow.in_cache(Transfer, t.id) is not None for t in made] == [False] * 26 + [True] * 4
        assert fc.transfer(ids[0], ids[1], 1, "CNY", "t-0") == made[0]  # an old one's repeat: from the store
        seventh = fc.open_account("member", "c", "m6", "CNY").id  # the accounts' own bound
        assert uow.in_cache(Account, seventh) is not None
        assert sum(uow.in_cache(Account, account) is None for account in ids) == 1
    finally:
        fc.close()


def test_the_cache_answers_as_one_cache():
    cache = AggregateCache(accounts_maxsize=2, others_maxsize=2)
    account = Account(id=uuid4(), kind="member", business_id="c", external_ref="a", currency="CNY", name="a",
                      request_hash="")
    other_id, other = uuid4(), object()
    cache.put(account.id, account)
    cache.put(other_id, other)
    assert cache.get(account.id) is account and cache.get(other_id) is other
    assert cache.get(other_id, evict=True) is other
    with pytest.raises(KeyError):
        cache.get(other_id)
    with pytest.raises(KeyError):
        cache.get(uuid4())
