"""Catching up: the runner passes over the views a batch cannot change, and halts right
before a page it cannot read or decode; neither may change what the views hold."""

from itertools import pairwise

import pytest
from eventsourcing.persistence import OperationalError

from ledger.domain.access import ApiKey
from ledger.domain.transfers import Transfer
from projections import ProjectionRunner, ViewStore
from projections.api_keys import ApiKeysView
from projections.payments import PaymentsView
from projections.verify import replay_and_verify
from tests.test_projections import busy_day


@pytest.fixture
def views(fund_center):
    store = ViewStore(fund_center.database)
    yield store
    store.close()


class Outage(OperationalError):
    """The event store's connection failing under one read."""


def fail_once(monkeypatch, obj, name, when):
    """Make `obj.name(...)` raise once, on the first call `when(*args, **kwargs)` accepts."""
    original, failed = getattr(obj, name), []

    def failing(*args, **kwargs):
        if not failed and when(*args, **kwargs):
            failed.append(True)
            raise Outage("the log went away")
        return original(*args, **kwargs)

    monkeypatch.setattr(obj, name, failing)
    return failed


@pytest.mark.parametrize("what", ["read", "decode"])
def test_a_page_that_fails_to_read_or_decode_halts_the_catch_up_right_before_it(fund_center, views, monkeypatch, what):
    busy_day(fund_center, transfers=60)
    if what == "read":
        failed = fail_once(monkeypatch, fund_center.recorder, "select_notifications",
                           lambda start=None, *a, **k: start is not None and start >= 60)
    else:
        failed = fail_once(monkeypatch, fund_center.mapper, "to_domain_event", lambda n: n.id == 75)
    runner = ProjectionRunner(fund_center, views, batch_size=20)
    with pytest.raises(Outage):
        runner.catch_up()
    assert failed
    assert runner.position == 60  # the three pages before it, each with its tracking position
    runner.catch_up()  # the cause went away: it resumes where it halted
    assert runner.position == fund_center.head()
    report = replay_and_verify(fund_center, views)
    assert report.ok, report.problems


def test_a_following_runner_applies_each_page_once(fund_center, views):
    members = busy_day(fund_center, transfers=60)
    runner = ProjectionRunner(fund_center, views, batch_size=10).start()
    try:
        runner.wait(fund_center.head(), timeout=30)
        for n in range(30):  # more than a page while it follows
            fund_center.transfer(members[n % 2], members[2], 10, "CNY", f"later-{n}")
        runner.wait(fund_center.head(), timeout=30)
    finally:
        runner.stop()
    report = replay_and_verify(fund_center, views)
    assert report.ok, report.problems


def test_a_stop_mid_catch_up_keeps_what_was_applied(fund_center, views):
    busy_day(fund_center, transfers=60)
    runner = ProjectionRunner(fund_center, views, batch_size=10)
    runner.catch_up(on_batch=lambda position, head: runner.stop() if position >= 30 else None)
    assert runner.position == 30


def test_views_of_rarer_events_say_which_events_concern_them():
    assert ApiKeysView().handles(ApiKey.Created) and ApiKeysView().handles(ApiKey.Revoked)
    assert not ApiKeysView().handles(Transfer.Posted)
    assert not PaymentsView().handles(Transfer.Posted)


def test_a_rare_event_amid_transfers_reaches_its_view_and_a_batch_of_none_leaves_it_alone(fund_center, views):
    members = busy_day(fund_center, transfers=40)
    key, _ = fund_center.create_api_key("finance", name="amid transfers")
    for n in range(20):
        fund_center.transfer(members[0], members[1], 5, "CNY", f"after-key-{n}")
    fund_center.revoke_api_key(key.id, by="ops")
    runner = ProjectionRunner(fund_center, views, batch_size=10)  # most batches hold transfers only
    runner.catch_up()
    rows = views.query("SELECT name, role, revoked_by FROM api_keys WHERE key_id = ?", (str(key.id),))
    assert rows == [{"name": "amid transfers", "role": "finance", "revoked_by": "ops"}]
    report = replay_and_verify(fund_center, views, batch_size=1000)
    assert report.ok, report.problems


def test_far_behind_the_runner_takes_larger_batches_than_near_the_head(fund_center, views, monkeypatch):
    import projections.runner

    monkeypatch.setattr(projections.runner, "BATCH_SIZE", 10)
    monkeypatch.setattr(projections.runner, "CATCH_UP_BATCH_SIZE", 50)
    members = busy_day(fund_center, transfers=60)
    runner = ProjectionRunner(fund_center, views)  # no batch size given: the runner's choice
    positions = [0]
    runner.catch_up(on_batch=lambda position, head: positions.append(position))
    sizes = [b - a for a, b in pairwise(positions)]
    head = fund_center.head()
    assert positions[-1] == head and head > 100
    assert all(size == 50 for size in sizes[:-1]) and 0 < sizes[-1] <= 50  # more than 10 behind until the last
    fund_center.transfer(members[0], members[1], 5, "CNY", "near-the-head")
    runner.catch_up(on_batch=lambda position, head: positions.append(position))
    assert 0 < positions[-1] - head <= 10 and positions[-1] == fund_center.head()
    report = replay_and_verify(fund_center, views, batch_size=7)
    assert report.ok, report.problems


def test_a_batch_size_given_is_kept_however_far_behind(fund_center, views):
    busy_day(fund_center, transfers=30)
    positions = [0]
    ProjectionRunner(fund_center, views, batch_size=20).catch_up(on_batch=lambda p, head: positions.append(p))
    assert all(b - a == 20 for a, b in pairwise(positions[:-1]))  # all but the last, which may be short
