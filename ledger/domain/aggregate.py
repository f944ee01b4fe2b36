"""The base of every ledger aggregate: its events are stamped by the command's clock.

eventsourcing stamps each new event with the wall clock. The ledger instead runs
every command under the clock it was given (`stamped_by`), so that tests, the
demo and a replayed day see one time everywhere: in the events, the views built
from them, the simulator and the accounting day. Outside a command (a plain
script using the aggregates) events keep the library's wall-clock stamp.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from contextvars import ContextVar, Token
from datetime import datetime
from operator import attrgetter
from typing import Any, Self
from uuid import UUID

from eventsourcing.domain import (
    Aggregate,
    BaseAggregate,
    CanInitAggregate,
    CanMutateAggregate,
    DecoratedFuncCaller,
    DomainEvent,
    OriginatorIDError,
    OriginatorVersionError,
    datetime_now_with_tzinfo,
    decorated_funcs,
)
from eventsourcing.utils import get_topic, resolve_topic

Clock = Callable[[], datetime]

_command_clock: ContextVar[Clock | None] = ContextVar("fundcenter_command_clock", default=None)


class stamped_by:  # lower case: read as a phrase, `with stamped_by(clock):`
    """Stamp the events triggered inside this block with `clock` (a class rather than a
    generator-based context manager: it is entered several times per command)."""

    __slots__ = ("clock", "token")

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def __enter__(self) -> None:
        self.token: Token[Clock | None] = _command_clock.set(self.clock)

    def __exit__(self, *exc: object) -> None:
        _command_clock.reset(self.token)


class LedgerAggregate(Aggregate):
    class Event(Aggregate.Event):
        @staticmethod
        def create_timestamp() -> datetime:
            clock = _command_clock.get()
            moment = clock() if clock is not None else datetime_now_with_tzinfo()
            assert moment.tzinfo is not None, "a clock must give timezone-aware times"
            return moment

        def mutate(self, aggregate: Any) -> Any:
            """The library's `mutate`, step for step, but for how the method is called: the `@event`
            method (or, for a created event, the aggregate's `__init__`) gets the event's fields by
            position, read by one `attrgetter` made once per event class (`Applier`), where the
            library copies the event's attributes and filters them by the method's signature on
            every event. An event that lacks one of the method's fields (an older log's, recorded
            before a parameter with a default was added) reads the event class's default, which is
            the method's own, as the library's way would leave it; one that lacks a field without a
            default takes the library's way, and fails as it does."""
            applier = _APPLIERS.get(type(self))
            if applier is None:
                applier = _APPLIERS[type(self)] = Applier.of(self)
            if applier.method is not None:
                try:
                    values = applier.fields(self)
                except AttributeError:
                    pass
                else:
                    return applier.create(self, values) if aggregate is None else applier.update(self, aggregate, values)
            return super().mutate(aggregate)

    @classmethod
    def _create(cls, event_class: Any, *, id: Any = None, **kwargs: Any) -> Self:
        """eventsourcing's `_create` (a created event at the initial version, with the class's topic,
        stamped, applied, then pending) with the event made by `_made`; a class with an explicit
        `TOPIC`, an id not given or not a UUID, or an event `_made` does not make, take the library's
        path, which checks and makes them."""
        if isinstance(id, UUID) and not getattr(cls, "TOPIC", None) and "originator_topic" not in kwargs:
            given = dict(kwargs, originator_topic=get_topic(cls))
            if given.get("timestamp") is None:
                given["timestamp"] = event_class.create_timestamp()
            created = _made(event_class, id, cls.INITIAL_VERSION, given)
            if created is not None:
                aggregate: Self = created.mutate(None)
                aggregate.pending_events.append(created)
                return aggregate
        return super()._create(event_class, id=id, **kwargs)

    def trigger_event(self, event_class: type[CanMutateAggregate[Any]], **kwargs: Any) -> None:
        """eventsourcing's `trigger_event` (a new event, next in the sequence, stamped, applied,
        then pending) without copying the keyword arguments again; `@event` methods end here too.
        A class with an explicit `TOPIC` (none has one) takes the library's path, which checks it."""
        if "TOPIC" in type(self).__dict__:
            super().trigger_event(event_class, **kwargs)
            return
        if kwargs.get("timestamp") is None:
            kwargs["timestamp"] = event_class.create_timestamp()
        new_event = _made(event_class, self._id, self._version + 1, kwargs)
        if new_event is None:
            make: Any = event_class  # an event dataclass: these are its fields
            new_event = make(originator_id=self._id, originator_version=self._version + 1, **kwargs)
        new_event.mutate(self)
        self._pending_events.append(new_event)


