"""Checks on the plain inputs of commands: names, references, keys, free text.

Everything has a limit, so no input can grow the log without bound.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .errors import InvalidExpiry, ValidationError

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")  # the control characters free text refuses: all but tab and newline
# An idempotency key as a client sends it (the Idempotency-Key header, a batch item's key).
CLIENT_KEY_LENGTH_MAX = 255
# The ledger sees keys with the caller's scope in front ("business/<64-char id>/") and
# sometimes a suffix (a batch item's index): room for both around a client's key.
KEY_LENGTH_MAX = 512
assert CLIENT_KEY_LENGTH_MAX + 128 <= KEY_LENGTH_MAX  # room for the scope (74 characters) and a suffix
REF_LENGTH_MAX = 128
NAME_LENGTH_MAX = 200  # a name (account, key, bank, channel) or an actor, in characters
TEXT_LENGTH_MAX = 500
assert NAME_LENGTH_MAX <= TEXT_LENGTH_MAX


def check_code(value: object, name: str) -> str:
    """Identifiers such as business ids and channel codes: 1-64 of [A-Za-z0-9_.:-]."""
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise ValidationError(f"{name} must be 1-64 characters of letters, digits, '_', '.', ':' or '-', got {value!r}")
    return value


def check_text(value: object, name: str, *, required: bool = False, length_max: int = TEXT_LENGTH_MAX) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise ValidationError(f"{name} is required")
    if len(value) > length_max:
        raise ValidationError(f"{name} is longer than {length_max} characters")
    if _CONTROL.search(value):
        raise ValidationError(f"{name} contains control characters")
    return value


def check_key(value: object, name: str = "idempotency key") -> str:
    return check_text(value, name, required=True, length_max=KEY_LENGTH_MAX)


def check_ref(value: object, name: str) -> str:
    return check_text(value, name, required=True, length_max=REF_LENGTH_MAX)


# Every instant the ledger accepts lies here, in UTC after its offset: a projection turns
# each into fixed-width UTC text, which a later instant (9999-12-31T23:59:59-14:00 is
# 10000-01-01 in UTC) or an earlier one (0001-01-01T00:00:00+14:00) would overflow.
MOMENT_MIN = datetime(1970, 1, 1, tzinfo=UTC)
MOMENT_MAX = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def moment_problem(value: datetime) -> str | None:
    """Why an instant is not one the ledger takes (naive, or outside MOMENT_MIN..MOMENT_MAX), or None.

    Aware datetimes compare by their UTC instant without converting, so this never overflows."""
    if value.tzinfo is None or value.utcoffset() is None:
        return "must carry a time zone offset (e.g. Z or +08:00)"
    if not MOMENT_MIN <= value <= MOMENT_MAX:
        return "must be within 1970-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z (in UTC, after its offset)"
    return None


def check_moment(value: object, name: str, error: type[ValidationError] = ValidationError) -> datetime:
    if not isinstance(value, datetime):
        raise error(f"{name} must be a timezone-aware datetime")
    problem = moment_problem(value)
    if problem is not None:
        raise error(f"{name} {problem}")
    return value


def check_expiry(expires_at: object, now: datetime) -> datetime | None:
    if expires_at is None:
        return None
    moment = check_moment(expires_at, "expires_at", InvalidExpiry)
    if moment <= now:
        raise InvalidExpiry(f"expires_at {moment.isoformat()} is not in the future")
    return moment
