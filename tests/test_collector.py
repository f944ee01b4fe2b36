"""While a large batch is made in memory (`transfer_many`, a catch-up far behind the head), the
cyclic collector's young generation is collected less often (ledger/collector.py); then put back."""

import gc
import threading

import pytest

from ledger import collector
from ledger.collector import YOUNG_MIN, rare_young_collections


@pytest.fixture
def thresholds():
    """The collector's thresholds as they were, put back after the test."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # Python's defaults, whatever the test run had
    yield
    gc.set_threshold(*before)


def test_young_collections_are_rarer_inside_and_as_before_after(thresholds):
    with rare_young_collections():
        assert gc.get_threshold() == (YOUNG_MIN, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_process_already_collecting_more_rarely_is_left_so(thresholds):
    gc.set_threshold(200_000, 20, 10)
    with rare_young_collections():
        assert gc.get_threshold() == (200_000, 20, 10)
    assert gc.get_threshold() == (200_000, 20, 10)


def test_the_last_to_leave_puts_them_back_whatever_the_order(thresholds):
    inside, leave = threading.Event(), threading.Event()

    def other():
        with rare_young_collections():
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(5)
    with rare_young_collections():
        leave.set()
        thread.join(5)
        assert gc.get_threshold() == (YOUNG_MIN, 10, 10)  # the other left first: this one is still inside
    assert gc.get_threshold() == (700, 10, 10)


def test_thresholds_changed_meanwhile_are_left_as_changed(thresholds):
    collector.enter()
    gc.set_threshold(20_000, 20, 10)  # a serving process tuning itself once started
    collector.leave()
    assert gc.get_threshold() == (20_000, 20, 10)


def test_a_batch_of_transfers_leaves_the_thresholds_as_they_were(thresholds, fund_center):
    fc = fund_center
    a = fc.open_account("member", "mall", "a", "CNY")
    b = fc.open_account("member", "mall", "b", "CNY")
    fc.adjust(a.id, 1_000, "CNY", "credit", "seed", "seed-1")
    seen = []
    real_run = fc.writer.run
    fc.writer.run = lambda *args: (seen.append(gc.get_threshold()), real_run(*args))[1]
    results = fc.transfer_many([{"from_account": a.id, "to_account": b.id, "amount": 10, "currency": "CNY",
                                 "idempotency_key": f"t-{n}"} for n in range(3)])
    assert [r.amount for r in results] == [10, 10, 10]
    assert seen == [(YOUNG_MIN, 10, 10)]  # while the batch was made
    assert gc.get_threshold() == (700, 10, 10)
