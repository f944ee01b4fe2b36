"""The hash chain over the event log: one link per stored event, in log-position order.

    h(0) = GENESIS                     (32 zero bytes)
    h(n) = link(h(n-1), position, originator_id, originator_version, topic, state)

`link` is SHA-256 over an unambiguous encoding: fixed-width fields big-endian, the
variable ones (topic, state) each preceded by its length, so no two different events
encode to the same bytes:

    previous hash             32 bytes
    position                   8 bytes, signed big-endian (PostgreSQL's int8send)
    originator id             16 bytes (the UUID's bytes; PostgreSQL's uuid_send)
    originator version         8 bytes, signed big-endian
    len(topic as UTF-8)        4 bytes, signed big-endian (int4send)
    topic as UTF-8
    len(state)                 8 bytes, signed big-endian
    state                      the stored bytes, exactly as in the events table

"Previous" is the link of the event at the highest position below this one (positions
may skip numbers: a rolled-back insert on PostgreSQL uses up ids).
`migrations/postgresql/0012_event_chain.sql` computes the same function in SQL
(`fundcenter_chain_link`), and the insert functions (0018's to 0021's) spell it inline;
`links_after` is what the recorder sends with an insert for 0021's function to store;
`tests/test_audit_chain.py` checks that they all agree.

A snapshot is sealed to the chain by `seal`: the same encoding over the snapshot's
own row, with the chain's link at the log position of the event at the snapshot's
version as "previous" (and that position as the position). An edited snapshot, or one
taken of other events than those in the log, no longer matches its seal.

No I/O here: the stores are in `ledger.audit.chain_store`.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from typing import Any
from uuid import UUID

HASH_BYTES = 32
GENESIS = bytes(HASH_BYTES)  # the link before the first event
_HEAD = struct.Struct(">q16sqi")  # position, originator id, originator version, len(topic)
_STATE_LEN = struct.Struct(">q")
_sha256 = hashlib.sha256


def link(previous: bytes, position: int, originator_id: UUID, originator_version: int, topic: str, state: bytes) -> bytes:
    """The chain's link for the event at `position`, after the link `previous`."""
    return link_raw(previous, position, originator_id.bytes, originator_version, topic.encode(), state)


def link_raw(
    previous: bytes, position: int, originator_id: bytes, originator_version: int, topic: bytes, state: bytes
) -> bytes:
    """`link` on the stored forms: the id's 16 bytes and the topic's UTF-8 (what the verifier streams)."""
    return _sha256(
        b"".join((
            previous,
            _HEAD.pack(position, originator_id, originator_version, len(topic)),
            topic,
            _STATE_LEN.pack(len(state)),
            state,
        ))
    ).digest()


def links_after(previous: bytes, position: int, events: Iterable[Any]) -> tuple[bytes, bytes]:
    """The links of `events` (stored events: originator_id, originator_version, topic, state) at the
    positions after `position`, whose link is `previous`: (their 32-byte links joined, the last one).
    What the recorder sends with an insert (migration 0021) when it knows where the chain ends.
    (`link`'s bytes, fed to one hash object each: a third quicker than joining them first.)"""
    head, state_len, sha256 = _HEAD.pack, _STATE_LEN.pack, _sha256
    links = []
    for e in events:
        position += 1
        oid, topic, state = e.originator_id, e.topic.encode(), e.state
        h = sha256(previous)
        h.update(head(position, oid.bytes if isinstance(oid, UUID) else UUID(str(oid)).bytes, e.originator_version, len(topic)))
        h.update(topic)
        h.update(state_len(len(state)))
        h.update(state)
        previous = h.digest()
        links.append(previous)
    return b"".join(links), previous


def seal(chain_hash: bytes, position: int, originator_id: UUID, originator_version: int, topic: str, state: bytes) -> bytes:
    """A snapshot's seal: `link` over the snapshot's row, after the chain's link at `position`,
    the log position of the aggregate's event at the snapshot's version."""
    return link(chain_hash, position, originator_id, originator_version, topic, state)
