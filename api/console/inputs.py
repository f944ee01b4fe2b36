"""What the console's filter forms and command forms send, read the way people type it.

A filter left empty is no filter; a day is YYYY-MM-DD in the accounting time zone; a
reason is one line of bounded text. Anything else is refused with a message saying what
to type (a 422 page), never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from uuid import UUID

from ledger.domain.accounting_day import AccountingDay

from .web import Refused

REASON_LENGTH_MAX = 200  # characters of a reason (an account status change's is recorded in its event)
TEXT_LENGTH_MAX = 200  # a filter's text


def blank(value: str | None) -> str | None:
    """A filter's value, or None when left empty."""
    if value is None:
        return None
    value = value.strip()
    if len(value) > TEXT_LENGTH_MAX:
        raise Refused(422, f"{value[:40]!r}... is longer than {TEXT_LENGTH_MAX} characters")
    return value or None


def choice(value: str | None, allowed: Iterable[str], name: str) -> str | None:
    value = blank(value)
    options = list(allowed)
    if value is not None and value not in options:
        raise Refused(422, f"{name} must be one of {', '.join(options)}; got {value!r}")
    return value


def day(value: str | None, name: str) -> date | None:
    value = blank(value)
    if value is None:
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise Refused(422, f"{name} must be a day written YYYY-MM-DD; got {value!r}") from None
    if not 1970 <= parsed.year <= 9998:
        raise Refused(422, f"{name} must be a day from 1970 to 9998; got {value}")
    return parsed


def day_range(accounting_day: AccountingDay, first: str | None, last: str | None
              ) -> tuple[datetime | None, datetime | None]:
    """[start, end) of the accounting days from `first` to `last`, both included (either may be empty)."""
    start_day, end_day = day(first, "from"), day(last, "to")
    if start_day and end_day and end_day < start_day:
        raise Refused(422, f"the range ends ({end_day}) before it starts ({start_day})")
    return (accounting_day.bounds(start_day)[0] if start_day else None,
            accounting_day.bounds(end_day)[1] if end_day else None)


def reason(value: str | None) -> str:
    """A required reason: one line (runs of whitespace become one space), at most REASON_LENGTH_MAX characters."""
    text = " ".join((value or "").split())
    if not text:
        raise Refused(422, "give a reason: it is recorded with the change")
    if len(text) > REASON_LENGTH_MAX:
        raise Refused(422, f"the reason is longer than {REASON_LENGTH_MAX} characters ({len(text)})")
    return text


def uuid(value: str | None, name: str) -> UUID | None:
    value = blank(value)
    if value is None:
        return None
    try:
        return UUID(value)
    except ValueError:
        raise Refused(422, f"{name} must be an id such as 3f2b8c1e-...; got {value[:40]!r}") from None
