"""The one-trip insert's packed events (ledger/event_rows.py) are byte for byte what psycopg's own
composite dumper makes of the same events, and PostgreSQL reads them back as they were sent."""

import uuid

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.adapt import PyFormat, Transformer

from ledger import FundCenter
from ledger.event_rows import EventRows, EventRowsDumper

events = st.lists(
    st.builds(StoredEvent, st.uuids(), st.integers(min_value=1, max_value=2**62), st.text(max_size=40),
              st.binary(max_size=300)),
    min_size=1, max_size=5,
)


@pytest.fixture
def conn(pg_url):
    FundCenter(pg_url).close()  # migrated: the composite type exists
    fc = FundCenter(pg_url)
    try:
        with fc.recorder.datastore.get_connection() as connection:  # the composite registered, as the recorder has it
            yield connection
    finally:
        fc.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stored=events)
def test_the_packed_array_is_psycopgs_binary_dump_byte_for_byte(conn, stored):
    transformer = Transformer(conn)
    name = "stored_event_uuid"
    composite = conn.adapters.types.get(name).python_type
    theirs = [composite(e.originator_id, e.originator_version, e.topic, e.state) for e in stored]
    expected = transformer.get_dumper(theirs, PyFormat.BINARY).dump(theirs)
    dumper = EventRowsDumper(EventRows, conn)
    assert bytes(dumper.dump(EventRows(stored))) == bytes(expected)
    assert dumper.oid == transformer.get_dumper(theirs, PyFormat.BINARY).oid


def test_postgresql_reads_the_packed_array_back(conn):
    stored = [StoredEvent(uuid.uuid4(), 7, "é:ü\x01\"{}", bytes(range(256))), StoredEvent(uuid.uuid4(), 2**40, "", b"")]
    with conn.cursor() as cur:
        rows = cur.execute("SELECT (e).originator_id, (e).originator_version, (e).topic, (e).state"
                           " FROM unnest(%b::stored_event_uuid[]) AS e", (EventRows(stored),)).fetchall()
    assert [tuple(r.values()) for r in rows] == [(e.originator_id, e.originator_version, e.topic, e.state)
                                                  for e in stored]


def test_a_connection_without_the_composite_is_refused_by_name(pg_url):
    with psycopg.connect(pg_url) as plain, pytest.raises(LookupError, match="stored_event_uuid"):
        EventRowsDumper(EventRows, plain)
