"""Support's journey at the console: find an account, read its balances and statement, download the
statement as CSV, freeze it with a reason; and what a role without the right to change it sees."""

import csv
import io

from tests.console.conftest import Console


def scene(served, ref):
    """An account with 1,234.56 in, 200.00 paid to a friend, 100.00 held, and a card bound."""
    alice = served.open_account(ref, 123_456)
    friend = served.open_account(f"{ref}-friend")
    served.api("POST", "/v1/transfers", "mall", {"from_account": alice["id"], "to_account": friend["id"], "amount": 20_000,
                                                  "currency": "CNY", "memo": "dinner"})
    served.api("POST", "/v1/holds", "mall", {"account": alice["id"], "amount": 10_000, "reason": "order 10"})
    served.bind(alice["id"])
    return alice, friend


def find(console: Console, ref):
    page = console.goto("/console/accounts", "accounts")
    page.fill("#account-search input[name=business_id]", "mall")
    page.fill("#account-search input[name=external_ref]", ref)
    page.click("#account-search button")
    console.shot("found")
    rows = page.locator("#accounts tbody tr")
    assert rows.count() == 1 and ref in rows.inner_text() and "1,034.56 CNY" in rows.inner_text()
    page.click(f"#accounts a:text-is('{ref}')")
    console.shot("account")
    return page


def test_support_finds_an_account_reads_its_statement_downloads_it_and_freezes_it(console):
    served = console.served
    alice, friend = scene(served, "support-alice")
    console.login("operator")
    page = find(console, "support-alice")
    assert page.url == f"{console.base}/console/accounts/{alice['id']}"
    balances = {b: page.locator(f"[data-balance={b}]").inner_text() for b in ("posted", "pending", "frozen", "available")}
    assert balances == {"posted": "1,034.56 CNY", "pending": "100.00 CNY", "frozen": "100.00 CNY", "available": "934.56 CNY"}
    statement = [[cell.strip() for cell in row.split("\t")] for row in page.locator("#statement tbody tr").all_inner_texts()]
    assert [(row[1], row[2], row[3], row[4], row[5]) for row in statement] == [
        ("adjustment", "seed", "", "1,234.56 CNY", "1,234.56 CNY"),
        ("transfer", "dinner", "200.00 CNY", "", "1,034.56 CNY"),
    ]
    assert "order 10" in page.locator("#holds").inner_text() and "100.00 CNY" in page.locator("#holds").inner_text()
    bindings = page.locator("#bindings tbody").inner_text()
    assert "icbc" in bindings and "3446" in bindings and "6222020200112233446" not in bindings  # masked

    # The statement of the days it was made in, then of days with nothing.
    day = served.api("GET", f"/v1/accounts/{alice['id']}/statement", "admin")["entries"][0]["created_at"][:10]
    page.fill("#statement-range input[name=from]", day)
    page.fill("#statement-range input[name=to]", day)
    page.click("#statement-range button")
    assert page.locator("#statement tbody tr").count() == 2
    page.fill("#statement-range input[name=from]", "2001-01-01")
    page.fill("#statement-range input[name=to]", "2001-01-31")
    page.click("#statement-range button")
    assert "No entries in these days" in page.locator("#statement").inner_text()
    console.shot("statement-empty-days")

    page.goto(f"{console.base}/console/accounts/{alice['id']}")
    with page.expect_download() as download:
        page.click("#statement-csv")
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert [(r["kind"], r["side"], r["amount"], r["balance_after"]) for r in rows] == [
        ("adjustment", "credit", "123456", "123456"), ("transfer", "debit", "20000", "103456")]

    page.select_option("#status-form select[name=status]", "frozen")
    page.fill("#status-form input[name=reason]", "suspected fraud, ticket 4411")
    page.click("#status-form button")
    assert "is now frozen" in console.flash()
    assert page.locator("#account-status").inner_text() == "frozen"
    console.shot("frozen")
    # Frozen for everyone: the API refuses to move its money; the reason is in the log with the change.
    status, problem = served.raw("POST", "/v1/transfers", "mall", {
        "from_account": alice["id"], "to_account": friend["id"], "amount": 1, "currency": "CNY"})
    assert (status, problem["type"]) == (409, "account-frozen"), problem
    changes = [e["data"] for e in served.api("GET", "/v1/events?limit=1000", "auditor")["events"]
               if e["topic"].endswith("Account.StatusChanged") and e["originator_id"] == alice["id"]]
    assert [(c["status"], c["reason"]) for c in changes] == [("frozen", "suspected fraud, ticket 4411")], changes
    recorded = [e["data"]["key"] for e in served.api("GET", "/v1/events?limit=1000", "auditor")["events"]
                if e["topic"].endswith("IdempotentRequest.Recorded") and e["data"]["operation"] == "set-account-status"]
    assert recorded and not any("fraud" in key for key in recorded), recorded  # a plain per-form key
    # The account page shows the last status change: what, when, who (the operator key's name), why.
    last = page.locator("#last-status-change")
    assert page.locator("[data-change=status]").inner_text() == "frozen"
    assert page.locator("[data-change=reason]").inner_text() == "suspected fraud, ticket 4411"
    assert "operator" in page.locator("[data-change=by]").inner_text() and "UTC" in last.inner_text()

    page.select_option("#status-form select[name=status]", "active")
    page.click("#status-form button")  # no reason: the browser asks for one; nothing is sent
    assert page.locator("#account-status").inner_text() == "frozen"
    page.fill("#status-form input[name=reason]", "cleared by risk")
    page.click("#status-form button")
    assert "is now active" in console.flash()
    assert page.locator("[data-change=status]").inner_text() == "active"
    assert page.locator("[data-change=reason]").inner_text() == "cleared by risk"
    console.shot("unfrozen-with-reason")


