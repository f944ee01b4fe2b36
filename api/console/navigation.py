"""The console's navigation: one list, in the order shown. A page is shown to a role that has its permission.

Each entry's `path` is served by the page module of the same name in `pages/` (listed in
`api/console/__init__.py`). Labels are English, then Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.domain.access import Permission, Principal


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str
    permission: Permission


NAVIGATION: list[NavItem] = [
    NavItem("Accounts 账户", "/console/accounts", Permission.ACCOUNTS_READ),
    NavItem("Transactions 交易", "/console/transactions", Permission.TRANSACTIONS_READ),
    NavItem("Payments 支付", "/console/payments", Permission.TRANSACTIONS_READ),
    NavItem("Channels 渠道", "/console/channels", Permission.CHANNELS_MANAGE),
    NavItem("Reconciliation 对账", "/console/reconciliation", Permission.REPORTS_READ),
    NavItem("Reports 报表", "/console/reports", Permission.REPORTS_READ),
    NavItem("Events 事件", "/console/events", Permission.EVENTS_READ),
    NavItem("Approvals 审批", "/console/approvals", Permission.ACCOUNTS_READ),  # every staff role
    NavItem("Keys 密钥", "/console/keys", Permission.KEYS_MANAGE),
]


def navigation_for(who: Principal) -> list[NavItem]:
    return [item for item in NAVIGATION if who.can(item.permission)]
