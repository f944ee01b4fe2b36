"""FundCenter.save(): the library's save (record, cache, snapshots, notifications) for aggregates,
events and None alike, on SQLite and PostgreSQL."""

from uuid import uuid4

from ledger.idempotency import IdempotentRequest


def test_aggregates_events_and_none_are_saved_as_the_library_saves_them(fund_center):
    fc = fund_center
    head = fc.head()
    one = IdempotentRequest(id=uuid4(), key="k-1", operation="test", request_hash="h", results=[])
    two = IdempotentRequest(id=uuid4(), key="k-2", operation="test", request_hash="h", results=[])
    pending = two.collect_events()  # an event given as it is, not through its aggregate
    seen = []
    fc.notify = lambda events: seen.extend(events)  # the library's (deprecated) hook, still called
    recordings = fc.save(None, one, *pending, None)
    assert [r.domain_event.originator_id for r in recordings] == [one.id, two.id]
    assert [r.notification.id for r in recordings] == [head + 1, head + 2]
    assert [e.originator_id for e in seen] == [one.id, two.id]
    assert one.collect_events() == []  # its pending events were taken
    assert fc.repository.get(one.id).key == "k-1" and fc.repository.get(two.id).key == "k-2"
    assert fc.repository.cache.get(one.id) is one  # the saved aggregate is the cached one
    assert fc.save() == [] and fc.save(None) == []