def test_closing_an_account_with_money_in_it_is_refused_with_a_readable_message(console):
    alice = console.served.open_account("support-rich", 500)
    console.login("operator")
    page = console.goto(f"/console/accounts/{alice['id']}", "rich-account")
    page.select_option("#status-form select[name=status]", "closed")
    page.fill("#status-form input[name=reason]", "customer asked")
    page.click("#status-form button")
    assert page.locator("#account-status").inner_text() == "active"
    assert "empty it before closing (account-not-empty)" in console.flash() and "Traceback" not in page.content()
    console.shot("close-refused")


def test_an_auditor_reads_accounts_but_cannot_change_them(console):
    alice = console.served.open_account("support-audited", 100)
    console.login("auditor")
    page = console.goto(f"/console/accounts/{alice['id']}", "audited-account")
    assert page.locator("[data-balance=posted]").inner_text() == "1.00 CNY"
    assert page.locator("#status-form").count() == 0
    page.click("a:text('its events')")
    console.shot("audited-account-events")
    assert "Account.Opened" in page.locator("#events").inner_text()


def test_the_statement_is_paged(console):
    served = console.served
    alice = served.open_account("support-busy", 100_000)
    bob = served.open_account("support-busy-bob")
    served.api("POST", "/v1/transfers/batch", "mall", {"transfers": [
        {"from_account": alice["id"], "to_account": bob["id"], "amount": 100 + i, "currency": "CNY",
         "idempotency_key": f"busy-{i}"} for i in range(55)]})
    console.login("finance")
    page = console.goto(f"/console/accounts/{alice['id']}", "busy-first-page")
    assert page.locator("#statement tbody tr").count() == 50
    first_rows = page.locator("#statement tbody").inner_text()
    assert page.locator(".pager a.previous").count() == 0
    page.click(".pager a.next")
    console.shot("busy-next-page")
    rows = page.locator("#statement tbody tr")
    assert rows.count() == 6
    assert rows.last.locator("td").nth(5).inner_text() == "930.15 CNY"  # 1,000.00 less 1.00 + 1.01 + ... + 1.54
    page.click(".pager a.previous")
    assert page.locator("#statement tbody").inner_text() == first_rows
    assert page.locator(".pager a.previous").count() == 0
    page.click(".pager a.next")
    page.click(".pager a.first")
    assert page.locator("#statement tbody tr").count() == 50


def test_a_bad_account_id_or_day_is_a_readable_page(console):
    console.login("operator")
    page = console.goto("/console/accounts/not-an-id", "bad-id")
    assert "Some input was not accepted" in page.locator("#problem").inner_text()
    page = console.goto("/console/accounts/00000000-0000-0000-0000-000000000000", "unknown-id")
    assert "not found" in page.locator("#problem").inner_text()
    page = console.goto("/console/accounts?kind=galaxy", "bad-kind")
    assert "kind must be one of" in page.locator("#problem").inner_text()


def test_an_account_page_its_csv_and_its_freeze_on_each_store(clerk):
    alice = clerk.api.open("store-alice")
    clerk.settle(clerk.api.fund(alice, 250_075)["position"])  # the search and the statement read the views
    clerk.login("operator")
    clerk.get("/console/accounts?business_id=mall&external_ref=store-alice&kind=member")
    assert "2,500.75 CNY" in clerk.text()
    clerk.get(f"/console/accounts/{alice}")
    assert clerk.page.status_code == 200 and "Available 可用 posted − pending 2,500.75 CNY" in clerk.text()
    csv_text = clerk.client.get(f"/console/accounts/{alice}/statement.csv?from=2000-01-01").text
    assert csv_text.splitlines()[1].split(",")[6:9] == ["250075", "CNY", "250075"]
    clerk.post(f"/console/accounts/{alice}/status", {"status": "frozen", "reason": "court order 7"})
    assert "is now frozen" in clerk.text()
    clerk.post(f"/console/accounts/{alice}/status", {"status": "frozen", "reason": "court order 7"})  # the same form again
    assert "is now frozen" in clerk.text()  # the first outcome, not a refusal
    assert clerk.api.get(f"/v1/accounts/{alice}").json()["status"] == "frozen"
    clerk.post(f"/console/accounts/{alice}/status", {"status": "frozen", "reason": "  "})
    assert "give a reason" in clerk.text()


def test_an_auditor_cannot_freeze_even_by_posting_the_form(clerk):
    alice = clerk.api.open("store-bob")
    clerk.login("auditor")
    clerk.get(f"/console/accounts/{alice}")
    response = clerk.post(f"/console/accounts/{alice}/status", {"status": "frozen", "reason": "curious"})
    assert response.status_code == 403 and "needs accounts:status" in clerk.text()
    assert clerk.api.get(f"/v1/accounts/{alice}").json()["status"] == "active"


def test_what_customers_typed_is_shown_as_text_never_as_markup(clerk):
    hostile = '<img src=x onerror="alert(1)">张三</td>'
    response = clerk.api.post("/v1/accounts", {"kind": "member", "external_ref": "store-hostile", "currency": "CNY",
                                               "name": hostile})
    assert response.status_code == 201, response.text
    clerk.settle(response.json()["position"])
    clerk.login("auditor")
    for path in (f"/console/accounts/{response.json()['id']}", "/console/accounts?external_ref=store-hostile"):
        page = clerk.get(path).text
        assert hostile not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;张三&lt;/td&gt;" in page
