"""The event store's transcoder (ledger/transcoding.py): the library's JSON format, read
and written by orjson. Logs written by the library's transcoder read the same."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Mapper, TranscodingNotRegisteredError
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import FundCenter
from ledger.domain.transfers import Side, TransferKind
from ledger.transcoding import FastJSONTranscoder, FastMapper
from tests.test_projections import busy_day

LIBRARY = {"TRANSCODER_TOPIC": "eventsourcing.persistence:JSONTranscoder"}


def transcoders():
    """Both, with the transcodings the application registers (UUID, Decimal, datetime)."""
    app = Application.__new__(Application)
    fast, library = FastJSONTranscoder(), JSONTranscoder()
    app.register_transcodings(fast)
    app.register_transcodings(library)
    return fast, library


def everything(fc):
    return [(n.id, n.topic, fc.mapper.transcoder.decode(n.state), n.state) for n in fc.recorder.select_notifications(start=1, limit=100_000)]


def test_the_ledger_uses_the_fast_transcoder(store_url):
    fc = FundCenter(store_url)
    try:
        assert type(fc.mapper.transcoder) is FastJSONTranscoder and type(fc.mapper) is FastMapper
    finally:
        fc.close()


def test_a_log_written_by_the_librarys_transcoder_reads_the_same_and_carries_on(store_url):
    old = FundCenter(store_url, env=LIBRARY)
    members = busy_day(old, transfers=60)
    assert type(old.mapper.transcoder) is JSONTranscoder
    written = [(n.id, old.mapper.to_domain_event(n)) for n in old.recorder.select_notifications(start=1, limit=100_000)]
    balances = {m: old.get_account(m).posted for m in members}
    old.close()

    new = FundCenter(store_url)
    try:
        read = [(n.id, new.mapper.to_domain_event(n)) for n in new.recorder.select_notifications(start=1, limit=100_000)]
        assert [(p, type(e), e.__dict__) for p, e in read] == [(p, type(e), e.__dict__) for p, e in written]
        assert {m: new.get_account(m).posted for m in members} == balances
        new.transfer(members[0], members[1], 5, "CNY", "after-the-switch")
        assert new.get_account(members[1]).posted == balances[members[1]] + 5
    finally:
        new.close()
    again = FundCenter(store_url, env=LIBRARY)  # and the library reads what the new one wrote
    try:
        assert again.get_account(members[1]).posted == balances[members[1]] + 5
    finally:
        again.close()


def test_every_event_of_a_busy_day_encodes_to_the_librarys_bytes(sqlite_url):
    fast, library = transcoders()
    fc = FundCenter(sqlite_url)
    try:
        busy_day(fc, transfers=40)
        stored = [n.state for n in fc.recorder.select_notifications(start=1, limit=100_000)]
    finally:
        fc.close()
    assert len(stored) > 100
    for state in stored:
        decoded = fast.decode(state)
        assert decoded == library.decode(state)
        assert fast.encode(decoded) == library.encode(decoded) == state


def test_every_event_of_a_busy_day_is_stored_as_the_librarys_mapper_stores_it(sqlite_url):
    fast, library = transcoders()
    fc = FundCenter(sqlite_url)
    try:
        busy_day(fc, transfers=40)
        events = [fc.mapper.to_domain_event(n) for n in fc.recorder.select_notifications(start=1, limit=100_000)]
    finally:
        fc.close()
    assert len(events) > 100
    for event in events:
        assert FastMapper(fast).to_stored_event(event) == Mapper(library).to_stored_event(event)


class _Event:
    """An event's shape, as the mapper sees one: attributes and its class's version."""

    class_version = 1

    def __init__(self, **attributes):
        vars(self).update(attributes)


class _EventV3(_Event):
    class_version = 3


ZONES = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-14)), None])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(), st.floats(allow_nan=True),
    st.uuids(), st.decimals(allow_nan=False), st.sampled_from([*Side, *TransferKind]),
    st.builds(lambda d, z: d.replace(tzinfo=z), st.datetimes(), ZONES),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(), st.sampled_from(list(Side))), inner, max_size=4),
        st.fixed_dictionaries({"_type_": st.just("not-ours"), "other": inner}),
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_any_state_gets_the_librarys_bytes_and_reads_back_as_the_library_reads_it(value):
    fast, library = transcoders()
    state = {"timestamp": datetime(2026, 11, 26, 8, 0, tzinfo=UTC), "value": value}
    encoded = fast.encode(state)
    assert encoded == library.encode(state)
    assert repr(fast.decode(encoded)) == repr(library.decode(encoded))


@settings(max_examples=300, deadline=None)
@given(VALUES, st.sampled_from([_Event, _EventV3]), st.uuids(), st.integers(1, 10**6))
def test_any_event_is_stored_as_the_librarys_mapper_stores_it(value, kind, originator_id, version):
    fast, library = transcoders()
    event = kind(timestamp=datetime(2026, 11, 26, 8, 0, tzinfo=UTC), originator_id=originator_id, value=value,
                 originator_version=version)
    assert FastMapper(fast).to_stored_event(event) == Mapper(library).to_stored_event(event)


def test_integers_beyond_64_bits_in_an_old_log_read_exactly():
    fast, library = transcoders()
    for number in (2**64, -(2**63) - 1, 10**30, 2**64 - 1, -(2**63)):
        state = library.encode({"amount": number, "id": UUID(int=number % 2**128)})
        assert fast.decode(state) == {"amount": number, "id": UUID(int=number % 2**128)}
        assert fast.encode({"amount": number}) == library.encode({"amount": number})


def test_a_decimal_and_a_naive_and_an_aware_datetime_keep_their_types():
    fast, _ = transcoders()
    state = {"d": Decimal("1.10"), "naive": datetime(2026, 1, 1), "aware": datetime(2026, 1, 1, tzinfo=UTC)}
    decoded = fast.decode(fast.encode(state))
    assert decoded == state and str(decoded["d"]) == "1.10" and decoded["naive"].tzinfo is None


def test_an_unknown_tag_is_refused_as_the_library_refuses_it():
    fast, library = transcoders()
    state = b'{"a":[{"_type_":"nope","_data_":"x"}]}'
    for transcoder in (fast, library):
        with pytest.raises(TranscodingNotRegisteredError, match="nope"):
            transcoder.decode(state)


def test_a_datetime_written_again_keeps_its_own_text():
    """The text of a datetime object is written once and reused for that object (the three events
    of a transfer share one); an equal instant in another zone, or a new object, gets its own."""
    fast, library = transcoders()
    utc = datetime(2026, 11, 25, 9, 0, 0, 123_456, tzinfo=UTC)
    shanghai = utc.astimezone(timezone(timedelta(hours=8)))
    assert utc == shanghai
    states = [{"timestamp": utc}, {"at": utc, "again": utc}, {"timestamp": shanghai}, {"timestamp": utc.replace(microsecond=0)}]
    for _ in range(2):
        for state in states:
            assert fast.encode_event_state(state, 1) == fast.encode(state) == library.encode(state)
    assert b"17:00:00.123456+08:00" in fast.encode(states[2])
    many = [datetime(2026, 11, 25, tzinfo=UTC) + timedelta(microseconds=n) for n in range(1_000)]  # more than it keeps
    assert [fast.encode(m) for m in many] == [library.encode(m) for m in many]
