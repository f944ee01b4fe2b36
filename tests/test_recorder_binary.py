"""The one-trip insert sends the events' rows in psycopg's binary form, and the runner's
range select reads them back in binary (ledger/recorders.py): every byte of a state, and
every character of a topic, reaches the log and comes back as it was given, and the hash
chain covers them as ledger/audit/chain.py computes it."""

import uuid

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from ledger import FundCenter
from ledger.audit.chain import link

AWKWARD_STATES = [b"", b"{}", bytes(range(256)), b'{"a": "\\"quoted\\" \\\\ (x,y) {z}"}', "对账 ✓".encode(), b"\\x00\\\\"]
AWKWARD_TOPICS = ["test:Event", 'test:"quoted", (paren) {brace} \\ back', "测试:事件", "t:" + "x" * 2000]


@pytest.fixture
def ledger(pg_url):
    fc = FundCenter(pg_url)
    yield fc
    fc.close()


def test_states_and_topics_reach_the_log_byte_for_byte_and_are_chained(ledger, pg_url):
    events = [StoredEvent(uuid.uuid4(), n + 1, topic, state)
              for n, (topic, state) in enumerate((t, s) for t in AWKWARD_TOPICS for s in AWKWARD_STATES)]
    ids = ledger.recorder.insert_events(events)
    assert ids == sorted(ids) and len(ids) == len(events)
    expected = [(i, e.originator_id, e.originator_version, e.topic, e.state) for i, e in zip(ids, events, strict=True)]
    recorder = ledger.recorder
    for read in (
        recorder.select_notifications(start=ids[0], limit=len(ids)),  # the library's select
        recorder.select_notifications(start=ids[0], limit=len(ids), stop=ids[-1]),  # the runner's: a range
        recorder.select_notifications(start=ids[0] - 1, limit=len(ids), stop=ids[-1], inclusive_of_start=False),
    ):
        assert [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in read] == expected
        assert all(type(n.state) is bytes for n in read)
    assert [n.id for n in recorder.select_notifications(start=ids[1], limit=2, stop=ids[-1])] == ids[1:3]
    assert [n.id for n in recorder.select_notifications(start=ids[1], limit=5, stop=ids[2],
                                                        inclusive_of_start=False)] == ids[2:3]
    with psycopg.connect(pg_url) as conn:
        before = conn.execute("SELECT hash FROM event_chain WHERE position < %s ORDER BY position DESC LIMIT 1",
                              (ids[0],)).fetchone()
        previous = bytes(before[0]) if before else bytes(32)  # the chain starts after 32 zero bytes
        chain = {p: bytes(h) for p, h in conn.execute(
            "SELECT position, hash FROM event_chain WHERE position >= %s ORDER BY position", (ids[0],))}
    for i, e in zip(ids, events, strict=True):
        previous = link(previous, i, e.originator_id, e.originator_version, e.topic, e.state)
        assert chain[i] == previous
