"""/console/transactions: internal and external transactions, filtered (business, kind, status, channel,
days); a transfer with its postings."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any
from uuid import UUID

from fastapi import Query

from ledger.domain.access import Permission as P

from ...service.accounts import Accounts
from ...service.lookups import Lookups
from ...service.reports import Reports
from .. import inputs
from ..paging import paging
from ..web import Desk, needs, page_router

router = page_router("/console/transactions")
Reader = Annotated[Desk, needs(P.TRANSACTIONS_READ)]
FromDay = Annotated[str | None, Query(alias="from")]  # the first day (YYYY-MM-DD); `to` the last
KINDS = ("transfer", "recharge", "withdrawal", "capture", "fee", "reconciliation", "adjustment", "reversal", "freeze",
         "unfreeze", "verification")
STATUSES = ("posted", "reversed", "pending", "succeeded", "failed", "returned")
PAGE_ROWS = 50
PAYMENT_KINDS = ("recharge", "withdrawal")


def transactions_page(desk: Desk, template: str, base: str, kinds: tuple[str, ...], business_id: str | None,
                      kind: str | None, status: str | None, channel: str | None, first: str | None, last: str | None,
                      account_id: str | None, cursor: str | None, **context: Any):
    """A filtered page of the transactions list (also the payments page's, with its own kinds)."""
    filters = {"business_id": inputs.blank(business_id), "kind": inputs.choice(kind, kinds, "kind"),
               "status": inputs.choice(status, STATUSES, "status"), "channel": inputs.blank(channel),
               "from": inputs.blank(first), "to": inputs.blank(last), "account_id": inputs.blank(account_id)}
    start, end = inputs.day_range(desk.services.settings.accounting_day, first, last)
    account = inputs.uuid(filters["account_id"], "account")
    found = desk.service(Reports).transactions(
        None, business_id=filters["business_id"], account_id=account, kind=filters["kind"], status=filters["status"],
        channel=filters["channel"], start=start, end=end, limit=PAGE_ROWS, cursor=inputs.blank(cursor))
    return desk.render(template, filters=filters, rows=found["items"], kinds=kinds, statuses=STATUSES,
                       **paging(desk, filters, inputs.blank(cursor), found["next_cursor"]), base=base, **context)


@router.get("")
def find_transactions(desk: Reader, business_id: str | None = None, kind: str | None = None,
                      status: str | None = None, channel: str | None = None, start: FromDay = None,
                      to: str | None = None, account_id: str | None = None, cursor: str | None = None):
    return transactions_page(desk, "transactions/list.html", "/console/transactions", KINDS, business_id, kind, status,
                             channel, start, to, account_id, cursor, any_kind=True)


@router.get("/{transfer_id}")
def transfer_page(desk: Reader, transfer_id: UUID):
    transfer = asdict(desk.service(Lookups).transfer(transfer_id))
    return desk.render("transactions/transfer.html", transfer=transfer, names=account_names(desk, [transfer]))


def account_names(desk: Desk, transfers: list[dict[str, Any]]) -> dict[str, str]:
    """What to call each account the transfers post to: `business / external_ref`, or a system
    account's role and channel."""
    accounts = desk.service(Accounts)
    names = {}
    for account_id in {str(p["account"]) for t in transfers for p in t["postings"]}:
        found = accounts.account(UUID(account_id))
        account = found if isinstance(found, dict) else asdict(found)
        if account["kind"] == "system":
            names[account_id] = " · ".join(str(x) for x in ("system", account["role"], account["channel"]) if x)
        else:
            names[account_id] = f"{account['business_id']} / {account['external_ref']}"
    return names
