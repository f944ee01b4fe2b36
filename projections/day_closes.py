"""A closed day's Merkle leaves, kept for balance proofs (table `day_close_leaves`, migration 0013).

The leaves are every account's closing balance at the close's log position (ledger/audit/days.py);
the DayClose event keeps only their root. They are kept here by the close (the API's and the
command line's), or, for a day without them (a close made otherwise, a crash between the close and
this write, a table emptied), read again from the log up to the close's position (which never
changes) on the first proof asked of the day. Whatever is read from the table is checked against
the signed root before it is used; if it does not match, the log is read again, and if the log
does not give the root either, the day's proofs are refused (`log-mismatch`): the log no longer
says what the certificate does.
"""

from __future__ import annotations

import bisect
import json
from datetime import date
from typing import Any
from uuid import UUID

from ledger.audit import merkle
from ledger.audit.days import day_figures
from ledger.domain.accounting_day import AccountingDay
from ledger.domain.days import DayClose
from ledger.domain.errors import Conflict


class LogMismatch(Conflict):
    code = "log-mismatch"


def store_leaves(views: Any, day: str, leaves: tuple[merkle.Leaf, ...]) -> None:
    with views.transaction() as cur:
        cur.execute("DELETE FROM day_close_leaves WHERE day = ?", (day,))
        cur.insert_rows("day_close_leaves", ("day", "account_id", "currency", "balance"),
                        [(day, str(leaf.account_id), leaf.currency, leaf.balance) for leaf in leaves])


def stored_leaves(views: Any, day: str) -> tuple[merkle.Leaf, ...]:
    rows = views.query("SELECT account_id, currency, balance FROM day_close_leaves WHERE day = ?", (day,))
    leaves = (merkle.Leaf(UUID(r["account_id"]), r["currency"], int(r["balance"])) for r in rows)
    return tuple(sorted(leaves, key=lambda leaf: leaf.account_id.bytes))


def leaves_of(ledger: Any, views: Any, close: DayClose, accounting_day: AccountingDay) -> tuple[merkle.Leaf, ...]:
    """The day's leaves, in account-id order, whose root is the close's signed root."""
    stored = stored_leaves(views, close.day)
    if stored and merkle.root(stored).hex() == close.merkle_root:
        return stored
    figures = day_figures(ledger, date.fromisoformat(close.day), accounting_day, close.position)
    if figures.merkle_root != close.merkle_root:
        raise LogMismatch(f"the log up to position {close.position} no longer gives day {close.day}'s signed"
                          f" Merkle root ({close.merkle_root}): run `fundcenter audit verify`")
    store_leaves(views, close.day, figures.leaves)
    return figures.leaves


def find_leaf(leaves: tuple[merkle.Leaf, ...], account_id: Any) -> int | None:
    """The index of the account's leaf (leaves in account-id order), or None."""
    keys = [leaf.account_id.bytes for leaf in leaves]
    index = bisect.bisect_left(keys, account_id.bytes)
    return index if index < len(leaves) and leaves[index].account_id == account_id else None


def certificate_accounting_day(close: DayClose) -> AccountingDay:
    """The accounting day's settings as the close recorded them (the settings may have changed since)."""
    recorded = json.loads(close.certificate)["accounting_day"]
    return AccountingDay.of(recorded["timezone"], recorded["cutoff"])
