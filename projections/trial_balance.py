"""The trial balance: per currency, total debits and credits over every account.

No table of its own: it sums the balances view. Debits equal credits, and the
credit-normal balances sum to zero, or the ledger is broken.
"""

from __future__ import annotations

from typing import Any


def trial_balance(store: Any) -> list[dict[str, Any]]:
    rows = store.query(
        "SELECT currency, SUM(debits) AS debits, SUM(credits) AS credits, SUM(posted) AS net, COUNT(*) AS accounts"
        " FROM account_balances GROUP BY currency ORDER BY currency"
    )
    return [
        {**row, "debits": int(row["debits"]), "credits": int(row["credits"]), "net": int(row["net"]),
         "balanced": row["debits"] == row["credits"]}
        for row in rows
    ]
