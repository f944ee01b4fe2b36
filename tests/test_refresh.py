"""A failed attempt brings the cached aggregates it read up to date (`UnitOfWork.refresh`) rather than
evicting them: a refusal, or the repeat of a command the cache no longer holds, costs a look for newer
events, not a rebuild of every account from its snapshot and events; another process's writes are
still applied before the command runs again."""

import threading
import time

from ledger import FundCenter
from ledger.domain import errors
from ledger.domain.accounts import Account

WAIT_S = 30


def accounts(fc, n, funded=1_000):
    ids = []
    for i in range(n):
        account = fc.open_account("member", "r", f"m{i}", "CNY").id
        fc.adjust(account, funded, "CNY", "credit", "opening", f"open-{i}")
        ids.append(account)
    return ids


def full_reads(fc, monkeypatch):
    """The aggregates read from the store from their start or snapshot (not only what follows a version)."""
    read = []
    select = fc.recorder.select_events

    def spying(originator_id, *, gt=None, **kwargs):
        if gt is None:
            read.append(originator_id)
        return select(originator_id, gt=gt, **kwargs)

    monkeypatch.setattr(fc.recorder, "select_events", spying)
    return read


def test_a_repeat_the_cache_no_longer_holds_rebuilds_no_account_in_a_batch(fund_center, monkeypatch):
    a, b, c, d = accounts(fund_center, 4)
    first = fund_center.transfer(a, b, 10, "CNY", "old")
    fund_center.unit_of_work.evict([first.id])  # as the cache does once 10,000 newer aggregates came
    read = full_reads(fund_center, monkeypatch)
    calls = [lambda: fund_center.transfer(c, d, 5, "CNY", "new-1"), lambda: fund_center.transfer(a, b, 10, "CNY", "old"),
             lambda: fund_center.transfer(d, a, 7, "CNY", "new-2")]
    outcomes = [None] * len(calls)
    threads = []
    with fund_center.writer.paused():
        for n, call in enumerate(calls):
            threads.append(threading.Thread(target=lambda n=n, call=call: outcomes.__setitem__(n, call())))
            threads[-1].start()
            deadline = time.monotonic() + WAIT_S
            while fund_center.writer.waiting() < n + 1:
                assert time.monotonic() < deadline
                time.sleep(0.001)
    for t in threads:
        t.join(timeout=WAIT_S)
    assert outcomes[1] == first and outcomes[0].amount == 5 and outcomes[2].amount == 7
    assert fund_center.writer.stats.conflicts == 1  # the repeat failed the first save
    assert not set(read) & {a, b, c, d}  # no account rebuilt
    assert [fund_center.get_account(x).posted for x in (a, b, c, d)] == [997, 1_010, 995, 998]


def test_a_refusal_looks_for_newer_events_without_rebuilding(fund_center, monkeypatch):
    a, b = accounts(fund_center, 2, funded=100)
    read = full_reads(fund_center, monkeypatch)
    refreshed = []
    refresh = fund_center.unit_of_work.refresh
    monkeypatch.setattr(fund_center.unit_of_work, "refresh", lambda ids: refreshed.extend(ids) or refresh(ids))
    try:
        fund_center.transfer(a, b, 500, "CNY", "too-much")
    except errors.InsufficientFunds:
        pass
    else:
        raise AssertionError("the transfer should be refused")
    assert a in refreshed and not set(read) & {a, b}


def test_another_process_s_writes_are_applied_before_the_command_runs_again(pg_url):
    mine, theirs = FundCenter(pg_url), FundCenter(pg_url)
    try:
        a, b = accounts(mine, 2, funded=100)
        theirs.adjust(a, 900, "CNY", "credit", "top-up elsewhere", "theirs-1")  # mine's cache does not know
        view = mine.transfer(a, b, 600, "CNY", "after-top-up")  # refused on the stale cache, then done on fresh state
        assert view.amount == 600
        assert mine.get_account(a).posted == 400 and theirs.get_account(a).posted == 400
        cached = mine.unit_of_work.in_cache(Account, a)
        assert cached is not None and cached.posted == 400
    finally:
        theirs.close()
        mine.close()


def test_an_unreadable_store_evicts_instead(fund_center, monkeypatch):
    (a,) = accounts(fund_center, 1)
    assert fund_center.unit_of_work.in_cache(Account, a) is not None

    def down(*args, **kwargs):
        raise OSError("the database is gone")

    monkeypatch.setattr(fund_center.recorder, "select_events", down)
    fund_center.unit_of_work.refresh([a])
    assert fund_center.unit_of_work.in_cache(Account, a) is None
    monkeypatch.undo()
    assert fund_center.get_account(a).posted == 1_000  # read again from the store
