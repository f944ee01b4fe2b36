"""The one-trip insert's events as PostgreSQL's binary `stored_event_uuid[]`, packed in one pass.

psycopg dumps a list of composite values generically: per event a tuple dumper, and per field
a look-up and a call of that field's dumper (a Python loop, about 6 us an event). The insert's
events always have one shape (uuid, int8, text, bytea), so `EventRows` packs them here, one
`struct` call and three byte strings an event, into the same bytes (array_send's layout, each
element record_send's); `tests/test_event_rows.py` compares the two for any events hypothesis
makes. `EventRowsDumper` is registered on each connection by the recorder (ledger/recorders.py),
which passes `EventRows(stored_events)` where it passed the composites.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from psycopg.adapt import Dumper
from psycopg.pq import Format

TYPE_NAME = "stored_event_uuid"  # eventsourcing's composite type of a stored event (migrations/postgresql/0001_*)
UUID_OID, INT8_OID, TEXT_OID, BYTEA_OID = 2950, 20, 25, 17
FIELDS = 4
# An element: its length, its field count, the id (oid, 16, bytes), the version (oid, 8, value), the
# topic's oid and length (its bytes follow), then the state's oid and length (its bytes follow).
_ELEMENT = struct.Struct(">iiii16siiqii")
_STATE = struct.Struct(">ii")
_ARRAY = struct.Struct(">iiiii")  # dimensions, has nulls, element oid, length, lower bound
_FIXED_SIZE = 4 + 8 + 16 + 8 + 8 + 8 + 8  # an element's bytes but for its topic and state


class EventRows:
    """Stored events to be sent as one `stored_event_uuid[]` parameter (binary)."""

    __slots__ = ("events",)

    def __init__(self, events: Sequence[StoredEvent]) -> None:
        self.events = events


class EventRowsDumper(Dumper):
    """`EventRows` in PostgreSQL's binary array format, for the connection it was made for (the
    composite's oids are the database's, its text is the connection's encoding)."""

    format = Format.BINARY

    def __init__(self, cls: type, context: Any = None) -> None:
        super().__init__(cls, context)
        connection = self.connection
        info = connection.adapters.types.get(TYPE_NAME) if connection is not None else None
        if connection is None or info is None:
            raise LookupError(f"the composite type {TYPE_NAME} is not registered on this connection")
        self.oid, self.element_oid = info.array_oid, info.oid
        self.encoding = connection.info.encoding

    def dump(self, obj: EventRows) -> bytes:
        events, encoding = obj.events, self.encoding
        parts = [_ARRAY.pack(1, 0, self.element_oid, len(events), 1)]
        append = parts.append
        for e in events:
            topic, state = e.topic.encode(encoding), e.state
            oid = e.originator_id if isinstance(e.originator_id, UUID) else UUID(str(e.originator_id))
            append(_ELEMENT.pack(_FIXED_SIZE + len(topic) + len(state), FIELDS, UUID_OID, 16, oid.bytes,
                                 INT8_OID, 8, e.originator_version, TEXT_OID, len(topic)))
            append(topic)
            append(_STATE.pack(BYTEA_OID, len(state)))
            append(state)
        return b"".join(parts)
