"""The Reconciler: import (or fetch) a channel's statement for a day and currency, match it,
resolve its differences, close the day; list reconciliations and the overdue waits.

The statement streams into a staging table inside one transaction (a malformed line
rejects the whole file, naming the line and why; nothing is imported), and is matched
and classified in SQL (`matching`), so a statement of any size is reconciled in bounded
memory. The `Reconciliation` aggregate records the import's summary, each resolution
(who, which action, why, which transfers) and the close.

The accounting day (日切) is [cut-off on `day`, cut-off on the next day) in the
configured time zone; a payment belongs to the day its outcome was booked.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from datetime import date
from typing import IO, Any
from uuid import UUID

from ledger.application import FundCenter
from ledger.channels.gateway import ChannelUnavailable, GatewayRegistry
from ledger.channels.service import GatewayMissing
from ledger.domain import ids
from ledger.domain.accounting_day import AccountingDay
from ledger.domain.errors import LedgerError, NotFound, ValidationError
from ledger.domain.inputs import check_code, check_text
from ledger.domain.money import check_currency
from ledger.domain.reconciliation import DEFAULT_CURRENCY, DayClosed, Reconciliation, net, scope
from ledger.reconciliation import StatementMatch

from ..store import ViewStore
from . import matching, reports
from . import statement as statements
from .reports import DifferenceNotFound
from .statement import StatementRejected

WAIT_MAX_DAYS = 3  # a difference waiting longer than this many days is overdue (the setting's default)
DAY_MIN, DAY_MAX = date(1970, 1, 1), date(9999, 12, 30)  # a day's window must end within the ledger's instants


class ChannelNotFound(NotFound):
    pass


class DayNotBegun(ValidationError):
    pass


class StatementUnavailable(LedgerError):
    code = "channel-unavailable"
    status = 503


class Reconciler:
    def __init__(self, ledger: FundCenter, store: ViewStore, accounting_day: AccountingDay | None = None,
                 catch_up: Callable[[], Any] | None = None, *, gateways: GatewayRegistry | None = None,
                 wait_max_days: int = WAIT_MAX_DAYS) -> None:
        self.ledger, self.store = ledger, store
        self.accounting_day = accounting_day or AccountingDay()
        self.catch_up = catch_up or (lambda: None)
        self.gateways = gateways
        self.wait_max_days = wait_max_days

    # -- import and match -------------------------------------------------------------------

    def check_scope(self, channel: str, day: date, currency: str) -> None:
        """A channel we know, a currency, and a day that has begun (by the ledger's clock)."""
        check_code(channel, "channel")
        check_currency(currency)
        if channel not in self.ledger.catalog().channels:
            raise ChannelNotFound(f"channel {channel} not found")
        if not DAY_MIN <= day <= DAY_MAX:
            raise ValidationError(f"date must be within {DAY_MIN} and {DAY_MAX}, got {day}")
        start, _ = self.accounting_day.bounds(day)
        if self.ledger.clock() < start:
            raise DayNotBegun(f"the accounting day {day} has not begun yet: it begins at {start.isoformat()}"
                              f" ({self.accounting_day.timezone} {self.accounting_day.cutoff.strftime('%H:%M')})")

    def import_statement(self, channel: str, day: date, statement: IO[bytes], by: str,
                         currency: str = DEFAULT_CURRENCY) -> Reconciliation:
        self.check_scope(channel, day, currency)
        digest = hashlib.sha256()
        for chunk in iter(lambda: statement.read(1 << 20), b""):
            digest.update(chunk)
        statement.seek(0)
        file_hash = digest.hexdigest()
        reconciliation_id = ids.command_id("reconciliation", f"{scope(channel, day.isoformat(), currency)}/{file_hash}")
        try:
            return self.ledger.get_reconciliation(reconciliation_id)  # the same file again: nothing changes
        except NotFound:
            pass
        closed = self.ledger.reconciled_day(channel, day.isoformat(), currency)
        if closed is not None:
            raise DayClosed(f"{channel} {day.isoformat()} {currency} was already reconciled and closed by"
                            f" reconciliation {closed.reconciliation_id}")
        self.catch_up()  # match against the ledger (and the waiting differences) as they are now
        start, end = self.accounting_day.window(day)
        rid = str(reconciliation_id)
        with self.store.transaction() as cur:
            matching.clear(cur, rid)
            matching.create_scratch(cur)
            lines = statements.load(cur, matching.STAGING, statement, matching.keep_block(cur, rid))
            if (why := statements.duplicate_line(cur, matching.STAGING)) is not None:
                raise StatementRejected(why)
            matching.collect_waiting(cur, rid, channel, currency, day.isoformat())
            matching.match(cur, rid, channel, currency, day.isoformat(), start, end, lines)
            matching.record_matched(cur, rid, lines)
            classes, ours = matching.summary(cur, rid)
            matching.drop_scratch(cur)
        match = StatementMatch(lines=lines, ours=ours, classes=classes, starts_at=start, ends_at=end)
        return self.ledger.record_import(reconciliation_id, channel, day.isoformat(), file_hash, match, by, currency)

    def fetch(self, channel: str, day: date, by: str, currency: str = DEFAULT_CURRENCY) -> Reconciliation:
        """Get the day's statement from the channel's gateway and import it as if uploaded."""
        self.check_scope(channel, day, currency)
        gateway = self.gateways.get(channel) if self.gateways is not None else None
        if gateway is None:
            raise GatewayMissing(f"channel {channel!r} is not connected to this process")
        try:
            text = gateway.statement(day, currency=currency)
        except ChannelUnavailable as error:
            raise StatementUnavailable(f"{channel} did not give its statement of {day}: {error}") from None
        return self.import_statement(channel, day, io.BytesIO(text.encode("utf-8")), by, currency)

    # -- resolve and close --------------------------------------------------------------------

    def resolve(self, reconciliation_id: UUID, seq: int, action: str, by: str, reason: str) -> Reconciliation:
        check_text(reason, "reason", required=True)
        reconciliation = self.ledger.get_reconciliation(reconciliation_id)
        line = self.difference(reconciliation_id, seq)
        reconciliation.check_resolvable(seq, line["class"], action)
        was_waiting = reconciliation.is_waiting(seq)
        key = f"{reconciliation_id}/{seq}/{action}"
        theirs = net(line["kind"], line["their_amount"], line["their_fee"], line["their_status"])
        transfers: list[UUID] = []
        if action == "complete":
            transfers = self._complete(line, reason)
        elif action == "reverse":
            transfers = [t.id for t in self._reverse(line, reason, key)]
        elif action in ("book_difference", "write_off"):
            self._check_not_pending(line)
            delta = theirs - net(line["kind"], line["our_amount"], line["our_fee"], line["our_status"])
            if delta:
                transfer = self.ledger.post_difference(
                    key, reconciliation.channel, reconciliation.currency, delta, f"{action}: {reason}",
                    {"reconciliation": str(reconciliation_id), "difference": str(seq), "day": reconciliation.day},
                )
                transfers = [transfer.id]
        settles = theirs if was_waiting and reconciliation.is_closed else 0
        return self.ledger.record_resolution(reconciliation_id, seq, line["class"], action, by, reason, transfers,
                                             settles=settles)

    def close(self, reconciliation_id: UUID, by: str) -> Reconciliation:
        reconciliation = self.ledger.get_reconciliation(reconciliation_id)
        reconciliation.check_can_close()
        return self.ledger.close_reconciliation(reconciliation_id, reports.close_figures(self.store, reconciliation), by)

    # -- what it shows ---------------------------------------------------------------------------

    def difference(self, reconciliation_id: UUID, seq: int) -> dict[str, Any]:
        return reports.difference(self.store, reconciliation_id, seq)

    def lines(self, reconciliation_id: UUID, *, differences_only: bool = False, after: int = 0,
              limit: int = 100) -> list[dict[str, Any]]:
        return reports.lines(self.store, reconciliation_id, differences_only=differences_only, after=after, limit=limit)

    def csv_report(self, reconciliation_id: UUID, kind: str, part: str) -> Iterator[str]:
        reconciliation = self.ledger.get_reconciliation(reconciliation_id)
        return reports.csv_report(self.store, reconciliation, kind, part)

    def overdue(self, channel: str | None = None, currency: str | None = None) -> list[dict[str, Any]]:
        """The differences waiting longer than `wait_max_days` days, as of the ledger's clock."""
        today = self.accounting_day.day_of(self.ledger.clock())
        return reports.overdue(self.store, today, self.wait_max_days, channel=channel, currency=currency)

    def overdue_counts(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for row in self.overdue():
            counts[(row["channel"], row["currency"])] = counts.get((row["channel"], row["currency"]), 0) + 1
        return counts

    # -- the actions that post -------------------------------------------------------------------

    def _check_not_pending(self, line: dict[str, Any]) -> None:
        if line["payment_id"] is None or line["our_status"] is not None or line["class"] == "duplicate":
            return
        payment = self.ledger.get_payment(UUID(line["payment_id"]))
        if not payment.is_final:
            raise ValidationError(f"payment {payment.id} is still {payment.status}: complete it as the channel's line"
                                  " says, or wait for its outcome (booking the line as well would count it twice)")

    def _complete(self, line: dict[str, Any], reason: str) -> list[UUID]:
        if line["payment_id"] is None:
            raise ValidationError("this line names no payment of ours: book it to difference or write it off")
        payment = self.ledger.get_payment(UUID(line["payment_id"]))
        if payment.is_final:
            raise ValidationError(f"payment {payment.id} is already {payment.status}: book the difference or write it off")
        settled = self.ledger.settle_payment(
            payment.id, line["their_status"], channel_txn_id=line["channel_txn_id"], fee=line["their_fee"] or 0,
            reason=f"completed from the statement: {reason}",
        )
        return list(settled.transfer_ids)

    def _reverse(self, line: dict[str, Any], reason: str, key: str) -> list[Any]:
        if line["payment_id"] is None or line["our_status"] != "succeeded":
            raise ValidationError("only a recharge or payout we booked as succeeded can be reversed")
        return self.ledger.reverse_payment(UUID(line["payment_id"]), f"reconciliation: {reason}", key)


__all__ = [
    "WAIT_MAX_DAYS",
    "ChannelNotFound",
    "DayNotBegun",
    "DifferenceNotFound",
    "Reconciler",
    "StatementRejected",
    "StatementUnavailable",
]
