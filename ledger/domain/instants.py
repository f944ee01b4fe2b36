"""Instants as text: the views' fixed-width `iso`, and the channels' `rfc3339`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

ISO_MIN = datetime.min.replace(tzinfo=UTC)
ISO_MAX = datetime.max.replace(tzinfo=UTC)


@overload
def iso(moment: datetime) -> str: ...
@overload
def iso(moment: None) -> None: ...
def iso(moment: datetime | None) -> str | None:
    """Fixed-width UTC text, so that text order is time order on both databases.

    Never raises on an aware datetime. The ledger takes only instants from 1970 to
    9999-12-31 UTC (ledger.domain.inputs.MOMENT_MAX), but a log written before that
    bound may hold one whose UTC instant lies outside Python's datetime range (say
    9999-12-31T23:59:59-14:00, which is 10000-01-01T13:59:59Z): it is clamped to
    0001-01-01T00:00:00.000000Z or 9999-12-31T23:59:59.999999Z, which keeps the
    order against every other instant (the far-future hold simply never expires).
    The year has four digits (isoformat pads it; strftime's %Y does not pad
    years before 1000 on every platform)."""
    if moment is None:
        return None
    try:
        utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    except OverflowError:
        utc = ISO_MAX if moment.year > 1 else ISO_MIN  # only the first and last day can overflow
    return utc.isoformat(timespec="microseconds")[:26] + "Z"  # isoformat pads the year to four digits


def rfc3339(moment: datetime) -> str:
    """The shortest RFC 3339 text in UTC (`2026-11-25T10:00:00Z`, microseconds only when there are some):
    how the channels write their statements and callbacks. A naive reading is taken as UTC already."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.isoformat().replace("+00:00", "Z")
