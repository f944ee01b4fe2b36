"""Reports: the transactions list, the trial balance, suspense, the event log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from ledger.domain.errors import ValidationError
from projections import verify_runs
from projections.suspense import suspense
from projections.transactions import list_transactions
from projections.trial_balance import Totals, account_balances, trial_balance_by_account

from .caller import Caller
from .exports import TRIAL_BALANCE_CSV, csv_lines

EVENT_FIELDS_HIDDEN = {"secret_hash", "signing_secret"}
SUSPENSE_DAYS_DEFAULT, SUSPENSE_DAYS_MAX = 14, 366  # the days a suspense chart spans
SUSPENSE_DAY_MIN, SUSPENSE_DAY_MAX = date(1970, 1, 1), date(9999, 12, 30)  # its last day: never a day out of range


class Reports(Caller):
    """The query routes' calls."""

    def transactions(self, min_position: int | None, **filters: Any) -> dict[str, Any]:
        if self.who.business_id is not None:
            if filters.get("business_id") not in (None, self.who.business_id):
                return {"items": [], "next_cursor": None}
            filters["business_id"] = self.who.business_id
        if filters.get("account_id") is not None:
            self._own(filters["account_id"])
        self.services.wait_for(min_position)
        items, following = list_transactions(self.views, **filters)
        return {"items": items, "next_cursor": following}

    def trial_balance(self, as_of: datetime | None, include_zero: bool, min_position: int | None) -> dict[str, Any]:
        self.services.wait_for(min_position)
        position, moment = self.services.runner.position, as_of or self.ledger.clock()
        return {"position": position, "as_of": moment,
                **trial_balance_by_account(self.views, as_of, include_zero=include_zero)}

    def trial_balance_summary(self, as_of: datetime | None) -> dict[str, Any]:
        """The trial balance for a page, however many accounts: per currency its two columns
        (`currencies`), the customer accounts summed per currency and kind (`kinds`), and each
        system account with a balance (`system`: a few per channel and currency). Read as a
        stream, so memory does not grow with the number of accounts; the CSV lists each one."""
        moment, totals = as_of or self.ledger.clock(), Totals()
        kinds: dict[tuple[str, str], dict[str, Any]] = {}
        system = []
        for row in account_balances(self.views, as_of):
            totals.add(row)
            if row["kind"] == "system":
                if row["debit"] or row["credit"]:
                    system.append({name: row[name] for name in ("account_id", "name", "currency", "role", "channel",
                                                                "debit", "credit")})
                continue
            kind = kinds.setdefault((row["currency"], row["kind"]), {
                "currency": row["currency"], "kind": row["kind"], "accounts": 0, "debit": 0, "credit": 0})
            kind["accounts"] += 1
            kind["debit"] += row["debit"]
            kind["credit"] += row["credit"]
        return {"as_of": moment, "currencies": totals.balances(), "kinds": [kinds[k] for k in sorted(kinds)],
                "system": system}

    def trial_balance_csv(self, as_of: datetime | None, include_zero: bool, min_position: int | None) -> Iterator[str]:
        """The trial balance as CSV, streamed: a line per account, then a total line per currency."""
        self.services.wait_for(min_position)
        rows = account_balances(self.views, as_of)

        def lines() -> Iterator[dict[str, Any]]:
            totals = Totals()
            for row in rows:
                totals.add(row)
                if include_zero or row["debit"] or row["credit"]:
                    yield {**row, "line": "account"}
            for total in totals.balances():
                yield {"line": "total", "currency": total["currency"], "debit": total["debit"], "credit": total["credit"]}

        return csv_lines(TRIAL_BALANCE_CSV, lines())

    def suspense(self, channel: str | None, day: str | None, min_position: int | None) -> dict[str, Any]:
        self.services.wait_for(min_position)
        return {"position": self.services.runner.position, "days": suspense(self.views, channel=channel, day=day)}

    def suspense_over(self, days: int = SUSPENSE_DAYS_DEFAULT, last: str | None = None,
                      channel: str | None = None) -> dict[str, Any]:
        """Suspense over `days` accounting days up to `last` (today by default), for a chart: `days`
        (every day, oldest first), `series` per channel and currency with the pending and reconciled
        amount of each day (0 when nothing was booked), and `rows` as `suspense` lists them."""
        if not 1 <= days <= SUSPENSE_DAYS_MAX:
            raise ValidationError(f"days must be from 1 to {SUSPENSE_DAYS_MAX}, got {days}")
        try:
            end = date.fromisoformat(last or self.ledger.today())
        except ValueError:
            raise ValidationError(f"the last day must be a day such as 2026-11-25, got {str(last)[:20]!r}") from None
        if not SUSPENSE_DAY_MIN <= end <= SUSPENSE_DAY_MAX:
            raise ValidationError(f"the last day must be within {SUSPENSE_DAY_MIN} and {SUSPENSE_DAY_MAX}, got {end}")
        every = [(end - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
        rows = suspense(self.views, channel=channel, start=every[0], end=every[-1])
        series: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            line = series.setdefault((row["channel"], row["currency"]), {
                "channel": row["channel"], "currency": row["currency"],
                "pending": dict.fromkeys(every, 0), "reconciled": dict.fromkeys(every, 0)})
            line["pending"][row["day"]] = row["pending"]
            line["reconciled"][row["day"]] = row["reconciled"]
        return {"days": every, "rows": rows, "series": [
            {**line, "pending": list(line["pending"].values()), "reconciled": list(line["reconciled"].values())}
            for _, line in sorted(series.items())]}

    def events(self, after: int, limit: int, topics: list[str] | None = None) -> dict[str, Any]:
        """The log after `after`, `limit` events at most; with `topics`, only events of those topics
        (`next_after` then pages on past the events skipped)."""
        notifications = self.ledger.recorder.select_notifications(
            start=after, limit=limit, topics=topics or (), inclusive_of_start=False)
        events = [_shown(n.id, self.ledger.mapper.to_domain_event(n)) for n in notifications]
        return {"events": events, "next_after": events[-1]["position"] if len(events) == limit else None}

    def verifications(self, kind: str | None, limit: int) -> dict[str, Any]:
        """The recorded `fundcenter replay` / `audit verify` runs, latest first, each with `behind`: how
        far the log has moved since (from its head now, also given)."""
        head = self.ledger.head()
        return {"head": head, "runs": [_since(run, head) for run in verify_runs.runs(self.views, kind, limit)]}

    def last_verifications(self, head: int) -> dict[str, dict[str, Any] | None]:
        """The last run of each kind (None: never run), with `behind` from the log's `head`."""
        return {kind: run and _since(run, head) for kind, run in verify_runs.last_runs(self.views).items()}

    def aggregate_events(self, originator_id: UUID, limit: int) -> list[dict[str, Any]]:
        """The first `limit` events of one aggregate, oldest first (`position` None: the log's
        position is not kept with an aggregate's own sequence)."""
        return [_shown(None, event) for event in self.ledger.events.get(originator_id, limit=limit)]


def _since(run: dict[str, Any], head: int) -> dict[str, Any]:
    return {**run, "behind": max(head - run["head_position"], 0)}


def _shown(position: int | None, event: Any) -> dict[str, Any]:
    """An event as the API and the console show it: its topic, aggregate, version, time and data
    (without secret hashes)."""
    return {
        "position": position, "topic": get_topic(type(event)), "originator_id": event.originator_id,
        "originator_version": event.originator_version, "timestamp": event.timestamp,
        "data": {k: v for k, v in vars(event).items()
                 if k not in EVENT_FIELDS_HIDDEN and not k.startswith("originator_") and k != "timestamp"},
    }
