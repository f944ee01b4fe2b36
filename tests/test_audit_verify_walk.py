"""`verify_chain`'s walk over a log longer than one page, on both stores: checkpoints recorded on
the way, and none recorded past a chain entry whose event was deleted, even when the chain after
it was recomputed so that the links alone no longer show it (the walk counts entries instead of
looking for such an entry up front)."""

import uuid

import pytest
from eventsourcing.persistence import StoredEvent

from ledger import FundCenter
from ledger.audit import verify
from ledger.audit.chain import GENESIS, link
from ledger.audit.chain_store import LOG_TABLES
from ledger.clock import SteppingClock
from ledger.store import Database
from tests.config import BUSINESS_HOURS
from tests.test_audit_chain import log_rows, sql

EVENTS = 45


@pytest.fixture
def long_log(store_url, monkeypatch):
    """A log of EVENTS events, walked in pages of 7 with a checkpoint every 10 events."""
    monkeypatch.setattr(verify, "FETCH_ROWS", 7)
    monkeypatch.setattr(verify, "CHECKPOINT_EVERY_EVENTS", 10)
    clock = SteppingClock(BUSINESS_HOURS())
    fc = FundCenter(store_url, clock=clock)
    try:
        for n in range(EVENTS):
            fc.recorder.insert_events([StoredEvent(uuid.uuid4(), 1, "test:Event", f'{{"n":{n}}}'.encode())])
    finally:
        fc.close()
    return store_url, clock


def checkpoints(url):
    return sorted(p for (p,) in sql(url, "SELECT position FROM chain_checkpoints"))


def test_a_long_log_is_walked_a_page_at_a_time_and_checkpointed_on_the_way(long_log):
    url, clock = long_log
    rows = log_rows(url)
    report = verify.verify_chain(Database.from_url(url), clock=clock)
    assert report.ok and report.events == EVENTS and report.last_hash == rows[-1][-1]
    assert checkpoints(url) == [rows[i][0] for i in (13, 27, 41, 44)]  # pages end after 14, 28, 42 events
    resumed = verify.verify_chain(Database.from_url(url), resume_after=rows[30][0], clock=clock)
    assert resumed.ok and resumed.resumed_after == rows[27][0] and resumed.events == EVENTS - 28


def test_no_checkpoint_is_recorded_past_an_entry_whose_event_was_deleted(long_log):
    url, clock = long_log
    t = LOG_TABLES[Database.from_url(url).kind]
    rows = log_rows(url)
    deleted = rows[5][0]
    sql(url, f"DELETE FROM {t.events} WHERE {t.position} = ?", (deleted,))
    previous = GENESIS  # the forger recomputes every link after it, leaving the deleted event's entry
    for position, oid, version, topic, state, _ in log_rows(url):
        previous = link(previous, position, oid, version, topic, state)
        sql(url, "UPDATE event_chain SET hash = ? WHERE position = ?", (previous, position))
    report = verify.verify_chain(Database.from_url(url), clock=clock)
    assert report.first == verify.Break(deleted, "a chain entry without its event: the event was deleted")
    assert report.events == EVENTS - 1 and report.checkpoint is None and checkpoints(url) == []


def test_entries_left_past_the_tail_are_found_after_a_clean_walk(long_log):
    url, clock = long_log
    t = LOG_TABLES[Database.from_url(url).kind]
    rows = log_rows(url)
    cut = rows[40][0]
    sql(url, f"DELETE FROM {t.events} WHERE {t.position} >= ?", (cut,))
    report = verify.verify_chain(Database.from_url(url), clock=clock)
    assert [b.position for b in report.breaks] == [cut] and "without its event" in report.breaks[0].why
    assert report.checkpoint == rows[39][0] and checkpoints(url) == [rows[i][0] for i in (13, 27, 39)]
