"""Concurrent commands on one PostgreSQL database: nothing lost, nothing overdrawn.

Threads share one FundCenter (one application per process, as in production)
and a second process runs its own (on SQLite, a second FundCenter in a thread:
another writer on the same file); they all move money at random between a few
accounts. The threads of one FundCenter never conflict (its one writer applies
their commands in turn); the two writers collide, and conflicts are retried
inside the service: no caller sees one.
"""

import multiprocessing
import queue
import random
import threading
from collections import defaultdict

import pytest
from eventsourcing.persistence import IntegrityError

from ledger import FundCenter
from ledger.domain.errors import Contention, InsufficientFunds

ACCOUNTS = 5
OPENING = 10_000
TRANSFERS_PER_WORKER = 60


def random_transfers(fc, account_ids, seed, count):
    """Issue `count` random transfers; return (succeeded, refused for funds)."""
    rng = random.Random(seed)
    done = refused = 0
    for n in range(count):
        source, target = rng.sample(account_ids, 2)
        try:
            fc.transfer(source, target, rng.randint(1, 3_000), "CNY", f"w{seed}-{n}")
            done += 1
        except InsufficientFunds:
            refused += 1
    return done, refused


def process_worker(url, account_ids, seed, count, results):
    """(succeeded, refused for funds, conflicts this writer met) on `results`."""
    fc = FundCenter(url)
    try:
        results.put((*random_transfers(fc, account_ids, seed, count), fc.stats.conflicts))
    except BaseException as error:  # report, so the parent fails with the reason
        results.put(repr(error))
    finally:
        fc.close()


def postings_by_account(fc):
    balances, transfers = defaultdict(int), 0
    for _, event in fc.read_log(limit=1_000_000):
        if type(event).__qualname__ == "Transfer.Posted":
            transfers += 1
            for p in event.postings:
                balances[p["account"]] += p["amount"] if p["side"] == "credit" else -p["amount"]
    return balances, transfers


@pytest.fixture
def funded_accounts(fund_center):
    ids = []
    for n in range(ACCOUNTS):
        account = fund_center.open_account("member", "race", f"m{n}", "CNY")
        fund_center.adjust(account.id, OPENING, "CNY", "credit", "opening", f"open-{n}")
        ids.append(account.id)
    return ids


def test_concurrent_transfers_lose_no_update_and_overdraw_nothing(fund_center, funded_accounts, store_url):
    outcomes, errors = [], []

    def thread_worker(seed):
        try:
            outcomes.append(random_transfers(fund_center, funded_accounts, seed, TRANSFERS_PER_WORKER))
        except BaseException as error:
            errors.append(error)

    # One collision for certain, whatever the timing of what follows: another writer changes an
    # account this ledger holds in its cache, then this ledger writes to it; its first attempt,
    # trusting the cache, loses and is retried on fresh state.
    first, second = funded_accounts[0], funded_accounts[1]
    fund_center.transfer(from_account=first, to_account=second, amount=1, currency="CNY", idempotency_key="warm")
    other = FundCenter(store_url)
    try:
        other.transfer(from_account=second, to_account=first, amount=1, currency="CNY", idempotency_key="other")
    finally:
        other.close()
    fund_center.transfer(from_account=first, to_account=second, amount=1, currency="CNY", idempotency_key="stale")
    forced = 3  # the transfers of that collision

    threads = [threading.Thread(target=thread_worker, args=(seed,)) for seed in range(4)]
    process, results, other_conflicts = None, None, 0
    if store_url.startswith("postgresql"):
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        process = context.Process(
            target=process_worker, args=(store_url, funded_accounts, 99, TRANSFERS_PER_WORKER, results)
        )
        process.start()
    else:  # another writer on the same file, as another process would be
        results = queue.Queue()
        process = threading.Thread(
            target=process_worker, args=(store_url, funded_accounts, 99, TRANSFERS_PER_WORKER, results)
        )
        process.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if process is not None:
        outcome = results.get(timeout=120)
        process.join(timeout=30)
        assert isinstance(outcome, tuple), outcome
        outcomes.append(outcome[:2])
        other_conflicts = outcome[2]

    assert not errors, errors
    succeeded = sum(done for done, _ in outcomes)
    assert succeeded + sum(refused for _, refused in outcomes) == TRANSFERS_PER_WORKER * len(outcomes)
    views = [fund_center.get_account(a) for a in funded_accounts]
    assert sum(v.posted for v in views) == ACCOUNTS * OPENING
    assert all(v.posted >= 0 for v in views)
    balances, transfers = postings_by_account(fund_center)
    assert transfers == ACCOUNTS + forced + succeeded  # the openings, then every transfer that succeeded, once
    assert all(balances[v.id] == v.posted for v in views)
    # the two writers did collide (either may be the one that lost), and the service absorbed it
    assert fund_center.stats.conflicts + other_conflicts > 0


def test_a_hot_system_account_is_no_point_of_contention(fund_center):
    members = [fund_center.open_account("member", "hot", f"m{n}", "CNY").id for n in range(8)]
    fund_center.book_recharge(members[0], 1, "CNY", "busy-channel", "first")  # opens the system account
    conflicts_before, errors = fund_center.stats.conflicts, []

    def recharge_many(n, member):
        try:
            for i in range(40):
                fund_center.book_recharge(member, 100, "CNY", "busy-channel", f"rc-{n}-{i}")
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=recharge_many, args=(n, m)) for n, m in enumerate(members)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert fund_center.stats.conflicts == conflicts_before  # the shared account never caused a retry
    assert sum(fund_center.get_account(m).posted for m in members) == 1 + 8 * 40 * 100


def test_contention_is_reported_plainly_when_retries_run_out(fund_center, funded_accounts, monkeypatch):
    import ledger.unit_of_work as application

    def always_beaten(*aggregates, **kwargs):
        raise IntegrityError("simulated: a concurrent writer saved first")

    monkeypatch.setattr(application, "ATTEMPTS_MAX", 3)
    monkeypatch.setattr(fund_center, "save", always_beaten)
    with pytest.raises(Contention):
        fund_center.transfer(funded_accounts[0], funded_accounts[1], 1, "CNY", "contended")
    monkeypatch.undo()
    assert fund_center.get_account(funded_accounts[0]).posted == OPENING


def test_concurrent_transfers_answer_as_sequential_transfers_would(fund_center, funded_accounts):
    # Concurrent callers' transfers share the writer's batches (ledger/writer.py).
    from ledger.domain.errors import IdempotencyConflict

    done, refused = {}, []

    def client(seed):
        rng = random.Random(seed)
        for n in range(40):
            source, target = rng.sample(funded_accounts, 2)
            request = dict(from_account=source, to_account=target, amount=rng.randint(1, 3_000), currency="CNY",
                           idempotency_key=f"g{seed}-{n}")
            try:
                done[request["idempotency_key"]] = (request, fund_center.transfer(**request))
            except InsufficientFunds:
                refused.append(request)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    request, first = next(iter(done.values()))
    assert fund_center.transfer(**request) == first  # a repeat answers with the first outcome
    with pytest.raises(IdempotencyConflict):
        fund_center.transfer(**{**request, "amount": request["amount"] + 1})
    assert len(done) + len(refused) == 8 * 40
    views = [fund_center.get_account(a) for a in funded_accounts]
    assert sum(v.posted for v in views) == ACCOUNTS * OPENING and all(v.posted >= 0 for v in views)
    balances, transfers = postings_by_account(fund_center)
    assert transfers == ACCOUNTS + len(done) and all(balances[v.id] == v.posted for v in views)
