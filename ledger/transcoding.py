"""The event store's transcoder: eventsourcing's JSON format, read and written by orjson.

`FastJSONTranscoder` is a `JSONTranscoder` (so the application registers its
transcodings on it: UUID as hex, datetime as ISO text, Decimal as text) that
writes the same bytes as the library's (compact separators, UTF-8, each
registered type as `{"_type_": name, "_data_": ...}`) and reads them back to the
same objects, with orjson doing the parsing and printing in C. A log written by
the library's transcoder reads the same, and the library's transcoder reads what
this one writes: nothing stored changes.

orjson prints UUIDs and datetimes itself and has no option to hand them back, so
`encode` first replaces every registered type with its `_type_` form; `decode`
turns those forms back, innermost first, as the library's object hook does. What
orjson would not do exactly as the standard library does (integers beyond 64 bits,
which it reads as floats; floats, NaN, keys that are not strings, subclasses other
than string enums) goes to the library's own code, so every input gets the
library's answer. (The ledger's events hold no floats: money is integers.)

`FastMapper` is the library's `Mapper` with the stored state tagged straight from an event's
attributes. Both are named by `Database.eventsourcing_env()` (`TRANSCODER_TOPIC`, `MAPPER_TOPIC`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID, SafeUUID

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from eventsourcing.utils import get_topic


class _Unprintable(TypeError):
    """A value orjson would print otherwise than the standard library: use the library's encoder."""


class _Inexact(ValueError):
    """orjson read a float: perhaps an integer outside [-2**63, 2**64), which it reads as a float
    where the standard library reads it exactly. Use the library's decoder."""


class FastJSONTranscoder(JSONTranscoder):
    def __init__(self) -> None:
        super().__init__()
        self._decoders: dict[str, Callable[[Any], Any]] = {}  # per registered name, filled as names are read
        self._taggers: dict[type, Callable[[Any], dict[str, Any]]] = {}  # per registered type (`register`)

    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(self._tagged(obj))
        except TypeError:  # _Unprintable, orjson.JSONEncodeError, an unregistered type
            return super().encode(obj)

    def decode(self, data: bytes) -> Any:
        try:
            return self._untagged(orjson.loads(data))
        except (orjson.JSONDecodeError, _Inexact):  # NaN, a float, invalid text...: the library's answer, or its error
            return super().decode(data)

    def encode_event_state(self, attributes: dict[str, Any], class_version: int) -> bytes:
        """What `encode` gives for the state eventsourcing's `Mapper` stores of an event with these
        attributes (all but its originator id and version; then its class version, if above 1),
        tagged straight from the event's attributes rather than from a copy of them."""
        try:
            tagged = self._tagged_dict(attributes, _ORIGINATOR)
            if class_version > 1:
                tagged["class_version"] = class_version
            return orjson.dumps(tagged)
        except TypeError:  # as `encode`: the library's encoder, for the whole state
            state = {k: v for k, v in attributes.items() if k not in _ORIGINATOR}
            if class_version > 1:
                state["class_version"] = class_version
            return super().encode(state)

    def _tagged(self, obj: Any) -> Any:
        kind = type(obj)
        if kind in _PLAIN:
            return obj
        if kind is dict:
            return self._tagged_dict(obj)
        if kind is list or kind is tuple:
            return [value if type(value) in _PLAIN else self._tagged(value) for value in obj]
        transcoding = self.types.get(kind)
        if transcoding is not None:
            data = transcoding.encode(obj)
            return {"_type_": transcoding.name, "_data_": data if type(data) in _PLAIN else self._tagged(data)}
        if isinstance(obj, str):  # an enum of strings: the library prints its text
            return str.__str__(obj)
        # Floats (orjson prints 1e16 where the library prints 1e+16), integer enums, subclasses of
        # dict or list, unregistered types: the library decides, for the whole object.
        raise _Unprintable(kind)

    def _tagged_dict(self, obj: dict[Any, Any], skip: frozenset[str] = frozenset()) -> dict[str, Any]:
        tagged = {}
        for key, value in obj.items():
            if type(key) is not str:
                if not isinstance(key, str):
                    raise _Unprintable(key)
                key = str.__str__(key)
            if key in skip:
                continue
            value_kind = type(value)
            if value_kind in _PLAIN:
                tagged[key] = value
            else:  # a UUID or a datetime in an event's state, mostly: tagged in one call
                tag = self._taggers.get(value_kind)
                tagged[key] = tag(value) if tag is not None else self._tagged(value)
        return tagged

    def _untagged(self, obj: Any) -> Any:
        """The value with each `{"_type_": name, "_data_": data}` turned back into its object,
        innermost first (as the library's object hook); a tagged form is found from its parent,
        so that the common case, a UUID or a datetime in a dict or list, costs no call of its own."""
        kind = type(obj)
        if kind is dict:
            for key, value in obj.items():
                if type(value) in _NOT_PLAIN:
                    obj[key] = self._untagged_value(value)
            if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
                return self._decoder(obj["_type_"])(obj["_data_"])
        elif kind is list:
            for index, value in enumerate(obj):
                if type(value) in _NOT_PLAIN:
                    obj[index] = self._untagged_value(value)
        elif kind is float:
            raise _Inexact(obj)
        return obj

    def _untagged_value(self, value: Any) -> Any:
        if type(value) is dict and len(value) == 2 and type(value.get("_data_")) is str:
            decode = self._decoders.get(value.get("_type_"))  # type: ignore[arg-type]  # any _type_ is looked up; a str may match
            if decode is not None:
                return decode(value["_data_"])
        return self._untagged(value)

    def _decoder(self, name: str) -> Callable[[Any], Any]:
        decode = self._decoders.get(name)
        if decode is not None:
            return decode
        try:
            transcoding = self.names[name]
        except KeyError as error:
            raise TranscodingNotRegisteredError(
                f"Data serialized with name '{name}' is not deserializable. Please register a custom transcoding for this type."
            ) from error
        decode = {UUIDAsHex: _uuid_from_hex, DatetimeAsISO: _datetime_from_iso}.get(type(transcoding), transcoding.decode)
        self._decoders[name] = decode
        return decode

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        self._decoders = {}
        self._taggers = {kind: self._tagger(t) for kind, t in self.types.items()}

    def _tagger(self, transcoding: Transcoding) -> Callable[[Any], dict[str, Any]]:
        """What `_tagged` makes of an object of the transcoding's type, as one call: the library's
        own UUID and datetime transcodings written out (`UUID.hex`, `datetime.isoformat()`)."""
        name = transcoding.name
        if type(transcoding) is UUIDAsHex:
            return lambda uuid: {"_type_": name, "_data_": uuid.hex}
        if type(transcoding) is DatetimeAsISO:
            return _RecentMoments(name).tagged
        return lambda obj: self._tagged_by(transcoding, obj)

    def _tagged_by(self, transcoding: Transcoding, obj: Any) -> dict[str, Any]:
        data = transcoding.encode(obj)
        return {"_type_": transcoding.name, "_data_": data if type(data) in _PLAIN else self._tagged(data)}


