"""The one-round-trip event insert on PostgreSQL (ledger/recorders.py): the library's
tables, ordering, notifications and conflicts, in one statement."""

import threading
import time
import uuid

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from ledger import FundCenter
from ledger.recorders import OneTripRecorder
from tests.config import DROP_INSERT_FUNCTIONS


@pytest.fixture
def ledger(pg_url):
    fc = FundCenter(pg_url)
    yield fc
    fc.close()


def stored(originator_id, version, topic="test:Event"):
    return StoredEvent(originator_id=originator_id, originator_version=version, topic=topic, state=b"{}")


def test_the_ledger_saves_through_one_statement_that_returns_log_positions_in_order(ledger):
    assert type(ledger.recorder) is OneTripRecorder and ledger.recorder.one_trip
    head = ledger.head()
    a, b = uuid.uuid4(), uuid.uuid4()
    ids = ledger.recorder.insert_events([stored(a, 1), stored(b, 1), stored(a, 2)])
    assert ids == [head + 1, head + 2, head + 3]
    log = ledger.recorder.select_notifications(start=head, limit=10, inclusive_of_start=False)
    assert [(n.id, n.originator_id, n.originator_version) for n in log] == [(head + 1, a, 1), (head + 2, b, 1), (head + 3, a, 2)]


def test_a_stale_version_writes_nothing_and_raises_the_librarys_integrity_error(ledger):
    a = uuid.uuid4()
    ledger.recorder.insert_events([stored(a, 1)])
    head = ledger.head()
    with pytest.raises(IntegrityError):
        ledger.recorder.insert_events([stored(uuid.uuid4(), 1), stored(a, 1)])
    assert ledger.head() == head
    [position] = ledger.recorder.insert_events([stored(a, 2)])
    assert position > head + 1  # the failed insert used up ids: a harmless gap


def test_each_insert_notifies_the_channel_the_projection_runner_listens_on(ledger, pg_url):
    with psycopg.connect(pg_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {ledger.recorder.channel_name}")
        ledger.recorder.insert_events([stored(uuid.uuid4(), 1)])
        notices = listener.notifies(timeout=5, stop_after=1)
        assert [n.channel for n in notices] == [ledger.recorder.channel_name]


def test_an_insert_waits_for_the_event_tables_exclusive_lock_so_ids_commit_in_order(ledger, pg_url):
    """An open transaction that inserts (ROW EXCLUSIVE: a plain INSERT would not wait for it)
    makes the insert wait: ids are given only under the EXCLUSIVE lock, so they commit in order."""
    done = threading.Event()
    with psycopg.connect(pg_url) as holder:
        holder.execute("LOCK TABLE fundcenter_events IN ROW EXCLUSIVE MODE")
        holder_pid = holder.info.backend_pid
        writer = threading.Thread(target=lambda: (ledger.recorder.insert_events([stored(uuid.uuid4(), 1)]), done.set()))
        writer.start()
        with psycopg.connect(pg_url, autocommit=True) as watcher:
            for _ in range(500):  # until the writer's backend is seen blocked by the holder
                blocked = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", (holder_pid,)
                ).fetchone()[0]
                if blocked:
                    break
                time.sleep(0.01)
        assert blocked == 1 and not done.is_set()
        holder.commit()
    writer.join(10)
    assert done.is_set()


def test_a_save_with_extra_rows_takes_the_librarys_path(ledger, monkeypatch):
    """`save(..., **kwargs)` hands kwargs to `_insert_events` in the save's transaction: that path stays the library's."""
    called = []
    monkeypatch.setattr(PostgresApplicationRecorder, "insert_events", lambda self, events, **kw: called.append(kw) or [1])
    assert ledger.recorder.insert_events([stored(uuid.uuid4(), 1)], searchable=["x"]) == [1]
    assert called == [{"searchable": ["x"]}]


def test_a_database_without_the_function_gets_the_librarys_insert(ledger, pg_url):
    """A process started with migrate=False on a database not yet migrated to 0009."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(DROP_INSERT_FUNCTIONS)
    head = ledger.head()
    assert ledger.recorder.insert_events([stored(uuid.uuid4(), 1)]) == [head + 1]
    assert not ledger.recorder.one_trip
    assert ledger.recorder.insert_events([stored(uuid.uuid4(), 1)]) == [head + 2]
