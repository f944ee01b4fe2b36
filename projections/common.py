"""Small things every view shares: time stamps, cursors, the shape of a batch."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from functools import singledispatchmethod
from typing import Any

from ledger.domain.errors import ValidationError
from ledger.domain.instants import iso


class dispatchmethod(singledispatchmethod):
    """`functools.singledispatchmethod`, without its cost per call on Python 3.11 (a new
    wrapper, `update_wrapper` and all, every time the method is looked up): the bound
    dispatcher is made once per view object and kept on it."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, cls: type | None = None) -> Callable[..., Any]:
        if obj is None:
            return super().__get__(obj, cls)
        dispatch = self.dispatcher.dispatch

        def method(event: Any, *args: Any, **kwargs: Any) -> Any:
            return dispatch(event.__class__)(obj, event, *args, **kwargs)

        obj.__dict__[self.name] = method  # found before this (non-data) descriptor from now on
        return method


# A batch is the events of one transaction of the runner: (log position, domain event).
Batch = list[tuple[int, Any]]

PAGE_SIZE_MAX = 1000


def booked_day(event: Any) -> str:
    """The accounting day an event recorded (`day`: a transfer, a payment's outcome), as YYYY-MM-DD;
    for an event from a log older than that record, its UTC date."""
    return getattr(event, "day", None) or iso(event.timestamp)[:10]


def from_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def encode_cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode("|".join(str(p) for p in parts).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, count: int) -> list[str]:
    try:
        parts = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        parts = []
    if len(parts) != count:
        raise ValidationError(f"cursor {cursor!r} is not one this service gave out")
    return parts


def cursor_int(text: str, cursor: str) -> int:
    """A number from a cursor, within a bigint, or the cursor is not one of ours."""
    if not text.isdigit() or int(text) >= 2**63:
        raise ValidationError(f"cursor {cursor!r} is not one this service gave out")
    return int(text)


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_SIZE_MAX:
        raise ValidationError(f"limit must be an integer from 1 to {PAGE_SIZE_MAX}, got {limit!r}")
    return limit


_METADATA: dict[str, dict[str, Any]] = {}
_METADATA_SIZE_MAX = 200_000


def account_metadata(cur: Any, account_ids: set[str]) -> dict[str, dict[str, Any]]:
    """Kind, business, role, channel and currency of accounts, from the balances view.

    These never change once an account is opened, so they are cached in the process.
    """
    missing = sorted(a for a in account_ids if a not in _METADATA)
    for start in range(0, len(missing), 500):
        chunk = missing[start : start + 500]
        rows = cur.execute(
            "SELECT account_id, kind, business_id, currency, role, channel FROM account_balances"
            f" WHERE account_id IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        if len(_METADATA) > _METADATA_SIZE_MAX:
            _METADATA.clear()
        _METADATA.update({row["account_id"]: row for row in rows})
    return {a: _METADATA[a] for a in account_ids if a in _METADATA}
