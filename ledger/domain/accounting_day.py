"""The accounting day (日切): from the cut-off on a day to the cut-off on the next, in one time zone.

One value, made from the settings (`FUNDCENTER_ACCOUNTING_TIMEZONE`, `_CUTOFF`),
used wherever the ledger speaks of "a day": reconciliation windows, suspense,
routing's daily limits, reports, the demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ValidationError
from .instants import iso


@dataclass(frozen=True)
class AccountingDay:
    timezone: str = "UTC"
    cutoff: time = time(0, 0)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"accounting time zone {self.timezone!r} is not an IANA time zone") from None

    @classmethod
    def of(cls, timezone: str, cutoff: str) -> AccountingDay:
        """From the settings' text: a time zone name and an HH:MM cut-off."""
        try:
            return cls(timezone, time.fromisoformat(cutoff))
        except ValueError:
            raise ValidationError(f"accounting cut-off {cutoff!r} is not HH:MM") from None

    def bounds(self, day: date) -> tuple[datetime, datetime]:
        """The day's first instant and the next day's, in UTC."""
        zone = ZoneInfo(self.timezone)
        start = datetime.combine(day, self.cutoff, zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), self.cutoff, zone).astimezone(UTC)
        return start, end

    def steady_bounds(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's bounds if the zone's offset is the same at both (its clocks do not change that
        day): then `day_of` gives `day` for every instant in them and for no other. None otherwise."""
        start, end = self.bounds(day)
        zone = ZoneInfo(self.timezone)
        if start.astimezone(zone).utcoffset() != end.astimezone(zone).utcoffset():
            return None
        return start, end

    def window(self, day: date) -> tuple[str, str]:
        """The day's bounds as the views' fixed-width UTC text."""
        start, end = self.bounds(day)
        return iso(start), iso(end)

    def day_of(self, moment: datetime) -> date:
        """The accounting day an instant belongs to."""
        local = moment.astimezone(ZoneInfo(self.timezone))
        return local.date() if local.time() >= self.cutoff else local.date() - timedelta(days=1)
