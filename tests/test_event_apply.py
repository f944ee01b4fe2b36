"""Events applied the ledger's way (`LedgerAggregate.Event.mutate`, ledger/domain/aggregate.py)
build exactly the aggregates eventsourcing's own `mutate` builds, from new events and from
events of older logs that lack a field added later; events made the ledger's way (`_made`, for
`trigger_event` and `_create`) are those their classes' `__init__` makes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import OriginatorIDError, OriginatorVersionError
from eventsourcing.domain import event as event_method

from ledger.domain.accounts import Account
from ledger.domain.aggregate import Applier, LedgerAggregate, _made, _plain_fields
from ledger.domain.holds import Hold
from ledger.domain.postings import Posting, Side
from ledger.domain.transfers import Transfer, TransferKind

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def library_mutate(event: Any, aggregate: Any) -> Any:
    """eventsourcing's own `mutate` for this event (the one `LedgerAggregate.Event` overrides)."""
    return super(LedgerAggregate.Event, event).mutate(aggregate)


def replayed(events: list[Any], mutate: Any) -> Any:
    aggregate = None
    for event in events:
        aggregate = mutate(event, aggregate)
    return aggregate


def state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def account_history() -> list[Any]:
    account = Account(id=uuid4(), kind="member", business_id="mall", external_ref="u1", currency="CNY",
                      name="Alice", request_hash="h")
    account.credit(uuid4(), 10_000)
    account.debit(uuid4(), 2_500, NOW)
    hold, other = uuid4(), uuid4()
    account.place_hold(hold, 1_000, None, NOW)
    account.place_hold(other, 500, NOW + timedelta(hours=1), NOW)
    account.release_hold(hold, 400, NOW)
    account.capture_hold(hold, uuid4(), 600, NOW)
    account.expire_holds(NOW + timedelta(hours=2))
    account.change_status("frozen", NOW, "ops", "court order 7")
    account.change_status("active", NOW, None)
    return list(account.collect_events())


def transfer_history() -> list[Any]:
    a, b = uuid4(), uuid4()
    transfer = Transfer.post(uuid4(), TransferKind.TRANSFER, "CNY",
                             [Posting(a, Side.DEBIT, 700, "CNY"), Posting(b, Side.CREDIT, 700, "CNY")],
                             request_hash="h", memo="rent", day="2026-11-25", by="ops", reference="order-9")
    transfer.mark_reversed(uuid4(), "ops")
    return list(transfer.collect_events())


def hold_history() -> list[Any]:
    hold = Hold(id=uuid4(), account_id=uuid4(), currency="CNY", amount=900, reason="deposit",
                expires_at=NOW + timedelta(days=1), request_hash="h", reference="order-3")
    hold.release(300, "release-1", "h1")
    hold.capture(600, uuid4(), "capture-1", "h2")
    return list(hold.collect_events())


@pytest.mark.parametrize("history", [account_history, transfer_history, hold_history])
def test_the_ledger_applies_events_as_the_library_does(history):
    events = history()
    ours = replayed(events, lambda event, aggregate: event.mutate(aggregate))
    theirs = replayed(events, library_mutate)
    assert type(ours) is type(theirs)
    assert state(ours) == state(theirs)


def test_the_hot_events_take_the_direct_way():
    events = [*account_history()[:3], *transfer_history()[:1]]
    assert [type(e).__name__ for e in events] == ["Opened", "Credited", "Debited", "Posted"]
    assert all(Applier.of(e).method is not None for e in events)


def test_an_event_of_an_older_log_without_a_later_field_takes_its_default_both_ways():
    posted, = transfer_history()[:1]
    vars(posted).pop("reference")  # as a transfer stored before references were is decoded
    vars(posted).pop("by")
    ours, theirs = posted.mutate(None), library_mutate(posted, None)
    assert (ours.reference, ours.by) == (theirs.reference, theirs.by) == (None, None)
    assert state(ours) == state(theirs)


def test_an_event_out_of_sequence_or_of_another_aggregate_is_refused():
    opened, credited, debited, *_ = account_history()
    account = opened.mutate(None)
    with pytest.raises(OriginatorVersionError):
        debited.mutate(account)  # version 3 onto version 1
    other = account_history()[0].mutate(None)
    with pytest.raises(OriginatorIDError):
        credited.mutate(other)
    assert account.version == 1 and account.posted == 0


@pytest.mark.parametrize("history", [account_history, transfer_history, hold_history])
def test_events_are_made_as_their_classes_make_them(history):
    events = history()
    assert all(_plain_fields(type(e)) is not None for e in events)  # every one the ledger's way
    for made in events:
        by_class = type(made)(**vars(made))
        assert type(by_class) is type(made) and by_class == made
        assert list(vars(by_class).items()) == list(vars(made).items())  # the same fields in the same order: the same stored bytes


def test_an_event_its_class_must_make_is_made_by_its_class():
    class Noted(LedgerAggregate):
        def __init__(self, id: UUID, text: str = "") -> None:
            self.text = text
            self.notes: list[str] = []

        @event_method("Noted")
        def note(self, text: str, urgent: bool = False) -> None:
            self.notes.append(text + "!" * urgent)

        class Checked(LedgerAggregate.Event):
            text: str

            def __post_init__(self) -> None:
                super().__post_init__()
                if not self.text:
                    raise ValueError("a checked event needs its text")

    noted = Noted(id=uuid4())  # the created event's `text` left to its default: the class makes it
    noted.note("a")  # the decorator passes every argument: the ledger's way
    noted.note("b", urgent=True)
    assert noted.notes == ["a", "b!"] and noted.text == ""
    assert _plain_fields(Noted.Checked) is None  # an own __post_init__
    with pytest.raises(ValueError, match="needs its text"):
        noted.trigger_event(Noted.Checked, text="")
    fields = dict(timestamp=NOW, transfer_id=uuid4(), amount=1, balance_after=1)
    assert _made(Account.Credited, uuid4(), 2, {**fields, "unknown": 1}) is None  # not one of its fields
    assert _made(Account.Credited, uuid4(), 2, {k: v for k, v in fields.items() if k != "amount"}) is None
    with pytest.raises(TypeError, match="non-UUID originator_id"):  # the library's check, as its __init__ makes it
        _made(Account.Credited, "not-a-uuid", 2, fields)
