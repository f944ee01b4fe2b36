"""The trial balance, as finance means it: every account with its debit or credit
balance at an instant, totalled per currency; and the turnover beside it.

No table of its own: the current balances come from the balances view, the
balances at an earlier instant from the statements view (the running balance of
each account's last entry at or before it). Balances are kept credit-normal
(credits minus debits): a positive one is a credit balance, a negative one a
debit balance. Per currency the debit balances equal the credit balances, or the
ledger is broken.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from .common import iso

_AS_OF = (
    "SELECT b.account_id, b.kind, b.business_id, b.external_ref, b.name, b.currency, b.role, b.channel,"
    " COALESCE((SELECT e.balance_after FROM statement_entries e WHERE e.account_id = b.account_id"
    "  AND e.created_at <= ? ORDER BY e.created_at DESC, e.position DESC, e.seq DESC LIMIT 1), 0) AS balance"
    " FROM account_balances b WHERE b.opened_at <= ? ORDER BY b.currency, b.kind, b.name, b.account_id"
)
_NOW = (
    "SELECT account_id, kind, business_id, external_ref, name, currency, role, channel, posted AS balance"
    " FROM account_balances ORDER BY currency, kind, name, account_id"
)


def account_balances(store: Any, as_of: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every account (customer and system) with its debit or credit balance, now or `as_of`."""
    rows = store.stream(_AS_OF, (iso(as_of), iso(as_of))) if as_of is not None else store.stream(_NOW)
    for row in rows:
        balance = int(row.pop("balance"))
        yield {**row, "debit": max(-balance, 0), "credit": max(balance, 0)}


def trial_balance_by_account(store: Any, as_of: datetime | None = None) -> dict[str, Any]:
    """The trial balance: the accounts with a balance, and per currency the totals of both columns."""
    accounts, totals = [], {}
    for row in account_balances(store, as_of):
        total = totals.setdefault(row["currency"], {"currency": row["currency"], "debit": 0, "credit": 0, "accounts": 0})
        total["debit"] += row["debit"]
        total["credit"] += row["credit"]
        total["accounts"] += 1
        if row["debit"] or row["credit"]:
            accounts.append(row)
    for total in totals.values():
        total["balanced"] = total["debit"] == total["credit"]
    return {"accounts": accounts, "currencies": list(totals.values())}


def trial_balance(store: Any) -> list[dict[str, Any]]:
    """The turnover: per currency, total debits and credits ever posted over every account."""
    rows = store.query(
        "SELECT currency, SUM(debits) AS debits, SUM(credits) AS credits, SUM(posted) AS net, COUNT(*) AS accounts"
        " FROM account_balances GROUP BY currency ORDER BY currency"
    )
    return [
        {**row, "debits": int(row["debits"]), "credits": int(row["credits"]), "net": int(row["net"]),
         "balanced": row["debits"] == row["credits"]}
        for row in rows
    ]
