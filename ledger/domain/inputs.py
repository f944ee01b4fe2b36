"""Checks on the plain inputs of commands: names, references, keys, free text.

Everything has a limit, so no input can grow the log without bound.
"""

from __future__ import annotations

import re
from datetime import datetime

from .errors import InvalidExpiry, ValidationError

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
KEY_LENGTH_MAX = 128
REF_LENGTH_MAX = 128
TEXT_LENGTH_MAX = 500


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
    if any(ord(c) < 32 and c not in "\t\n" for c in value):
        raise ValidationError(f"{name} contains control characters")
    return value


def check_key(value: object, name: str = "idempotency key") -> str:
    return check_text(value, name, required=True, length_max=KEY_LENGTH_MAX)


def check_ref(value: object, name: str) -> str:
    return check_text(value, name, required=True, length_max=REF_LENGTH_MAX)


def check_expiry(expires_at: object, now: datetime) -> datetime | None:
    if expires_at is None:
        return None
    if not isinstance(expires_at, datetime) or expires_at.tzinfo is None:
        raise InvalidExpiry("expires_at must be a timezone-aware datetime")
    if expires_at <= now:
        raise InvalidExpiry(f"expires_at {expires_at.isoformat()} is not in the future")
    return expires_at
