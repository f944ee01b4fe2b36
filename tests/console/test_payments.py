"""Transactions and payments at the console: filters, a payment's routing decisions, what the channel
answered and what was posted; the operator's sweep of pending payments."""

import re

from tests.console.conftest import Console


def recharge(served, ref, amount=50_000):
    account = served.open_account(ref)
    binding = served.bind(account["id"])
    payment = served.api("POST", "/v1/recharges", "mall", {"account": account["id"], "amount": amount, "currency": "CNY",
                                                           "method": "withholding", "binding_id": binding["id"]})
    return account, payment


def test_finance_finds_a_recharge_and_reads_its_routing_channel_results_and_postings(console: Console):
    account, payment = recharge(console.served, "pay-alice")
    console.login("finance")
    page = console.goto(f"/console/payments?business_id=mall&account_id={account['id']}", "payments")
    rows = page.locator("#payments tbody tr")
    assert rows.count() == 1 and "500.00 CNY" in rows.inner_text() and payment["status"] in rows.inner_text()
    page.click("#payments a:text-is('recharge')")
    console.shot("payment")
    assert page.url == f"{console.base}/console/payments/{payment['id']}"
    assert page.locator("#payment-status").inner_text() == payment["status"]
    decisions = page.locator("#decisions tbody tr")
    assert decisions.count() == len(payment["decisions"]) >= 1
    assert payment["decisions"][-1]["channel"] in decisions.last.inner_text()
    results = page.locator("#channel-results").inner_text()
    assert "Requested" in results and "Routed" in results
    assert payment["status"] == "succeeded"  # the simulator's channels always succeed unless told otherwise
    assert "Succeeded" in results and "500.00 CNY" in page.locator(".postings").first.inner_text()
    assert "system · pending_reconciliation · unionpay" in page.locator(".postings").first.inner_text()
    page.click(".postings a >> nth=0")
    console.shot("posted-account")


def test_transactions_are_filtered_by_business_kind_status_channel_and_day(console: Console):
    served = console.served
    account, payment = recharge(served, "pay-bob", 30_000)
    day = payment["created_at"][:10]
    console.login("auditor")
    page = console.goto(f"/console/transactions?account_id={account['id']}", "transactions")
    kinds = [row.split("\t")[1].strip() for row in page.locator("#transactions tbody tr").all_inner_texts()]
    assert "recharge" in kinds and "verification" in kinds
    page.select_option("#transaction-filters select[name=kind]", "recharge")
    page.fill("#transaction-filters input[name=business_id]", "mall")
    page.fill("#transaction-filters input[name=from]", day)
    page.fill("#transaction-filters input[name=to]", day)
    page.click("#transaction-filters button")
    console.shot("recharges-of-the-day")
    rows = page.locator("#transactions tbody tr")
    assert rows.count() == 1 and "300.00 CNY" in rows.inner_text()
    page.fill("#transaction-filters input[name=channel]", payment["channel"])
    page.click("#transaction-filters button")
    assert page.locator("#transactions tbody tr").count() == 1
    page.fill("#transaction-filters input[name=channel]", "no-such-channel")
    page.click("#transaction-filters button")
    assert "No transaction matches" in page.locator("#transactions").inner_text()
    page = console.goto(f"/console/transactions?account_id={account['id']}&from=2001-01-01&to=2001-01-02", "old-days")
    assert "No transaction matches" in page.locator("#transactions").inner_text()
    page = console.goto("/console/transactions?from=2026-02-30", "bad-day")
    assert "from must be a day written YYYY-MM-DD" in page.locator("#problem").inner_text()


def test_a_transfer_shows_its_postings(console: Console):
    served = console.served
    alice, bob = served.open_account("pay-carol", 10_000), served.open_account("pay-dave")
    transfer = served.api("POST", "/v1/transfers", "mall", {"from_account": alice["id"], "to_account": bob["id"],
                                                            "amount": 2_500, "currency": "CNY", "memo": "lunch"})
    console.login("auditor")
    page = console.goto(f"/console/transactions?account_id={bob['id']}&kind=transfer", "transfers")
    page.click("#transactions a:text-is('transfer')")
    console.shot("transfer")
    postings = [row.split("\t") for row in page.locator(".postings tbody tr").all_inner_texts()]
    assert [(p[0].strip(), p[1].strip(), p[2].strip()) for p in postings] == [
        ("mall / pay-carol", "25.00 CNY", ""), ("mall / pay-dave", "", "25.00 CNY")]
    assert transfer["id"] in page.locator(".facts").inner_text()
    when = page.locator(".facts dt:text-is('Time') + dd").inner_text()  # to the second, as the lists show it
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", when), when
    assert when.startswith(transfer["created_at"][:19].replace("T", " "))


def test_the_operator_sweeps_pending_payments_and_others_cannot(console: Console):
    console.login("operator")
    page = console.goto("/console/payments", "payments-operator")
    page.fill("#sweep-form input[name=older_than_minutes]", "0")
    page.click("#sweep-form button")
    console.shot("swept")
    said = console.flash()
    assert "Swept" in said or "No payment was pending" in said, said
    console.page.context.clear_cookies()
    console.login("finance")
    page = console.goto("/console/payments", "payments-finance")
    assert page.locator("#sweep-form").count() == 0


def test_a_withdrawals_hold_is_among_the_accounts_holds(console: Console):
    served = console.served
    account = served.open_account("pay-withdrawer", 100_000)
    binding = served.bind(account["id"])
    withdrawal = served.api("POST", "/v1/withdrawals", "mall", {"account": account["id"], "amount": 12_300, "currency": "CNY",
                                                                "binding_id": binding["id"]})
    console.login("operator")
    page = console.goto(f"/console/accounts/{account['id']}", "withdrawer")
    holds = page.locator("#holds tbody tr")
    assert holds.count() == 1 and "123.00 CNY" in holds.inner_text()
    page = console.goto(f"/console/payments/{withdrawal['id']}", "withdrawal")
    assert page.locator("h1").inner_text().startswith("Withdrawal 123.00 CNY")
