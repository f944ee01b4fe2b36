"""One writer per process (ledger/writer.py): the commands of every thread, applied in turn, saved in batches.

Stories through FundCenter and its writer: a batch answers each caller as a sequential run would, refusals,
repeats and hot accounts included; two FundCenters on one database resolve their conflicts; a writer that
dies or stops leaves no caller waiting."""

import random
import threading
import time
from uuid import NAMESPACE_URL, uuid5

import pytest

from ledger import FundCenter
from ledger.commands import PostTransfer
from ledger.domain import errors
from ledger.idempotency import Unfinished, request_id
from ledger.writer import WriterStopped

OPENING = 1_000_000
WAIT_S = 30  # how long a test waits for threads to queue their commands


def wait_until(condition):
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the commands did not queue"
        time.sleep(0.001)


def queued_in_order(fc, calls):
    """Run `calls` (functions of no arguments) each in its own thread, queued in this order behind a paused
    writer, so that they run as one batch; their results or errors, in order."""
    outcomes = [None] * len(calls)

    def call(n, f):
        try:
            outcomes[n] = f()
        except Exception as error:
            outcomes[n] = error

    threads = []
    with fc.writer.paused():
        for n, f in enumerate(calls):
            threads.append(threading.Thread(target=call, args=(n, f)))
            threads[-1].start()
            wait_until(lambda n=n: fc.writer.waiting() == n + 1)
    for t in threads:
        t.join(timeout=WAIT_S)
    return outcomes


def members(fc, n, business="w", funded=OPENING):
    ids = []
    for i in range(n):
        account = fc.open_account("member", business, f"m{i}", "CNY")
        if funded:
            fc.adjust(account.id, funded, "CNY", "credit", "opening", f"open-{business}-{i}")
        ids.append(account.id)
    return ids


# -- a batch answers as sequential commands would ---------------------------------------------------------


def test_a_batch_is_one_save_and_each_caller_gets_its_own_answer(fund_center):
    a, b, c, d = members(fund_center, 4, funded=100)
    head = fund_center.head()
    batches = fund_center.writer.stats.batches
    first, second, third = queued_in_order(fund_center, [
        lambda: fund_center.transfer(a, b, 60, "CNY", "k1"),
        lambda: fund_center.transfer(a, b, 60, "CNY", "k2"),  # refused: a has 40 left after the first
        lambda: fund_center.transfer(c, d, 10, "CNY", "k3"),
    ])
    assert isinstance(second, errors.InsufficientFunds)
    assert first.amount == 60 and third.amount == 10
    # one save for the two that went through (the refused one saved nothing)
    assert fund_center.writer.stats.batches == batches + 1 and fund_center.writer.stats.set_aside >= 1
    assert fund_center.head() == head + 6 and {first.position, third.position} <= set(range(head + 1, head + 7))
    assert fund_center.get_transfer(first.id).amount == 60
    assert [fund_center.get_account(x).posted for x in (a, b, c, d)] == [40, 160, 90, 110]


def test_a_refusal_that_changed_the_batch_does_not_spoil_it(fund_center):
    a, b = members(fund_center, 2, funded=100)
    closed = fund_center.open_account("member", "w", "closed", "CNY").id
    fund_center.set_account_status(closed, "closed")
    restarts = fund_center.writer.stats.restarts
    outcomes = queued_in_order(fund_center, [
        lambda: fund_center.transfer(a, b, 10, "CNY", "r1"),
        lambda: fund_center.transfer(a, closed, 10, "CNY", "r2"),  # debits a in memory, then the credit is refused
        lambda: fund_center.transfer(a, b, 10, "CNY", "r3"),
    ])
    assert isinstance(outcomes[1], errors.AccountClosed)
    assert outcomes[0].amount == outcomes[2].amount == 10
    assert fund_center.writer.stats.restarts == restarts + 1
    assert fund_center.get_account(a).posted == 80 and fund_center.get_account(b).posted == 120
    assert fund_center.get_account(closed).posted == 0


