"""Transactions: the list finance and businesses search.

Table `transactions`, one row per transaction: internal ones (transfer, freeze,
unfreeze, capture, adjustment, reversal, fee) and external ones through channels
(recharge, withdrawal, verification of a card), whose status follows their
lifecycle (pending, then succeeded, failed or returned). `account_id` is the
debited side and `counterparty_id` the credited side of a two-posting transfer;
each carries its business, so a business sees a transaction whichever side it is
on. The transfers a channel payment posts belong to its row, not rows of their own.
`actor` is who made a transaction staff make by hand (adjustments, reversals): the
`by` its transfer recorded (an API key's id, "cli", "demo"); NULL for the rest.
`reference` is the business's own reference a transfer, hold, recharge or withdrawal
was made with (`find_by_reference`); NULL for the rest.
"""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter
from typing import Any

from ledger.domain.cards import CardBinding
from ledger.domain.holds import Hold
from ledger.domain.payments import Payment, Recharge, Withdrawal
from ledger.domain.transfers import Transfer

from .common import (
    AccountMetadata,
    Batch,
    Collects,
    check_limit,
    cursor_int,
    decode_cursor,
    dispatchmethod,
    encode_cursor,
    iso,
    posted_texts,
)

COLUMNS = (
    "id", "position", "kind", "status", "business_id", "account_id", "counterparty_id",
    "counterparty_business_id", "channel", "currency", "amount", "memo", "created_at", "actor", "reference",
)

_in_columns = itemgetter(*COLUMNS)  # a row's values in COLUMNS' order, as a tuple
# Events that change a row made before: its status or channel (made once).
_UPDATES = (Transfer.Reversed, Payment.Routed, Payment.Succeeded, Payment.Failed, Withdrawal.Returned)


class TransactionsView(Collects):
    name = "transactions"
    tables = {"transactions": "id"}

    def __init__(self) -> None:
        self.account_metadata = AccountMetadata()

    def handles(self, kind: type) -> bool:
        return issubclass(kind, _UPDATES) or super().handles(kind)

    def changes(self, batch: Batch) -> tuple[list[dict[str, Any]], dict[str, list[str | None]]]:
        """The batch's new rows, and per row it changes, the last status and channel the batch gave it."""
        rows: list[dict[str, Any]] = []
        folded: dict[str, list[str | None]] = {}
        collect = self.collect
        for position, event in batch:
            if isinstance(event, _UPDATES):
                if isinstance(event, Transfer.Reversed):
                    new_status, new_channel = "reversed", None
                elif isinstance(event, Payment.Routed):
                    new_status, new_channel = None, event.channel
                else:
                    new_status = {Payment.Succeeded: "succeeded", Payment.Failed: "failed"}.get(type(event), "returned")
                    new_channel = None
                last = folded.setdefault(str(event.originator_id), [None, None])
                last[0] = new_status if new_status is not None else last[0]
                last[1] = new_channel if new_channel is not None else last[1]
            else:
                collect(event, position, rows)
        return rows, folded

    def write(self, cur: Any, changes: tuple[list[dict[str, Any]], dict[str, list[str | None]]]) -> None:
        rows, folded = changes
        _fill_unfreezes(cur, [r for r in rows if r["kind"] == "unfreeze"])
        if rows:
            accounts = self.account_metadata(cur, {r[k] for r in rows for k in ("account_id", "counterparty_id") if r[k]})
            for r in rows:
                r["business_id"] = accounts.get(r["account_id"], {}).get("business_id")
                r["counterparty_business_id"] = accounts.get(r["counterparty_id"], {}).get("business_id")
                r["currency"] = r["currency"] or accounts.get(r["account_id"], {}).get("currency", "")
            cur.insert_rows("transactions", COLUMNS, list(map(_in_columns, rows)))
        cur.update_rows(
            "transactions", ["id"], {"id": "text", "status": "text", "channel": "text"},
            "status = COALESCE(v.status, t.status), channel = COALESCE(v.channel, t.channel)",
            [(row_id, status, channel) for row_id, (status, channel) in folded.items()],
        )

    @dispatchmethod
    def collect(self, event: Any, position: int, rows: list[dict[str, Any]]) -> None:
        """Other events are not transactions."""

    @collect.register
    def _(self, event: Transfer.Posted, position: int, rows: list[dict[str, Any]]) -> None:
        if "recharge" in event.references or "withdrawal" in event.references:
            return  # part of a channel payment: its row tells it
        debit = credit = None  # the first account of each side
        amount = 0  # what the debits sum to
        texts = posted_texts(event)
        for p, account in zip(event.postings, texts.accounts, strict=True):
            if p["side"] == "debit":
                amount += p["amount"]
                debit = account if debit is None else debit
            elif p["side"] == "credit" and credit is None:
                credit = account
        if debit is None or credit is None:
            raise ValueError(f"transfer {event.originator_id} has no {'debit' if debit is None else 'credit'} posting")
        rows.append(_row(
            texts.transfer_id, position, event.kind, "posted", debit, credit, event.currency, amount,
            event.memo, texts.created_at, event.references.get("channel"), actor=getattr(event, "by", None),
            reference=getattr(event, "reference", None),
        ))

    @collect.register
    def _(self, event: Hold.Placed, position: int, rows: list[dict[str, Any]]) -> None:
        rows.append(_row(
            str(event.originator_id), position, "freeze", "posted", str(event.account_id), None,
            event.currency, event.amount, event.reason, iso(event.timestamp), reference=getattr(event, "reference", None),
        ))

    @collect.register
    def _(self, event: Hold.Released, position: int, rows: list[dict[str, Any]]) -> None:
        # Account and currency come from the hold's row in the balances view.
        rows.append(_row(
            f"{event.originator_id}/{event.originator_version}", position, "unfreeze", "posted", None,
            None, "", event.amount, "", iso(event.timestamp), hold_id=str(event.originator_id),
        ))


    @collect.register
    def _(self, event: Recharge.Requested, position: int, rows: list[dict[str, Any]]) -> None:
        rows.append(_row(str(event.originator_id), position, "recharge", "pending", None, str(event.account_id),
                         event.currency, event.amount, f"{event.method} via {event.bank}", iso(event.timestamp),
                         reference=getattr(event, "reference", None)))

    @collect.register
    def _(self, event: Withdrawal.Requested, position: int, rows: list[dict[str, Any]]) -> None:
        rows.append(_row(str(event.originator_id), position, "withdrawal", "pending", str(event.account_id), None,
                         event.currency, event.amount, f"payout to {event.bank}", iso(event.timestamp),
                         reference=getattr(event, "reference", None)))

    @collect.register
    def _(self, event: CardBinding.Bound, position: int, rows: list[dict[str, Any]]) -> None:
        status = "succeeded" if event.agreements else "failed"
        rows.append(_row(str(event.originator_id), position, "verification", status, str(event.account_id), None,
                         "", 0, f"{event.bank} {event.card_masked}", iso(event.timestamp)))