class Applier:
    """How `LedgerAggregate.Event.mutate` applies the events of one class: `method` (None: the
    library's way) called with the aggregate and the values of `fields`, in its parameters' order.
    The fast way is taken only where it does what the library's does: an `@event` method's event
    whose `apply` is the library's, or a created event whose `apply` does nothing (the library's
    base), for an aggregate with the library's `__base_init__`; every parameter of the method a
    plain one (no `*args`, `**kwargs` or keyword-only) and a field of the event class, which the
    library made from the method's signature. So the fields map onto the parameters one for one,
    and a field an older event lacks reads as the class's default: the method's own default,
    which the library's way (the field left out of the call) would give too."""

    __slots__ = ("aggregate_class", "fields", "method", "topic")

    def __init__(
        self, method: Callable[..., None] | None = None, names: tuple[str, ...] = (), topic: str | None = None,
        aggregate_class: Any = None,
    ) -> None:
        self.method, self.topic, self.aggregate_class = method, topic, aggregate_class
        self.fields: Callable[[Any], tuple[Any, ...]] = _tuple_getter(names)

    @classmethod
    def of(cls, event: Any) -> Applier:
        """The applier of `event`'s class (a created event's, for the aggregate its topic names)."""
        event_class = type(event)
        if isinstance(event, CanInitAggregate):
            return cls._of_created(event_class, event.originator_topic)
        if issubclass(event_class, DecoratedFuncCaller) and event_class.apply is DecoratedFuncCaller.apply:
            method = decorated_funcs.get(event_class)
            names = None if method is None else _plain_parameters(method)
            if method is not None and names is not None and _fields_of(event_class, names):
                return Applier(method, names)
        return Applier()

    @classmethod
    def _of_created(cls, event_class: Any, topic: str) -> Applier:
        aggregate_class = resolve_topic(topic)
        init = aggregate_class.__init__
        params = _plain_parameters(init)
        # The library gives an `__init__` parameter named `id` the event's `originator_id`.
        names = None if params is None else tuple("originator_id" if n == "id" else n for n in params)
        if (names is None or not _fields_of(event_class, names) or event_class.apply is not CanMutateAggregate.apply
                or aggregate_class.__base_init__ is not BaseAggregate.__base_init__):
            return Applier()
        return Applier(init, names, topic, aggregate_class)

    def create(self, event: Any, values: tuple[Any, ...]) -> Any:
        """`CanInitAggregate.mutate`: a new aggregate, its base initialised, then its `__init__`."""
        if event.originator_topic != self.topic:  # another aggregate class's: the library resolves it
            return CanInitAggregate.mutate(event, None)
        assert self.method is not None and self.aggregate_class is not None
        aggregate = self.aggregate_class.__new__(self.aggregate_class)
        aggregate.__base_init__(event.originator_id, event.originator_version, event.timestamp)
        self.method(aggregate, *values)
        return aggregate

    def update(self, event: Any, aggregate: Any, values: tuple[Any, ...]) -> Any:
        """`CanMutateAggregate.mutate`: the checks, the method, then the version and the time."""
        if event.originator_id != aggregate.id:
            raise OriginatorIDError(event.originator_id, aggregate.id)
        next_version = aggregate.version + 1
        if event.originator_version != next_version:
            raise OriginatorVersionError(event.originator_version, next_version)
        assert self.method is not None
        self.method(aggregate, *values)
        aggregate.version = event.originator_version
        aggregate.modified_on = event.timestamp
        return aggregate


_APPLIERS: dict[type, Applier] = {}
_PLAIN_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _plain_fields(event_class: Any) -> tuple[str, ...] | None:
    """The fields of an event class, in order, if its `__init__` is the one `dataclass` wrote
    (each field set from its argument, in order) followed by `DomainEvent.__post_init__` alone,
    and every field an argument of it; else None (the class makes its events itself)."""
    try:
        return _PLAIN_FIELDS[event_class]
    except KeyError:
        pass
    fields = getattr(event_class, "__dataclass_fields__", None)
    init = event_class.__dict__.get("__init__")
    plain = (
        fields is not None and init is not None
        and getattr(getattr(init, "__code__", None), "co_filename", None) == "<string>"  # written by `dataclass`
        and event_class.__post_init__ is DomainEvent.__post_init__
        and [f.name for f in dataclasses.fields(event_class) if f.init and not f.kw_only] == list(fields)  # no InitVar, ClassVar
        and tuple(fields)[:2] == ("originator_id", "originator_version")
    )
    made = tuple(fields) if plain and fields is not None else None
    _PLAIN_FIELDS[event_class] = made
    return made


def _made(event_class: Any, originator_id: Any, originator_version: int, kwargs: dict[str, Any]) -> Any:
    """The event its class's `__init__` would make of these fields, made without it (a frozen
    dataclass's `__init__` sets each field through `object.__setattr__`, a third of the cost of
    triggering an account's event): its fields set in their order, then `__post_init__`'s check.
    None where the class is not one `_plain_fields` knows, or `kwargs` are not exactly its other
    fields (one left to its default, or one it lacks): the class makes that one, as it decides."""
    fields = _plain_fields(event_class)
    if fields is None or len(kwargs) != len(fields) - 2:
        return None
    new_event = object.__new__(event_class)
    state = new_event.__dict__
    state["originator_id"] = originator_id
    state["originator_version"] = originator_version
    try:
        for name in fields[2:]:
            state[name] = kwargs[name]
    except KeyError:
        return None
    if not isinstance(originator_id, UUID):
        new_event.__post_init__()  # raises the library's TypeError
    return new_event


def _plain_parameters(method: Callable[..., Any]) -> tuple[str, ...] | None:
    """The names of `method`'s parameters after `self`, if all are plain (positional or keyword)."""
    parameters = list(inspect.signature(method).parameters.values())[1:]
    if any(p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters):
        return None
    return tuple(p.name for p in parameters)


def _fields_of(event_class: Any, names: tuple[str, ...]) -> bool:
    """Whether every name is one of the event class's dataclass fields."""
    fields = getattr(event_class, "__dataclass_fields__", {})
    return all(name in fields for name in names)


def _tuple_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A function of an object giving the tuple of these attributes (`attrgetter` gives one
    attribute alone, not in a tuple)."""
    if not names:
        return lambda _: ()
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return attrgetter(*names)
