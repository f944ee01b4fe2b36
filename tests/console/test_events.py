"""The auditor's event log at the console: filtered by aggregate and by type, each event's data readable;
where the views stand against the log."""

import re

from tests.console.conftest import Console


def test_the_auditor_reads_the_log_by_type_and_by_aggregate(console: Console):
    served = console.served
    account = served.open_account("audit-erin", 4_200)
    console.login("auditor")
    page = console.goto("/console/events", "events")
    head = int(page.locator("#log-head").inner_text())
    assert head >= 1 and 0 <= int(page.locator("#views-position").inner_text()) <= head
    assert "replay --verify" in page.locator("#verification").inner_text()
    assert "fundcenter replay" in page.locator("#verification-replay").inner_text()  # run from the command line

    page.select_option("#event-filters select[name=type]", label="Account.Opened")
    page.click("#event-filters button")
    console.shot("accounts-opened")
    types = [row.split("\t")[2].strip() for row in page.locator("#events tbody tr").all_inner_texts()]
    assert types and set(types) == {"Account.Opened"}

    page = console.goto(f"/console/events?aggregate={account['id']}", "one-account")
    rows = page.locator("#events tbody tr")
    assert [row.split("\t")[2].strip() for row in rows.all_inner_texts()][:2] == ["Account.Opened", "Account.Credited"]
    assert '"external_ref": "audit-erin"' in rows.first.locator("pre").inner_text()
    assert '"amount": 4200' in rows.nth(1).locator("pre").inner_text()
    page.select_option("#event-filters select[name=type]", label="Account.Credited")
    page.click("#event-filters button")
    assert [row.split("\t")[2].strip() for row in page.locator("#events tbody tr").all_inner_texts()] == ["Account.Credited"]


def test_the_log_is_paged_and_hides_secret_hashes(console: Console):
    served = console.served
    alice, bob = served.open_account("audit-frank", 10_000), served.open_account("audit-gina")
    served.api("POST", "/v1/transfers/batch", "mall", {"transfers": [  # more events than a page, whatever ran before
        {"from_account": alice["id"], "to_account": bob["id"], "amount": 1, "currency": "CNY"} for _ in range(30)]})
    console.login("auditor")
    page = console.goto("/console/events?type=ledger.domain.access:ApiKey.Created", "key-events")
    text = page.locator("#events").inner_text()
    assert "ApiKey.Created" in text and "secret_hash" not in text
    page = console.goto("/console/events?after=0", "first-page")
    assert page.locator("#events tbody tr").count() == 50
    first = page.locator("#events tbody tr").first.locator("td").first.inner_text()
    page.click(".pager a.next")
    console.shot("second-page")
    assert int(page.locator("#events tbody tr").first.locator("td").first.inner_text()) > int(first)
    page.click(".pager a.previous")
    assert page.locator("#events tbody tr").first.locator("td").first.inner_text() == first


def test_only_auditors_and_admins_read_the_log(console: Console):
    console.login("finance")
    page = console.goto("/console/events", "finance-refused")
    assert "may not open this page" in page.locator("#problem").inner_text()
    page = console.goto("/console/events?type=Nothing", "finance-refused-again")
    assert "may not open this page" in page.locator("#problem").inner_text()


def test_the_log_by_type_and_by_aggregate_on_each_store(clerk):
    alice = clerk.api.open("store-erin")
    clerk.api.fund(alice, 700)
    clerk.login("auditor")
    clerk.get("/console/events?type=ledger.domain.accounts:Account.Credited")
    assert clerk.page.status_code == 200 and "Account.Credited" in clerk.text() and "Account.Opened" not in clerk.text().split("Filter 筛选")[1]
    clerk.get(f"/console/events?aggregate={alice}")
    shown = clerk.text().split("Filter 筛选")[1]
    assert "Account.Opened" in shown and "&#34;external_ref&#34;: &#34;store-erin&#34;" in clerk.page.text
    assert clerk.get("/console/events?aggregate=nope").status_code == 422
    assert clerk.get("/console/events?type=Account.Nothing").status_code == 422


def test_the_page_shows_the_last_verification_of_each_kind_on_each_store(clerk, store_url, monkeypatch):
    from datetime import UTC, datetime

    from typer.testing import CliRunner

    from api import cli, cli_audit
    from ledger.store import Database
    from projections import ViewStore

    clerk.login("auditor")
    clerk.get("/console/events")
    never = clerk.text().split("Last verifications")[1].split("Filter 筛选")[0]
    assert never.count("Never run on this database.") == 2 and "fundcenter replay" in never
    moment = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    monkeypatch.setattr(cli, "clock", lambda: lambda: moment)
    monkeypatch.setattr(cli_audit, "clock", lambda: lambda: moment)
    monkeypatch.setenv("FUNDCENTER_DATABASE_URL", store_url)
    alice = clerk.api.open("verify-erin")
    clerk.api.fund(alice, 900)
    assert CliRunner().invoke(cli.app, ["replay"]).exit_code == 0
    clerk.get("/console/events")
    shown = clerk.text().split("Last verifications")[1].split("Filter 筛选")[0]
    assert shown.count("Never run on this database.") == 1  # the audit has not run
    assert "2026-11-25 10:30:00" in shown and "ok 通过" in shown and "none: it verified the head" in shown

    views = ViewStore(Database.from_url(store_url))
    with views.transaction() as cur:
        cur.execute("UPDATE account_balances SET posted = posted + 1 WHERE external_ref = 'verify-erin'")
    views.close()
    clerk.api.fund(clerk.api.open("verify-fay"), 100)
    assert CliRunner().invoke(cli.app, ["replay"]).exit_code == 1
    assert CliRunner().invoke(cli.app, ["audit", "verify"]).exit_code == 0
    clerk.api.fund(alice, 1)  # the log moves on after both runs
    clerk.get("/console/events")
    shown = clerk.text().split("Last verifications")[1].split("Filter 筛选")[0]
    assert "Never run" not in shown and "failed 失败: account_balances: row (" in shown and "column posted" in shown
    assert "ok 通过" in shown  # the audit's run
    head = int(re.search(r'id="log-head">(\d+)<', clerk.page.text).group(1))
    for kind in ("replay", "audit"):  # when, at which position, and how far the log has moved since
        row = re.search(f'id="verification-{kind}">(.*?)</tr>', clerk.page.text, re.S).group(1)
        cells = [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        assert cells[1] == "2026-11-25 10:30:00" and cells[4] == f"{head - int(cells[2])} events" and int(cells[2]) < head
