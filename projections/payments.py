"""Payments: recharges and withdrawals through channels, and channel activity per day.

Tables `payments` (one row per recharge or withdrawal, with its status, channel and
fee) and `channel_activity` (per channel, method, bank and accounting day:
successes, failures and the amount that succeeded). The day is the one each
outcome recorded (`Payment.Succeeded.day`, `.Failed.day`: the ledger's
AccountingDay when it was booked; the UTC date for outcomes from older logs), so
a replay never depends on configuration. Routing reads the day's amounts for
daily limits and recent success rates; the query path reads the payments left
pending; `payments.settled_day` is the day each outcome recorded (NULL before it
was recorded).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from ledger.domain.payments import Payment, Recharge, Withdrawal

from .common import Batch, Collects, booked_day, dispatchmethod, iso

OPEN = ("requested", "pending", "awaiting_confirmation", "redirected")
COLUMNS = ("id", "kind", "business_id", "account_id", "method", "bank", "currency", "amount", "status",
           "channel", "channel_txn_id", "fee", "created_at", "settled_at", "settled_day")


class PaymentsView(Collects):
    name = "payments"
    tables = {"payments": "id", "channel_activity": "channel, method, bank, day"}

    def write(self, cur: Any, batch: Batch) -> None:
        for _, event in batch:
            self.collect(event, cur)

    @dispatchmethod
    def collect(self, event: Any, cur: Any) -> None:
        """Other events are not payments."""

    @collect.register
    def _(self, event: Recharge.Requested, cur: Any) -> None:
        self._insert(cur, event, "recharge")

    @collect.register
    def _(self, event: Withdrawal.Requested, cur: Any) -> None:
        self._insert(cur, event, "withdrawal")

    @collect.register
    def _(self, event: Payment.Routed, cur: Any) -> None:
        cur.execute("UPDATE payments SET channel = ? WHERE id = ?", (event.channel, str(event.originator_id)))

    @collect.register
    def _(self, event: Payment.Submitted, cur: Any) -> None:
        cur.execute("UPDATE payments SET status = ?, channel_txn_id = ? WHERE id = ?",
                    (event.status, event.channel_txn_id, str(event.originator_id)))

    @collect.register
    def _(self, event: Payment.Succeeded, cur: Any) -> None:
        row = self._settle(cur, event, "succeeded", event.channel_txn_id, event.fee)
        self._count(cur, row, event, succeeded=1, amount=row["amount"])

    @collect.register
    def _(self, event: Payment.Failed, cur: Any) -> None:
        row = self._settle(cur, event, "failed", None, 0)
        if row["channel"] is not None:
            self._count(cur, row, event, failed=1)

    @collect.register
    def _(self, event: Withdrawal.Returned, cur: Any) -> None:
        cur.execute("UPDATE payments SET status = 'returned' WHERE id = ?", (str(event.originator_id),))

    @staticmethod
    def _insert(cur: Any, event: Any, kind: str) -> None:
        cur.execute(
            f"INSERT INTO payments ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            (str(event.originator_id), kind, event.business_id, str(event.account_id), event.method, event.bank,
             event.currency, event.amount, "requested", None, None, 0, iso(event.timestamp), None, None),
        )

    @staticmethod
    def _settle(cur: Any, event: Any, status: str, channel_txn_id: str | None, fee: int) -> dict[str, Any]:
        cur.execute(
            "UPDATE payments SET status = ?, channel_txn_id = COALESCE(?, channel_txn_id), fee = ?, settled_at = ?,"
            " settled_day = ? WHERE id = ?",
            (status, channel_txn_id, fee, iso(event.timestamp), getattr(event, "day", None), str(event.originator_id)),
        )
        return cur.execute("SELECT * FROM payments WHERE id = ?", (str(event.originator_id),))[0]

    @staticmethod
    def _count(cur: Any, row: dict[str, Any], event: Any, succeeded: int = 0, failed: int = 0, amount: int = 0) -> None:
        cur.execute(
            "INSERT INTO channel_activity (channel, method, bank, day, succeeded, failed, amount_succeeded)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel, method, bank, day) DO UPDATE SET"
            " succeeded = channel_activity.succeeded + excluded.succeeded,"
            " failed = channel_activity.failed + excluded.failed,"
            " amount_succeeded = channel_activity.amount_succeeded + excluded.amount_succeeded",
            (row["channel"], row["method"], row["bank"], booked_day(event), succeeded, failed, amount),
        )


# -- queries ---------------------------------------------------------------------------


def channel_activity(store: Any, method: str, bank: str, day: str) -> tuple[dict[str, int], dict[str, int]]:
    """Amount used on accounting day `day` (YYYY-MM-DD) per channel (this method and bank), and
    each channel's success rate for this method over that day and the one before, in basis
    points (none yet: 100%)."""
    used = {r["channel"]: r["amount_succeeded"] for r in store.query(
        "SELECT channel, amount_succeeded FROM channel_activity WHERE method = ? AND bank = ? AND day = ?",
        (method, bank, day),
    )}
    yesterday = (datetime.fromisoformat(day) - timedelta(days=1)).date().isoformat()
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in store.query(
        "SELECT channel, succeeded, failed FROM channel_activity WHERE method = ? AND day >= ? AND day <= ?",
        (method, yesterday, day),
    ):
        counts[r["channel"]][0] += r["succeeded"]
        counts[r["channel"]][1] += r["failed"]
    rates = {channel: (s * 10_000) // (s + f) for channel, (s, f) in counts.items() if s + f}
    return used, rates


def open_payments(store: Any, now: datetime, older_than: timedelta, limit: int = 1000) -> list[dict[str, Any]]:
    """Payments still waiting for a channel's answer since before `now - older_than`, the oldest first."""
    cutoff = iso(now - older_than)
    marks = ", ".join("?" * len(OPEN))
    return store.query(
        f"SELECT * FROM payments WHERE status IN ({marks}) AND created_at <= ? ORDER BY created_at LIMIT ?",
        (*OPEN, cutoff, limit),
    )


def day_activity(store: Any, channels: list[str], window: tuple[str, str]) -> list[dict[str, Any]]:
    """Per channel, bank and currency, the payments of `channels` whose outcome was booked in `window`
    (an accounting day's bounds, `AccountingDay.window`): how many succeeded (returned later or not),
    how many failed, and the amount that succeeded. Read through the (channel, settled_at) index."""
    if not channels:
        return []
    marks = ", ".join("?" * len(channels))
    rows = store.query(
        "SELECT channel, bank, currency, SUM(CASE WHEN status = 'failed' THEN 0 ELSE 1 END) AS succeeded,"
        " SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed,"
        " SUM(CASE WHEN status = 'failed' THEN 0 ELSE amount END) AS amount_succeeded"
        f" FROM payments WHERE channel IN ({marks}) AND settled_at >= ? AND settled_at < ?"
        " AND status IN ('succeeded', 'failed', 'returned')"
        " GROUP BY channel, bank, currency ORDER BY channel, bank, currency",
        (*channels, *window),
    )
    return [{**row, "succeeded": int(row["succeeded"]), "failed": int(row["failed"]),
             "amount_succeeded": int(row["amount_succeeded"])} for row in rows]
