"""Balances: each account with its posted balance, and the holds on it.

Tables `account_balances` and `account_holds` (migrations/*/0002_views.sql).
Every account, system ones included, is credit-normal here: posted = credits -
debits, so the system accounts that hold what channels owe us are negative and
all balances of a currency sum to zero. Pending and frozen amounts are summed
from the open holds at query time, so a hold stops counting at its expiry even
before any event records it.

This view applies first in each batch: the others read account metadata from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.domain.accounts import Account
from ledger.domain.errors import AccountNotFound
from ledger.domain.holds import Hold
from ledger.domain.transfers import Transfer

from .common import Batch, Collects, check_limit, decode_cursor, dispatchmethod, encode_cursor, iso, posted_texts


class _Changes:
    """One batch's changes, folded per row, written with one statement per kind."""

    def __init__(self) -> None:
        self.new_accounts: dict[str, dict[str, Any]] = {}
        self.account_updates: dict[str, dict[str, Any]] = {}
        self.new_holds: dict[str, dict[str, Any]] = {}
        self.hold_updates: dict[str, dict[str, int]] = {}

    def update_account(
        self, account_id: str, position: int, status: str | None = None, debits: int = 0, credits: int = 0
    ) -> None:
        row = self.new_accounts.get(account_id) or self.account_updates.get(account_id)
        if row is None:
            row = self.account_updates[account_id] = {"status": None, "debits": 0, "credits": 0, "posted": 0}
        row["debits"] += debits
        row["credits"] += credits
        row["posted"] += credits - debits
        row["position"] = position
        if status is not None:
            row["status"] = status

    def update_hold(self, hold_id: str, released: int = 0, captured: int = 0, expired: int = 0) -> None:
        row = self.new_holds.get(hold_id) or self.hold_updates.setdefault(
            hold_id, {"released": 0, "captured": 0, "expired": 0}
        )
        row["released"] += released
        row["captured"] += captured
        row["expired"] = max(row["expired"], expired)

    def write(self, cur: Any) -> None:
        for table, rows in (("account_balances", self.new_accounts), ("account_holds", self.new_holds)):
            if rows:
                columns = list(next(iter(rows.values())))
                cur.insert_rows(table, columns, [tuple(row[c] for c in columns) for row in rows.values()])
        cur.update_rows(
            "account_balances", ["account_id"], ACCOUNT_UPDATE,
            "status = COALESCE(v.status, t.status), debits = t.debits + v.debits, credits = t.credits + v.credits,"
            " posted = t.posted + v.posted, position = v.position",
            [(aid, r["status"], r["debits"], r["credits"], r["posted"], r["position"])
             for aid, r in self.account_updates.items()],
        )
        cur.update_rows(
            "account_holds", ["hold_id"], HOLD_UPDATE,
            "released = t.released + v.released, captured = t.captured + v.captured,"
            " expired = CASE WHEN v.expired = 1 THEN 1 ELSE t.expired END",
            [(hid, r["released"], r["captured"], r["expired"]) for hid, r in self.hold_updates.items()],
        )


# The folded changes of one batch, one row per account or hold (column: PostgreSQL type).
ACCOUNT_UPDATE = {"account_id": "text", "status": "text", "debits": "bigint", "credits": "bigint", "posted": "bigint",
                  "position": "bigint"}
HOLD_UPDATE = {"hold_id": "text", "released": "bigint", "captured": "bigint", "expired": "bigint"}


