"""Suspense: per channel, currency and accounting day, what sits in the channel's
`pending_reconciliation` account versus what has been moved to `reconciled`.

Table `suspense_days`: debits and credits per (channel, currency, day, role).
A recharge debits pending_reconciliation (the channel owes us); reconciliation
moves the matched total to `reconciled`, booked on the day it reconciles (its
`references["day"]`). Every other posting counts on the accounting day its
transfer recorded (`Transfer.day`, from the ledger's AccountingDay when it was
booked), so a replay gives the same days whatever the configuration is now;
transfers from logs older than that record count on their UTC date.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ledger.domain.accounts import SystemRole
from ledger.domain.transfers import Transfer

from .common import AccountMetadata, Batch, Collects, booked_day, dispatchmethod, posted_texts

ROLES = (SystemRole.PENDING_RECONCILIATION.value, SystemRole.RECONCILED.value)


class SuspenseView(Collects):
    name = "suspense"
    tables = {"suspense_days": "channel, currency, day, role"}

    def __init__(self) -> None:
        self.account_metadata = AccountMetadata()

    def changes(self, batch: Batch) -> list[tuple[str, str, dict[str, Any]]]:
        """The batch's postings: (account, day, posting)."""
        postings: list[tuple[str, str, dict[str, Any]]] = []
        collect = self.collect
        for _, event in batch:
            collect(event, postings)
        return postings

    def write(self, cur: Any, postings: list[tuple[str, str, dict[str, Any]]]) -> None:
        if not postings:
            return
        accounts = self.account_metadata(cur, {account for account, _, _ in postings})
        totals: dict[tuple[str, str, str, str], list[int]] = defaultdict(lambda: [0, 0])
        for account_id, day, p in postings:
            meta = accounts.get(account_id)
            if meta is None or meta["role"] not in ROLES:
                continue
            total = totals[(meta["channel"], meta["currency"], day, meta["role"])]
            total[0 if p["side"] == "debit" else 1] += p["amount"]
        cur.executemany(
            "INSERT INTO suspense_days (channel, currency, day, role, debits, credits) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (channel, currency, day, role) DO UPDATE SET"
            " debits = suspense_days.debits + excluded.debits, credits = suspense_days.credits + excluded.credits",
            [(*key, debits, credits) for key, (debits, credits) in totals.items()],
        )

    @dispatchmethod
    def collect(self, event: Any, postings: list) -> None:
        """Only transfers touch suspense accounts."""

    @collect.register
    def _(self, event: Transfer.Posted, postings: list) -> None:
        day = event.references.get("day") or booked_day(event)  # a reconciliation names the day it reconciles
        postings.extend((account, day, p) for p, account in zip(event.postings, posted_texts(event).accounts, strict=True))


def suspense(store: Any, *, channel: str | None = None, day: str | None = None, start: str | None = None,
             end: str | None = None) -> list[dict[str, Any]]:
    """Per channel, currency and day: pending (not yet reconciled) and reconciled amounts; the days
    `day`, or from `start` to `end` (YYYY-MM-DD, both inclusive), or all."""
    sql, params = "SELECT * FROM suspense_days WHERE 1 = 1", []
    for condition, value in (("channel = ?", channel), ("day = ?", day), ("day >= ?", start), ("day <= ?", end)):
        if value is not None:
            sql += f" AND {condition}"
            params.append(value)
    report: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in store.query(sql + " ORDER BY day, channel, currency, role", params):
        key = (row["day"], row["channel"], row["currency"])
        entry = report.setdefault(key, {"day": key[0], "channel": key[1], "currency": key[2], "pending": 0, "reconciled": 0})
        balance = row["debits"] - row["credits"]  # debit-normal: what the channel owes
        entry["pending" if row["role"] == SystemRole.PENDING_RECONCILIATION else "reconciled"] += balance
    return list(report.values())
