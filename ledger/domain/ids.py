"""Deterministic identifiers.

Command aggregates get `uuid5(NAMESPACE, scope + key)` ids (`uuid5` below), so a retried command
finds the outcome of the first attempt; accounts get ids from
`(business_id, external_ref)`; system accounts from their role, channel and currency.
"""

from __future__ import annotations

import hashlib
import json
from uuid import UUID, SafeUUID

import orjson

NAMESPACE = UUID("6f0c6e2a-8d35-4f3a-9a57-5b0e1e7c2f10")
_NAMESPACE_BYTES = NAMESPACE.bytes
_UNKNOWN = SafeUUID.unknown
# RFC 4122's variant and version 5, set as `UUID(bytes=..., version=5)` sets them.
_KEEP = ~((0xC000 << 48) | (0xF000 << 64))
_MARK = (0x8000 << 48) | (5 << 76)


def uuid5(name: str) -> UUID:
    """`uuid.uuid5(NAMESPACE, name)`, without `UUID.__init__`'s checks of the forms it is not given:
    every command makes one, in about two fifths of the library's time (`tests/test_ids.py` compares)."""
    digest = hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()
    made = object.__new__(UUID)
    object.__setattr__(made, "int", (int.from_bytes(digest[:16]) & _KEEP) | _MARK)  # UUID's instances are immutable
    object.__setattr__(made, "is_safe", _UNKNOWN)
    return made


def command_id(scope: str, key: str) -> UUID:
    return uuid5(f"{scope}\x1f{key}")


def referenced(reference: str | None) -> dict[str, str]:
    """A reference for a request's fingerprint: none adds nothing, so fingerprints without one stay as they were."""
    return {} if reference is None else {"reference": reference}


def account_id(business_id: str, external_ref: str) -> UUID:
    return uuid5(f"account\x1f{business_id}\x1f{external_ref}")


def system_account_id(role: str, currency: str, channel: str | None = None) -> UUID:
    return uuid5(f"system\x1f{role}\x1f{channel or ''}\x1f{currency}")


# The canonical text is `json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)`:
# fingerprints are stored (every command's `request_hash`), so it never changes. The encoder is made
# once (dumps builds one per call when given options).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # the integers orjson prints


def fingerprint(**arguments: object) -> str:
    """A stable hash of a command's arguments, to tell a retry from a conflicting reuse."""
    return hashlib.sha256(canonical(arguments)).hexdigest()


def canonical(arguments: dict[str, object]) -> bytes:
    """The arguments' canonical JSON (above). orjson writes it when it writes the same bytes: every
    value text of printable ASCII (the standard library escapes the rest as \\uXXXX), a 64-bit
    integer, a bool, None or a UUID (which orjson prints as `str()` does); anything else, json."""
    for key, value in arguments.items():
        kind = type(value)
        if kind is str:
            if not (value.isascii() and value.isprintable()):  # type: ignore[attr-defined]
                break
        elif kind is int:
            if not _INT_MIN <= value <= _INT_MAX:  # type: ignore[operator]
                break
        elif kind is not UUID and value is not None and kind is not bool:
            break
        if not (key.isascii() and key.isprintable()):
            break
    else:
        return orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS)
    return _CANONICAL.encode(arguments).encode()