def test_an_idempotent_repeat_inside_one_batch_answers_with_the_first_outcome(fund_center):
    a, b = members(fund_center, 2, funded=100)
    head = fund_center.head()
    first, again, other = queued_in_order(fund_center, [
        lambda: fund_center.transfer(a, b, 30, "CNY", "same"),
        lambda: fund_center.transfer(a, b, 30, "CNY", "same"),
        lambda: fund_center.transfer(a, b, 31, "CNY", "same"),  # the same key, another request
    ])
    assert again == first and first.position is not None and first.position > head
    assert isinstance(other, errors.IdempotencyConflict)
    assert fund_center.head() == head + 3  # one transfer, its two account events
    assert fund_center.get_account(a).posted == 70
    assert fund_center.transfer(a, b, 30, "CNY", "same") == first  # and after the batch, from the store


def test_holds_in_one_batch_share_the_account(fund_center):
    a, b = members(fund_center, 2, funded=100)
    hold = fund_center.place_hold(a, 50, "h1")
    placed, captured, released = queued_in_order(fund_center, [
        lambda: fund_center.place_hold(a, 40, "h2"),
        lambda: fund_center.capture_hold(hold.id, b, 20, idempotency_key="c1"),
        lambda: fund_center.release_hold(hold.id, idempotency_key="rel1"),
    ])
    assert placed.amount == 40 and captured.amount == 20 and released.remaining == 0
    view = fund_center.get_account(a)
    assert view.posted == 80 and view.frozen == 40 and fund_center.get_account(b).posted == 120
    assert fund_center.get_hold(hold.id).remaining == 0


# -- hot accounts ---------------------------------------------------------------------------------------------


def test_eight_threads_into_one_destination_never_contend(fund_center):
    sources = members(fund_center, 8)
    target = fund_center.open_account("member", "w", "hot", "CNY").id
    conflicts, errors_seen = fund_center.stats.conflicts, []

    def pay(n, source):
        try:
            for i in range(30):
                fund_center.transfer(source, target, 7, "CNY", f"hot-{n}-{i}")
        except Exception as error:
            errors_seen.append(error)

    threads = [threading.Thread(target=pay, args=(n, s)) for n, s in enumerate(sources)]
    with fund_center.writer.paused():  # all of them queue first: batches from the start
        for t in threads:
            t.start()
        wait_until(lambda: fund_center.writer.waiting() == len(threads))
    for t in threads:
        t.join()
    assert not errors_seen, errors_seen  # no Contention, no error of any kind
    assert fund_center.stats.conflicts == conflicts
    assert fund_center.get_account(target).posted == 8 * 30 * 7
    assert fund_center.writer.stats.batches >= 1


# -- random commands from many threads: the final state of a sequential run -----------------------------------


ACCOUNTS = 6
THREADS = 8
COMMANDS = 25
NOWHERE = uuid5(NAMESPACE_URL, "fundcenter:test:no-such-account")


def script(seed, accounts):
    """A thread's commands: with ample funds, any order of them (and of other threads') ends the same way."""
    rng = random.Random(seed)
    done = []
    for n in range(COMMANDS):
        source, target = rng.sample(accounts, 2)
        kind = rng.choice(["transfer"] * 5 + ["repeat", "impossible", "nowhere", "invalid", "adjust", "hold"])
        if kind == "repeat" and done:
            yield ("transfer", rng.choice(done))
            continue
        if kind in ("transfer", "repeat"):
            request = dict(from_account=source, to_account=target, amount=rng.randint(1, 100), currency="CNY",
                           idempotency_key=f"s{seed}-{n}")
            done.append(request)
            yield ("transfer", request)
        elif kind == "impossible":  # more than the ledger holds: refused in any order
            yield ("transfer", dict(from_account=source, to_account=target, amount=10**12, currency="CNY",
                                    idempotency_key=f"s{seed}-{n}"))
        elif kind == "nowhere":
            yield ("transfer", dict(from_account=source, to_account=NOWHERE, amount=1, currency="CNY",
                                    idempotency_key=f"s{seed}-{n}"))
        elif kind == "invalid":
            yield ("transfer", dict(from_account=source, to_account=target, amount=0, currency="CNY",
                                    idempotency_key=f"s{seed}-{n}"))
        elif kind == "adjust":
            yield ("adjust", dict(account=source, amount=rng.randint(1, 50), currency="CNY",
                                  direction=rng.choice(["credit", "debit"]), reason="test", idempotency_key=f"s{seed}-{n}"))
        else:
            yield ("hold", dict(account=source, amount=rng.randint(1, 50), idempotency_key=f"s{seed}-{n}",
                                to=target, capture=rng.randint(0, 50)))