class BalancesView(Collects):
    name = "balances"
    tables = {"account_balances": "account_id", "account_holds": "hold_id"}

    def changes(self, batch: Batch) -> _Changes:
        changes = _Changes()
        collect = self.collect
        for position, event in batch:
            collect(event, position, changes)
        return changes

    def write(self, cur: Any, changes: _Changes) -> None:
        changes.write(cur)

    @dispatchmethod
    def collect(self, event: Any, position: int, changes: _Changes) -> None:
        """Other events change no balance."""

    @collect.register
    def _(self, event: Account.Opened, position: int, changes: _Changes) -> None:
        changes.new_accounts[str(event.originator_id)] = {
            "account_id": str(event.originator_id), "kind": event.kind, "business_id": event.business_id,
            "external_ref": event.external_ref, "currency": event.currency, "name": event.name,
            "status": "active", "role": event.role, "channel": event.channel,
            "debits": 0, "credits": 0, "posted": 0, "opened_at": iso(event.timestamp), "position": position,
        }

    @collect.register
    def _(self, event: Account.StatusChanged, position: int, changes: _Changes) -> None:
        changes.update_account(str(event.originator_id), position, status=event.status)

    @collect.register
    def _(self, event: Transfer.Posted, position: int, changes: _Changes) -> None:
        for p, account in zip(event.postings, posted_texts(event).accounts, strict=True):
            if p["side"] == "debit":
                changes.update_account(account, position, debits=p["amount"])
            else:
                changes.update_account(account, position, credits=p["amount"])

    @collect.register
    def _(self, event: Hold.Placed, position: int, changes: _Changes) -> None:
        changes.new_holds[str(event.originator_id)] = {
            "hold_id": str(event.originator_id), "account_id": str(event.account_id), "currency": event.currency,
            "amount": event.amount, "released": 0, "captured": 0, "expired": 0, "purpose": event.purpose,
            "reason": event.reason, "expires_at": iso(event.expires_at), "placed_at": iso(event.timestamp),
        }

    @collect.register
    def _(self, event: Hold.Released, position: int, changes: _Changes) -> None:
        changes.update_hold(str(event.originator_id), released=event.amount)

    @collect.register
    def _(self, event: Hold.Captured, position: int, changes: _Changes) -> None:
        changes.update_hold(str(event.originator_id), captured=event.amount)

    @collect.register
    def _(self, event: Account.HoldExpired, position: int, changes: _Changes) -> None:
        changes.update_hold(str(event.hold_id), expired=1)



# -- queries ---------------------------------------------------------------------------


def account_balance(store: Any, account_id: UUID, now: datetime) -> dict[str, Any]:
    """The account's row with posted, pending_debits, frozen and available as of `now`."""
    rows = store.query("SELECT * FROM account_balances WHERE account_id = ?", (str(account_id),))
    if not rows:
        raise AccountNotFound(f"account {account_id} not found")
    row = rows[0]
    holds = store.query(
        "SELECT purpose, SUM(amount - released - captured) AS held FROM account_holds"
        " WHERE account_id = ? AND expired = 0 AND (expires_at IS NULL OR expires_at > ?) GROUP BY purpose",
        (str(account_id), iso(now)),
    )
    pending = sum(h["held"] for h in holds)
    frozen = sum(h["held"] for h in holds if h["purpose"] == "freeze")
    return {**row, "pending_debits": pending, "frozen": frozen, "available": row["posted"] - pending}


ACCOUNT_COLUMNS = ("account_id", "kind", "business_id", "external_ref", "currency", "name", "status", "role", "channel",
                   "posted", "opened_at", "position")


def list_accounts(
    store: Any, *, business_id: str | None = None, kind: str | None = None, external_ref: str | None = None,
    status: str | None = None, limit: int = 100, cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Accounts in id order, filtered; each row's `id` is its account id."""
    check_limit(limit)
    filters = {"business_id": business_id, "kind": kind, "external_ref": external_ref, "status": status}
    sql, params = f"SELECT {', '.join(ACCOUNT_COLUMNS)} FROM account_balances WHERE 1 = 1", []
    for name, value in filters.items():
        if value is not None:
            sql += f" AND {name} = ?"
            params.append(value)
    if cursor is not None:
        last_id, = decode_cursor(cursor, 1)
        sql += " AND account_id > ?"
        params.append(last_id)
    rows = store.query(sql + " ORDER BY account_id LIMIT ?", (*params, limit + 1))
    following = encode_cursor(rows[limit - 1]["account_id"]) if len(rows) > limit else None
    return [{**row, "id": row["account_id"]} for row in rows[:limit]], following
