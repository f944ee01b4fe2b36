"""The trial balance, as finance means it: every account with its debit or credit
balance at an instant, totalled per currency; and the turnover beside it.

No table of its own: it reads the balances view (each account's debits, credits
and posted balance now) and the statements view (every posting, with its
transfer's time). Balances are kept credit-normal (credits minus debits): a
positive one is a credit balance, a negative one a debit balance. Per currency
the debit balances equal the credit balances, or the ledger is broken.

A balance at an instant is a cut in time: the account's balance now less every
posting stamped after the instant. All the postings of one transfer share its
time stamp, so every cut balances, even where concurrent commands committed in
another order than their clocks read (a running balance, which follows the log's
order, would not: the last entry at or before an instant may already include a
later-stamped one, or leave out an earlier-stamped one committed after it).
The cost is the postings after the instant (an index on their time finds them):
small for the recent past, which is what finance asks for.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from .common import iso

_COLUMNS = (
    "b.account_id, b.kind, b.business_id, b.external_ref, b.name, b.currency, b.role, b.channel, b.opened_at"
)
_ORDER = " ORDER BY b.currency, b.kind, b.name, b.account_id"
_NOW = f"SELECT {_COLUMNS}, b.debits, b.credits FROM account_balances b" + _ORDER
_AS_OF = (
    f"SELECT {_COLUMNS}, b.debits - COALESCE(l.debits, 0) AS debits, b.credits - COALESCE(l.credits, 0) AS credits"
    " FROM account_balances b LEFT JOIN ("
    "  SELECT account_id, SUM(CASE WHEN side = 'debit' THEN amount ELSE 0 END) AS debits,"
    "   SUM(CASE WHEN side = 'credit' THEN amount ELSE 0 END) AS credits"
    "  FROM statement_entries WHERE created_at > ? GROUP BY account_id"
    " ) l ON l.account_id = b.account_id" + _ORDER
)
ACCOUNT_FIELDS = ("account_id", "kind", "business_id", "external_ref", "name", "currency", "role", "channel")


def account_balances(store: Any, as_of: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every account (customer and system) open at `as_of` (default: now, as far as the views
    go), with its debit or credit balance then and its turnover (debits, credits) up to then.
    Streamed, in currency, kind, name order."""
    moment = iso(as_of)
    rows = store.stream(_AS_OF, (moment,)) if moment is not None else store.stream(_NOW)
    for row in rows:
        debits, credits = int(row.pop("debits")), int(row.pop("credits"))
        opened_at = row.pop("opened_at")
        if moment is not None and opened_at > moment and not (debits or credits):
            continue  # not yet opened then
        balance = credits - debits
        yield {**row, "debit": max(-balance, 0), "credit": max(balance, 0), "debits": debits, "credits": credits}


class Totals:
    """Per currency: the trial balance's two columns, and the turnover."""

    def __init__(self) -> None:
        self.by_currency: dict[str, dict[str, Any]] = {}

    def add(self, row: dict[str, Any]) -> None:
        total = self.by_currency.setdefault(row["currency"], {
            "currency": row["currency"], "debit": 0, "credit": 0, "accounts": 0, "debits": 0, "credits": 0,
        })
        for name in ("debit", "credit", "debits", "credits"):
            total[name] += row[name]
        total["accounts"] += 1

    def balances(self) -> list[dict[str, Any]]:
        return [{"currency": t["currency"], "debit": t["debit"], "credit": t["credit"], "accounts": t["accounts"],
                 "balanced": t["debit"] == t["credit"]} for t in self.by_currency.values()]

    def turnover(self) -> list[dict[str, Any]]:
        return [{"currency": t["currency"], "debits": t["debits"], "credits": t["credits"],
                 "net": t["credits"] - t["debits"], "accounts": t["accounts"], "balanced": t["debits"] == t["credits"]}
                for t in self.by_currency.values()]


def trial_balance_by_account(store: Any, as_of: datetime | None = None, *, include_zero: bool = False) -> dict[str, Any]:
    """The trial balance at `as_of` (default: now): the accounts with a balance (every open
    one with `include_zero`), per currency the totals of both columns (`currencies`), and
    per currency the turnover up to then (`turnover`), all from one read of the views."""
    accounts, totals = [], Totals()
    for row in account_balances(store, as_of):
        totals.add(row)
        if include_zero or row["debit"] or row["credit"]:
            accounts.append({name: row[name] for name in (*ACCOUNT_FIELDS, "debit", "credit")})
    return {"accounts": accounts, "currencies": totals.balances(), "turnover": totals.turnover()}


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