def run_script(fc, seed, accounts):
    answers = []
    for name, request in script(seed, accounts):
        try:
            if name == "transfer":
                answers.append(fc.transfer(**request).id)
            elif name == "adjust":
                answers.append(fc.adjust(**request).id)
            else:
                hold = fc.place_hold(request["account"], request["amount"], request["idempotency_key"])
                if request["capture"] <= request["amount"]:
                    answers.append(fc.capture_hold(hold.id, request["to"], request["capture"] or None,
                                                   idempotency_key="c").amount)
                else:
                    answers.append(fc.release_hold(hold.id).remaining)
        except errors.LedgerError as error:
            answers.append(type(error).__name__)
    return answers


def test_many_threads_of_random_commands_end_as_a_sequential_run(fund_center, store_url, tmp_path, request):
    other_url = (f"sqlite:///{tmp_path}/sequential.db" if store_url.startswith("sqlite")
                 else request.getfixturevalue("pg_server").create_database())
    sequential = FundCenter(other_url)
    try:
        accounts = members(fund_center, ACCOUNTS, business="p")
        assert members(sequential, ACCOUNTS, business="p") == accounts  # ids come from the business and ref
        expected = {seed: run_script(sequential, seed, accounts) for seed in range(THREADS)}
        balances = [(v.posted, v.frozen) for v in map(sequential.get_account, accounts)]
    finally:
        sequential.close()

    answers, failures = {}, []

    def worker(seed):
        try:
            answers[seed] = run_script(fund_center, seed, accounts)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(THREADS)]
    with fund_center.writer.paused():
        for t in threads:
            t.start()
        wait_until(lambda: fund_center.writer.waiting() == THREADS)
    for t in threads:
        t.join()
    assert not failures, failures
    assert answers == expected  # each caller got the answer of the sequential run
    assert [(v.posted, v.frozen) for v in map(fund_center.get_account, accounts)] == balances
    assert fund_center.writer.stats.batches >= 1 and fund_center.stats.conflicts == 0


# -- across processes: optimistic concurrency ------------------------------------------------------------------


def test_two_ledgers_on_one_database_resolve_their_conflict(pg_url):
    one, two = FundCenter(pg_url), FundCenter(pg_url)
    try:
        a, b, c = members(one, 3, funded=1_000)
        assert two.get_account(a).posted == 1_000  # `two` has a cached, soon stale
        two.transfer(a, c, 1, "CNY", "warm")  # and `two` holds a in its cache at this version
        one.transfer(a, c, 100, "CNY", "from-one")  # `two`'s copy of a is now stale
        conflicts = two.writer.stats.conflicts
        outcomes = queued_in_order(two, [
            lambda: two.transfer(a, b, 10, "CNY", "x1"),
            lambda: two.transfer(a, b, 10, "CNY", "x2"),
            lambda: two.transfer(b, c, 5, "CNY", "x3"),
        ])
        assert all(o.amount in (10, 5) for o in outcomes), outcomes
        assert two.writer.stats.conflicts == conflicts + 1  # the batch's save lost, then was replayed on fresh state
        assert one.get_account(a).posted == 1_000 - 1 - 100 - 20
        assert one.get_account(b).posted == 1_000 + 20 - 5 and one.get_account(c).posted == 1_000 + 1 + 100 + 5
        assert two.transfer(a, b, 10, "CNY", "x1") == outcomes[0]  # a repeat answers with the saved outcome
    finally:
        one.close()
        two.close()