def _fill_unfreezes(cur: Any, rows: list[dict[str, Any]]) -> None:
    """Account, currency and memo of each unfreeze, from its hold's row."""
    ids = sorted({r["hold_id"] for r in rows})
    holds = {h["hold_id"]: h for h in cur.select_in(
        "SELECT hold_id, account_id, currency, reason FROM account_holds", "hold_id", ids
    )}
    for r in rows:
        hold = holds[r["hold_id"]]
        r.update(account_id=hold["account_id"], currency=hold["currency"], memo=hold["reason"])


def _row(
    id: str, position: int, kind: str, status: str, account_id: str | None, counterparty_id: str | None,
    currency: str, amount: int, memo: str, created_at: str, channel: str | None = None,
    hold_id: str | None = None, actor: str | None = None, reference: str | None = None,
) -> dict[str, Any]:
    return {
        "hold_id": hold_id,
        "id": id, "position": position, "kind": kind, "status": status, "account_id": account_id,
        "counterparty_id": counterparty_id, "channel": channel, "currency": currency, "amount": amount,
        "memo": memo, "created_at": created_at, "actor": actor, "reference": reference,
    }


# -- queries ---------------------------------------------------------------------------

def list_transactions(
    store: Any, *, business_id: str | None = None, account_id: str | None = None,
    kind: str | None = None, status: str | None = None, channel: str | None = None, currency: str | None = None,
    start: datetime | None = None, end: datetime | None = None, limit: int = 100, cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, filtered; `start`/`end` bound `created_at` as [start, end)."""
    check_limit(limit)
    filters = {"kind": kind, "status": status, "channel": channel, "currency": currency}
    sql, params = f"SELECT {', '.join(COLUMNS)} FROM transactions WHERE 1 = 1", list[str | int]()
    if business_id is not None:
        sql += " AND (business_id = ? OR counterparty_business_id = ?)"
        params += [business_id, business_id]
    if account_id is not None:
        sql += " AND (account_id = ? OR counterparty_id = ?)"
        params += [str(account_id), str(account_id)]
    for name, value in filters.items():
        if value is not None:
            sql += f" AND {name} = ?"
            params.append(value)
    if start is not None:
        sql += " AND created_at >= ?"
        params.append(iso(start))
    if end is not None:
        sql += " AND created_at < ?"
        params.append(iso(end))
    if cursor is not None:
        text, last_id = decode_cursor(cursor, 2)
        position = cursor_int(text, cursor)
        sql += " AND (position < ? OR (position = ? AND id < ?))"
        params += [position, position, last_id]
    rows = store.query(sql + " ORDER BY position DESC, id DESC LIMIT ?", (*params, limit + 1))
    following = encode_cursor(rows[limit - 1]["position"], rows[limit - 1]["id"]) if len(rows) > limit else None
    return rows[:limit], following


REFERENCE_MATCHES_MAX = 100  # a staff lookup across businesses: at most this many rows


def find_by_reference(store: Any, kind: str, reference: str, business_id: str | None = None) -> list[str]:
    """The ids of the `kind` rows made with `reference`, of one business (either side) or of any."""
    sql, params = "SELECT id FROM transactions WHERE kind = ? AND reference = ?", [kind, reference]
    if business_id is not None:
        sql += " AND (business_id = ? OR counterparty_business_id = ?)"
        params += [business_id, business_id]
    rows = store.query(sql + " ORDER BY position, id LIMIT ?", (*params, REFERENCE_MATCHES_MAX))
    return [row["id"] for row in rows]


def list_bindings(store: Any, account_id: str, *, limit: int = 100, cursor: str | None = None) -> tuple[list[str], str | None]:
    """The ids of an account's card bindings (their verifications), oldest first."""
    check_limit(limit)
    sql = "SELECT id, position FROM transactions WHERE kind = 'verification' AND account_id = ?"
    params: list[Any] = [account_id]
    if cursor is not None:
        text, last_id = decode_cursor(cursor, 2)
        position = cursor_int(text, cursor)
        sql += " AND (position > ? OR (position = ? AND id > ?))"
        params += [position, position, last_id]
    rows = store.query(sql + " ORDER BY position, id LIMIT ?", (*params, limit + 1))
    following = encode_cursor(rows[limit - 1]["position"], rows[limit - 1]["id"]) if len(rows) > limit else None
    return [row["id"] for row in rows[:limit]], following
