"""Statements: every entry of an account, with its running balance.

Table `statement_entries`: one row per posting, keyed by (account, log position,
posting number), with the transfer, its kind, the counterparty (the other account
of a two-posting transfer), the memo and the balance after it (credit-normal).
Point-in-time balances read the last entry at or before the instant. Applies
after the balances view, whose posted balance it starts each batch from.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.domain.transfers import Transfer

from .common import Batch, Collects, check_limit, cursor_int, decode_cursor, dispatchmethod, encode_cursor, iso, posted_texts

COLUMNS = ("account_id", "position", "seq", "transfer_id", "kind", "side", "amount", "balance_after",
           "counterparty_id", "memo", "created_at")
SIDE, AMOUNT, BALANCE = COLUMNS.index("side"), COLUMNS.index("amount"), COLUMNS.index("balance_after")


class StatementsView(Collects):
    name = "statements"
    tables = {"statement_entries": "account_id, position, seq"}

    def changes(self, batch: Batch) -> list[list[Any]]:
        """The batch's entries, as rows in COLUMNS' order, their balance_after filled in by `write`."""
        entries: list[list[Any]] = []
        collect = self.collect
        for position, event in batch:
            collect(event, position, entries)
        return entries

    def write(self, cur: Any, entries: list[list[Any]]) -> None:
        if not entries:
            return
        balances = _balances_before(cur, entries)
        for e in entries:
            balances[e[0]] = e[BALANCE] = balances[e[0]] + (e[AMOUNT] if e[SIDE] == "credit" else -e[AMOUNT])
        cur.insert_rows("statement_entries", COLUMNS, entries)

    @dispatchmethod
    def collect(self, event: Any, position: int, entries: list[list[Any]]) -> None:
        """Only transfers make entries."""

    @collect.register
    def _(self, event: Transfer.Posted, position: int, entries: list[list[Any]]) -> None:
        transfer_id, accounts, created_at = posted_texts(event)
        kind, memo = event.kind, event.memo
        for seq, (p, account) in enumerate(zip(event.postings, accounts, strict=True)):
            others = {a for a in accounts if a != account}
            counterparty = others.pop() if len(others) == 1 else None
            entries.append(
                [account, position, seq, transfer_id, kind, p["side"], p["amount"], None, counterparty, memo, created_at]
            )


def _balances_before(cur: Any, entries: list[list[Any]]) -> dict[str, int]:
    """Each account's balance before this batch: the balances view (which applies the
    batch first, in the same transaction) less this batch's entries."""
    ids = sorted({e[0] for e in entries})
    rows = cur.select_in("SELECT account_id, posted FROM account_balances", "account_id", ids)
    balances = {row["account_id"]: row["posted"] for row in rows}
    for e in entries:
        balances[e[0]] -= e[AMOUNT] if e[SIDE] == "credit" else -e[AMOUNT]
    return balances


# -- queries ---------------------------------------------------------------------------


def statement(
    store: Any, account_id: UUID, *, start: datetime | None = None, end: datetime | None = None,
    limit: int = 100, cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Entries of an account in log order, within [start, end), a page at a time."""
    check_limit(limit)
    sql, params = _entries_within(account_id, start, end)
    if cursor is not None:
        position, seq = (cursor_int(x, cursor) for x in decode_cursor(cursor, 2))
        sql += " AND (position > ? OR (position = ? AND seq > ?))"
        params += [position, position, seq]
    rows = store.query(sql + " ORDER BY position, seq LIMIT ?", (*params, limit + 1))
    following = encode_cursor(rows[limit - 1]["position"], rows[limit - 1]["seq"]) if len(rows) > limit else None
    return rows[:limit], following


def balance_as_of(store: Any, account_id: UUID, moment: datetime) -> int:
    """The posted balance (credit-normal) at an instant: that of its last entry at or before it."""
    rows = store.query(
        "SELECT balance_after FROM statement_entries WHERE account_id = ? AND created_at <= ?"
        " ORDER BY position DESC, seq DESC LIMIT 1",
        (str(account_id), iso(moment)),
    )
    return rows[0]["balance_after"] if rows else 0


def statement_entries(
    store: Any, account_id: UUID, *, start: datetime | None = None, end: datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """Every entry of an account in log order within [start, end), streamed (for an export)."""
    sql, params = _entries_within(account_id, start, end)
    return store.stream(sql + " ORDER BY position, seq", params)


def _entries_within(account_id: UUID, start: datetime | None, end: datetime | None) -> tuple[str, list[Any]]:
    """The query of an account's entries booked within [start, end), and its parameters."""
    sql = "SELECT * FROM statement_entries WHERE account_id = ?"
    params: list[Any] = [str(account_id)]
    if start is not None:
        sql += " AND created_at >= ?"
        params.append(iso(start))
    if end is not None:
        sql += " AND created_at < ?"
        params.append(iso(end))
    return sql, params