def test_a_repeat_of_a_stored_command_in_a_batch_is_answered_from_the_store(fund_center):
    a, b = members(fund_center, 2, funded=100)
    stored = fund_center.transfer(a, b, 10, "CNY", "stored")
    again, new = queued_in_order(fund_center, [
        lambda: fund_center.transfer(a, b, 10, "CNY", "stored"),
        lambda: fund_center.transfer(a, b, 10, "CNY", "new"),
    ])
    assert again == stored and new.amount == 10
    assert fund_center.get_account(a).posted == 80


# -- the writer's own failures and its stop ------------------------------------------------------------------


class Crash(BaseException):
    """Not an Exception: nothing on the way catches it, as a dying thread's error would be."""


def test_a_writer_that_dies_leaves_no_caller_waiting(fund_center, monkeypatch):
    a, b = members(fund_center, 2, funded=100)
    writer = fund_center.writer

    def crash(jobs):
        raise Crash("simulated")

    monkeypatch.setattr(writer, "_run", crash)
    outcomes = queued_in_order(fund_center, [lambda n=n: fund_center.transfer(a, b, 1, "CNY", f"d{n}") for n in range(3)])
    assert all(isinstance(o, RuntimeError) for o in outcomes), outcomes
    monkeypatch.undo()
    outcomes = queued_in_order(fund_center, [lambda n=n: fund_center.transfer(a, b, 1, "CNY", f"e{n}") for n in range(3)])
    assert [o.amount for o in outcomes] == [1, 1, 1]  # a new writer's thread took over
    assert fund_center.get_account(a).posted == 97


def test_an_error_in_the_writer_reaches_its_callers(fund_center, monkeypatch):
    a, b = members(fund_center, 2, funded=100)

    def broken(jobs):
        raise ValueError("simulated")

    monkeypatch.setattr(fund_center.writer, "_run", broken)
    outcomes = queued_in_order(fund_center, [lambda n=n: fund_center.transfer(a, b, 1, "CNY", f"v{n}") for n in range(2)])
    assert all(isinstance(o, ValueError) for o in outcomes), outcomes


def test_stop_runs_what_is_queued_then_refuses(store_url):
    fc = FundCenter(store_url)
    a, b = members(fc, 2, funded=100)
    results = []
    threads = [threading.Thread(target=lambda n=n: results.append(fc.transfer(a, b, 1, "CNY", f"q{n}")))
               for n in range(3)]
    with fc.writer.paused():
        for t in threads:
            t.start()
        wait_until(lambda: fc.writer.waiting() == 3)
        stopper = threading.Thread(target=fc.close)
        stopper.start()
        wait_until(lambda: fc.writer._stopped)
    stopper.join(timeout=WAIT_S)
    for t in threads:
        t.join(timeout=WAIT_S)
    assert len(results) == 3
    with pytest.raises(WriterStopped):
        fc.transfer(a, b, 1, "CNY", "late")


# -- submit: a Future of the answer, for a caller that must not block ------------------------------------------


def test_submit_answers_through_a_future_run_by_the_writers_thread(fund_center):
    a, b = members(fund_center, 2, funded=100)
    direct = fund_center.writer.stats.direct
    submitted = fund_center.submit(PostTransfer(a, b, 30, "CNY", "s1"))
    view = submitted.result(timeout=WAIT_S)
    assert view.amount == 30 and view.position is not None
    assert fund_center.writer.stats.direct == direct  # never in the caller's thread, even with nothing else queued
    assert fund_center.transfer(a, b, 30, "CNY", "s1") == view  # a repeat the blocking way: the same answer
    refused = fund_center.submit(PostTransfer(a, b, 1_000, "CNY", "s2"))
    with pytest.raises(errors.InsufficientFunds):
        refused.result(timeout=WAIT_S)
    assert fund_center.get_account(a).posted == 70


def test_submitted_commands_share_a_batch_with_blocking_callers(fund_center):
    a, b = members(fund_center, 2, funded=100)
    batches = fund_center.writer.stats.batches
    with fund_center.writer.paused():
        futures = [fund_center.submit(PostTransfer(a, b, 10, "CNY", f"p{n}")) for n in range(3)]
        assert fund_center.writer.waiting() == 3
    assert [f.result(timeout=WAIT_S).amount for f in futures] == [10, 10, 10]
    assert fund_center.writer.stats.batches == batches + 1
    assert fund_center.get_account(b).posted == 130


