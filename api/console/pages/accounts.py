"""/console/accounts: find accounts; an account's balances, statement (paged, by day, CSV), holds and
card bindings; the operator's freeze, unfreeze and close, each with a reason."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any
from uuid import UUID

from fastapi import Form, Query

from ledger.domain.access import Permission as P
from projections.common import PAGE_SIZE_MAX

from ...downloads import csv_download
from ...service.accounts import Accounts
from ...service.lookups import Lookups
from .. import inputs
from ..paging import paging
from ..web import Desk, command_key, needs, page_router, query_string

router = page_router("/console/accounts")
Reader = Annotated[Desk, needs(P.ACCOUNTS_READ)]
Operator = Annotated[Desk, needs(P.ACCOUNTS_STATUS)]
KINDS = ("institution", "settlement", "member", "system")
STATUSES = ("active", "frozen", "closed")
PAGE_ROWS = 50
HOLDS_SHOWN_MAX = 50
FromDay = Annotated[str | None, Query(alias="from")]  # the first day (YYYY-MM-DD); `to` the last
ACTIONS = {"frozen": "freeze", "active": "unfreeze", "closed": "close"}


@router.get("")
def find_accounts(desk: Reader, business_id: str | None = None, kind: str | None = None,
                  external_ref: str | None = None, status: str | None = None, cursor: str | None = None):
    filters = {"business_id": inputs.blank(business_id), "kind": inputs.choice(kind, KINDS, "kind"),
               "external_ref": inputs.blank(external_ref), "status": inputs.choice(status, STATUSES, "status")}
    found = desk.service(Lookups).accounts(None, **filters, limit=PAGE_ROWS, cursor=inputs.blank(cursor))
    return desk.render("accounts/list.html", filters=filters, accounts=found["items"], kinds=KINDS, statuses=STATUSES,
                       **paging(desk, filters, inputs.blank(cursor), found["next_cursor"]))


def _statement_window(desk: Desk, first: str | None, last: str | None) -> tuple[Any, Any]:
    return inputs.day_range(desk.services.settings.accounting_day, first, last)


@router.get("/{account_id}")
def account_page(desk: Reader, account_id: UUID, start: FromDay = None,
                 to: str | None = None, cursor: str | None = None):
    return _account_page(desk, account_id, start, to, cursor)


def _account_page(desk: Desk, account_id: UUID, first: str | None, last: str | None, cursor: str | None):
    accounts = desk.service(Accounts)
    found = accounts.account(account_id)
    account = found if isinstance(found, dict) else asdict(found)
    start, end = _statement_window(desk, first, last)
    statement = accounts.statement(account_id, start, end, PAGE_ROWS, inputs.blank(cursor), None)
    window = {"from": inputs.blank(first), "to": inputs.blank(last)}
    last_change = accounts.last_status_change(account_id)  # who made it is named by `names`
    holds, bindings = [], []
    if account["kind"] != "system":
        holds = accounts.holds(account_id, HOLDS_SHOWN_MAX)
        bindings = desk.service(Lookups).bindings(account_id, PAGE_SIZE_MAX, None, None)["items"]
    return desk.render(
        "accounts/account.html", account=account, statement=statement["entries"], window=window,
        **paging(desk, window, inputs.blank(cursor), statement["next_cursor"]),
        csv_query=query_string(window), holds=holds, bindings=bindings,
        can_change=desk.can(P.ACCOUNTS_STATUS) and account["kind"] != "system", actions=ACTIONS,
        can_read_events=desk.can(P.EVENTS_READ), last_change=last_change,
        names=desk.key_names([last_change["by"]] if last_change else []),
    )


@router.get("/{account_id}/statement.csv")
def statement_csv(desk: Reader, account_id: UUID, start: FromDay = None, to: str | None = None):
    begin, finish = _statement_window(desk, start, to)
    return csv_download(desk.service(Accounts).statement_csv(account_id, begin, finish, None), f"statement-{account_id}.csv")


@router.post("/{account_id}/status")
def change_status(desk: Operator, account_id: UUID, status: Annotated[str, Form(max_length=20)],
                  reason: Annotated[str, Form(max_length=2 * inputs.REASON_LENGTH_MAX)] = "",
                  idempotency_key: Annotated[str, Form(max_length=100)] = ""):
    """Freeze, unfreeze or close the account, with the reason the form asks for: the ledger records it
    in the status change's event (shown on the account page as its last status change)."""
    page = f"/console/accounts/{account_id}"

    def run() -> Any:
        wanted = inputs.choice(status, ACTIONS, "status") or "active"
        return desk.service(Accounts).set_status(account_id, wanted, command_key(idempotency_key), inputs.reason(reason))

    return desk.act(run, lambda view: f"Account {view.external_ref} is now {view.status}.", page)