class FastMapper(Mapper[UUID]):
    """eventsourcing's `Mapper`, whose `to_stored_event` is the library's step for step where the
    transcoder is a `FastJSONTranscoder` and nothing is compressed or encrypted (the ledger's case):
    the state tagged straight from the event's attributes (`encode_event_state`), not from a copy
    of them less the originator's id and version. The same stored events
    (`tests/test_transcoding.py`). Named by `Database.eventsourcing_env()`."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        transcoder = self.transcoder
        if self.compressor or self.cipher or not isinstance(transcoder, FastJSONTranscoder):
            return super().to_stored_event(domain_event)
        kind = type(domain_event)
        attributes = vars(domain_event)
        return StoredEvent(attributes["originator_id"], attributes["originator_version"], get_topic(kind),
                           transcoder.encode_event_state(attributes, getattr(kind, "class_version", 1)))


class _RecentMoments:
    """The tagged form of a datetime, the text written once for each datetime object: the events of
    one transfer (the transfer's and its accounts') are stamped with the same object
    (ledger/posting.py), and `isoformat()` is a third of what tagging an account's event costs.
    Looked up by identity (an equal datetime in another time zone prints otherwise); each entry
    holds its datetime, so no other object can take its id while the entry lasts."""

    __slots__ = ("name", "seen")
    SIZE = 256  # entries kept: more than the instants of a batch's part (ledger/handlers/transfers.py)

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: dict[int, tuple[datetime, dict[str, str]]] = {}

    def tagged(self, moment: datetime) -> dict[str, str]:
        seen = self.seen.get(id(moment))
        if seen is not None and seen[0] is moment:
            return seen[1]
        tagged = {"_type_": self.name, "_data_": moment.isoformat()}  # read only: printed, never changed
        if len(self.seen) >= self.SIZE:
            self.seen.clear()
        self.seen[id(moment)] = (moment, tagged)
        return tagged


_ORIGINATOR = frozenset({"originator_id", "originator_version"})  # what a stored event's state leaves out
_PLAIN = frozenset({str, int, bool, type(None)})
_UNKNOWN = SafeUUID.unknown  # looked up once: an enum member's lookup costs about as much as the rest of `_uuid_from_hex`
_NOT_PLAIN = frozenset({dict, list, float})  # what orjson reads that `_untagged` looks into


def _datetime_from_iso(data: Any) -> datetime:
    """`DatetimeAsISO.decode` (its assertion, that it is given text, made a real check)."""
    return datetime.fromisoformat(data) if type(data) is str else DatetimeAsISO().decode(data)


def _uuid_from_hex(data: Any) -> UUID:
    """`UUIDAsHex.decode`, without `UUID()`'s clean-up of forms it never writes (32 hex digits)."""
    if type(data) is str and len(data) == 32:
        try:
            number = int(data, 16)
        except ValueError:
            number = -1
        if number >= 0:
            uuid = object.__new__(UUID)
            object.__setattr__(uuid, "int", number)  # as UUID.__init__ does: its instances are immutable
            object.__setattr__(uuid, "is_safe", _UNKNOWN)
            return uuid
    return UUIDAsHex().decode(data)