def test_a_queued_command_cannot_be_cancelled(fund_center):
    """Once queued it runs and is answered: a caller that went away (an HTTP client that hung up) cannot
    take it out of a batch half-way, and the batch's other callers still get their answers."""
    a, b = members(fund_center, 2, funded=100)
    with fund_center.writer.paused():
        first, second = (fund_center.submit(PostTransfer(a, b, 10, "CNY", f"c{n}")) for n in range(2))
        assert not first.cancel()
    assert first.result(timeout=WAIT_S).amount == second.result(timeout=WAIT_S).amount == 10
    assert fund_center.get_account(b).posted == 120


def test_a_transfer_with_a_reference_is_submitted_under_its_claim(fund_center):
    a, b = members(fund_center, 2, funded=100)
    first = fund_center.submit(PostTransfer(a, b, 10, "CNY", "r1", reference="order-1")).result(timeout=WAIT_S)
    assert first.amount == 10 and first.reference == "order-1"
    assert fund_center.submit(PostTransfer(a, b, 10, "CNY", "r2", reference="order-1")) is None  # used: answering reads
    fund_center.unit_of_work.evict([request_id("reference/transfer/w/order-1")])  # as 10,000 newer aggregates would
    repeat = fund_center.submit(PostTransfer(a, b, 10, "CNY", "r2", reference="order-1"))
    with pytest.raises(Unfinished) as unfinished:  # its save failed on the record: the answer reads it
        repeat.result(timeout=WAIT_S)
    assert unfinished.value.finish() == first
    fund_center.unit_of_work.evict([request_id("reference/transfer/w/order-1")])
    clash = fund_center.submit(PostTransfer(a, b, 11, "CNY", "r3", reference="order-1"))  # another request
    with pytest.raises(Unfinished) as unfinished:
        clash.result(timeout=WAIT_S)
    with pytest.raises(errors.IdempotencyConflict):
        unfinished.value.finish()
    assert fund_center.get_account(a).posted == 90


def test_submit_refuses_once_stopped_and_inside_a_command(store_url, fund_center):
    fc = FundCenter(store_url)
    a, b = members(fc, 2, funded=100)
    fc.close()
    with pytest.raises(WriterStopped):
        fc.submit(PostTransfer(a, b, 1, "CNY", "late"))
    inside = []

    def nested(uow, command):
        try:
            fund_center.writer.submit(nested, command)
        except RuntimeError as error:
            inside.append(error)
        return "done"

    assert fund_center.writer.run(nested, None) == "done"
    assert len(inside) == 1


def test_transfers_with_references_share_a_batch_and_each_reference_makes_one_transfer(fund_center):
    a, b = members(fund_center, 2, funded=100)
    batches, head = fund_center.writer.stats.batches, fund_center.head()
    first, again, other, clash = queued_in_order(fund_center, [
        lambda: fund_center.transfer(a, b, 10, "CNY", "ref-k1", reference="order-1"),
        lambda: fund_center.transfer(a, b, 10, "CNY", "ref-k2", reference="order-1"),  # another key, the same request
        lambda: fund_center.transfer(b, a, 3, "CNY", "ref-k3", reference="order-2"),
        lambda: fund_center.transfer(a, b, 11, "CNY", "ref-k4", reference="order-1"),  # the reference, another request
    ])
    assert again == first and other.amount == 3 and other.id != first.id
    assert isinstance(clash, errors.IdempotencyConflict)
    assert fund_center.writer.stats.batches == batches + 1  # first and other saved together, with their records
    assert fund_center.head() - head == 8  # two transfers and their account events, two records
    assert fund_center.get_account(a).posted == 93 and fund_center.get_account(b).posted == 107
    assert fund_center.transfer(a, b, 10, "CNY", "ref-k5", reference="order-1") == first  # from the store, later
