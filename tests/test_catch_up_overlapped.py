"""Catching up far behind the head: on PostgreSQL a writer thread writes batch N while the
runner's thread reads and collects batch N+1. Each batch still commits with its tracking
position, in order; a failure halts right before the batch that failed, and nothing collected
after it is written. The runner decodes only the events some view or listener handles."""

import gc
import sys
import threading
from itertools import pairwise

import pytest

from ledger.collector import YOUNG_MIN
from ledger.domain.accounts import Account
from ledger.domain.transfers import Transfer
from projections import ProjectionRunner, ViewStore, all_views
from projections.runner import OVERLAP_SWITCH_INTERVAL_S
from projections.verify import replay_and_verify
from tests.test_projections import busy_day


@pytest.fixture
def views(fund_center):
    store = ViewStore(fund_center.database)
    yield store
    store.close()


def batches_seen(runner, **kwargs):
    """(position, thread) of each batch as the runner reports it, and the interpreter's tuning then."""
    seen = []
    runner.catch_up(on_batch=lambda position, head: seen.append(
        (position, threading.current_thread(), (sys.getswitchinterval(), gc.get_threshold()[0]))), **kwargs)
    return seen


def test_far_behind_on_postgresql_a_writer_thread_writes_while_the_next_batch_is_collected(fund_center, views):
    busy_day(fund_center, transfers=80)
    head, before = fund_center.head(), (sys.getswitchinterval(), gc.get_threshold())
    seen = batches_seen(ProjectionRunner(fund_center, views, batch_size=20))
    assert [p for p, _, _ in seen] == [*range(20, head, 20), head]  # every batch, in order, each once
    if fund_center.database.kind == "postgresql":
        assert all(thread is not threading.current_thread() for _, thread, _ in seen)
        tuned = (min(OVERLAP_SWITCH_INTERVAL_S, before[0]), max(YOUNG_MIN, before[1][0]))
        assert all(tuning == tuned for _, _, tuning in seen)
    else:  # SQLite: one thread, as before
        assert all(thread is threading.current_thread() for _, thread, _ in seen)
    assert (sys.getswitchinterval(), gc.get_threshold()) == before  # put back once the writer finished


def test_a_setting_changed_while_a_writer_ran_is_left_as_it_was_changed(fund_center, views):
    """A serving process tunes its collector after start-up, perhaps while a catch-up runs: the
    runner does not put back what was there before it."""
    busy_day(fund_center, transfers=40)
    before = gc.get_threshold()
    try:
        ProjectionRunner(fund_center, views, batch_size=20).catch_up(
            on_batch=lambda position, head: gc.set_threshold(12_345, 17, 9))
        assert gc.get_threshold() == (12_345, 17, 9)
    finally:
        gc.set_threshold(*before)
    report = replay_and_verify(fund_center, views)
    assert report.ok, report.problems


def test_near_the_head_the_batch_is_written_in_the_callers_thread(fund_center, views):
    busy_day(fund_center, transfers=10)
    seen = batches_seen(ProjectionRunner(fund_center, views, batch_size=1000))
    assert [thread for _, thread, _ in seen] == [threading.current_thread()]


class FailingWrite:
    """A view whose statements fail on its `nth` batch (as a database error or a bug would)."""

    handles = staticmethod(lambda kind: True)

    def __init__(self, nth):
        self.nth, self.written = nth, 0

    def changes(self, batch):
        return batch

    def write(self, cur, changes):
        self.written += 1
        if self.written == self.nth:
            raise RuntimeError("the write failed")


def test_a_write_that_fails_in_the_writer_halts_right_before_its_batch_and_nothing_after_is_written(
    fund_center, views
):
    busy_day(fund_center, transfers=80)
    failing = FailingWrite(nth=3)
    runner = ProjectionRunner(fund_center, views, batch_size=20, views=(*all_views(), failing))
    seen = []
    with pytest.raises(RuntimeError, match="the write failed"):
        runner.catch_up(on_batch=lambda position, head: seen.append(position))
    assert seen == [20, 40] and runner.position == 40  # the third batch rolled back; none collected after it written
    assert failing.written == 3
    resumed = ProjectionRunner(fund_center, views, batch_size=20)
    resumed.catch_up()
    assert resumed.position == fund_center.head()
    report = replay_and_verify(fund_center, views)
    assert report.ok, report.problems


def test_a_runner_found_ahead_mid_catch_up_is_followed_not_repeated(fund_center, views):
    """Another runner (another process) applies a stretch while this one is writing: this one
    finds the tracking record ahead, drops what it collected, and carries on from there."""
    busy_day(fund_center, transfers=80)
    other_views = ViewStore(fund_center.database)
    try:
        other = ProjectionRunner(fund_center, other_views, batch_size=30)
        runner = ProjectionRunner(fund_center, views, batch_size=20)
        told = []
        runner.watch(lambda after, upto, batch: told.append((after, upto, batch is None)))
        jumped = []

        def jump(position, head):
            if not jumped:  # after this runner's first batch, the other applies up to 90
                jumped.append(position)
                other.catch_up(until=90)

        runner.catch_up(on_batch=jump)
        assert runner.position == fund_center.head() == other.position
        assert (20, 90, True) in told  # told as applied by another runner
        stretches = [(after, upto) for after, upto, _ in told if upto > after]
        assert all(b[0] == a[1] for a, b in pairwise(stretches))  # each stretch once, in order
        report = replay_and_verify(fund_center, views)
        assert report.ok, report.problems
    finally:
        other_views.close()


def test_events_no_view_handles_are_not_decoded(fund_center, views, monkeypatch):
    busy_day(fund_center, transfers=30)
    decoded = []
    original = fund_center.mapper.to_domain_event
    monkeypatch.setattr(fund_center.mapper, "to_domain_event", lambda n: decoded.append(n.topic) or original(n))
    runner = ProjectionRunner(fund_center, views, batch_size=25)
    assert runner.catch_up() == fund_center.head()  # every event counted as applied
    assert "ledger.domain.transfers:Transfer.Posted" in decoded
    assert not any(":Account.Credited" in t or ":Account.Debited" in t for t in decoded)  # no view reads them
    report = replay_and_verify(fund_center, views)
    assert report.ok, report.problems


def test_a_listener_is_given_the_events_of_the_kinds_it_names_and_one_without_kinds_every_event(fund_center, views):
    busy_day(fund_center, transfers=20)
    credits, everything = [], []
    runner = ProjectionRunner(fund_center, views, batch_size=15)
    runner.watch(lambda after, upto, batch: credits.extend(e for _, e in batch or []), kinds=(Account.Credited,))
    runner.catch_up(until=40)
    assert any(isinstance(e, Account.Credited) for e in credits)
    assert not any(isinstance(e, Account.Debited) for e in credits)  # no view nor listener handles those
    runner.watch(lambda after, upto, batch: everything.extend(p for p, _ in batch or []))
    runner.catch_up()
    assert everything == list(range(41, fund_center.head() + 1))  # a listener without kinds: every event, as before
    assert any(isinstance(e, Transfer.Posted) for e in credits)
