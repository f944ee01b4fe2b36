"""Four-eyes approval at the console (the server's default policy): a held command says it waits; its
maker cannot approve it; another holder's key with the permission approves it and it runs, or rejects it."""

import json
import re

from tests.console.conftest import Console


def test_a_role_change_waits_for_another_admin_who_approves_it(four_eyes_console: Console):
    console = four_eyes_console
    clerk = console.served.api("POST", "/v1/admin/api-keys", "admin", {"role": "finance", "name": "temp clerk"})
    console.login("admin")
    page = console.goto("/console/keys", "keys")
    row = page.locator("#keys tr", has_text="temp clerk")
    row.locator("select[name=role]").select_option("auditor")
    row.locator(".role-form button").click()
    console.shot("held")
    assert "waits for a second staff key's approval" in page.locator(".flash-pending").inner_text()
    assert page.locator("#keys tr", has_text="temp clerk").locator(".key-role").inner_text() == "finance"

    page = console.goto("/console/approvals", "approvals")
    assert "role_grant" in page.locator("#approvals").inner_text()
    page.locator("#approvals tr", has_text="role_grant").locator("a").first.click()
    console.shot("approval")
    assert clerk["id"] in page.locator("#held-command").inner_text()
    # a key given no holder is its own: named by the key's name once, its id beside it
    asked = page.locator("dl.facts dt:text-is('Asked by') + dd").inner_text()
    assert re.match(r"admin \(key [0-9a-f-]{36}\), \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", asked), asked
    page.click("#approve-form button")
    assert "(four-eyes)" in console.flash()  # the maker's own key
    assert page.locator("#approval-status").inner_text() == "pending"

    console.page.context.clear_cookies()
    console.login("admin2")
    page = console.goto("/console/approvals?status=pending&kind=role_grant", "approvals-admin2")
    page.locator("#approvals a").first.click()
    page.click("#approve-form button")
    console.shot("approved")
    assert "Approved: the command has run." in console.flash()
    assert page.locator("#approval-status").inner_text() == "executed"
    result = json.loads(page.locator("#result").inner_text())
    assert result["role"] == "auditor" and result["id"] == clerk["id"]
    page = console.goto(f"/console/keys?min_position={result['position']}", "keys-after")
    assert page.locator("#keys tr", has_text="temp clerk").locator(".key-role").inner_text() == "auditor"


def test_a_large_adjustment_is_rejected_by_finance_and_an_operator_may_only_read_it(four_eyes_console: Console):
    console = four_eyes_console
    account = console.served.open_account("four-eyes-big")
    held = console.served.api("POST", "/v1/admin/adjustments", "admin", {
        "account": account["id"], "amount": 2_000_000, "currency": "CNY", "direction": "credit", "reason": "migration"})
    assert held["status"] == "pending"
    console.login("operator")
    page = console.goto(f"/console/approvals/{held['approval_id']}", "operator-reads")
    assert "adjustments:create" in page.locator(".facts").inner_text()
    assert page.locator("#approve-form").count() == 0 and page.locator("#reject-form").count() == 0

    console.page.context.clear_cookies()
    console.login("finance")
    page = console.goto(f"/console/approvals/{held['approval_id']}", "finance-decides")
    page.fill("#reject-form input[name=reason]", "no ticket for this migration")
    page.click("#reject-form button")
    console.shot("rejected")
    assert "Rejected" in console.flash()
    assert page.locator("#approval-status").inner_text() == "rejected"
    assert "no ticket for this migration" in page.locator(".facts").inner_text()
    assert console.served.api("GET", f"/v1/accounts/{account['id']}", "admin")["posted"] == 0
