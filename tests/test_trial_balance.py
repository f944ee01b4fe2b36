"""The trial balance as finance means it: every account (customer and system) with its debit or
credit balance at an instant, the two columns equal per currency at every instant, the turnover
beside it; and the CSV exports of it and of a statement, which parse and match the JSON."""

import csv
import io
from datetime import UTC, datetime, timedelta

from ledger import FundCenter
from ledger.clock import SteppingClock
from projections import ProjectionRunner, ViewStore
from projections.trial_balance import trial_balance, trial_balance_by_account
from tests.shop import UNIONPAY_FIRST, configure, open_shop

START = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _z(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _csv(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def _business_day(shop, clock):
    """A day of business, and the instants between its steps (before it, and after it too)."""
    instants = [clock()]
    configure(shop, {"withholding": UNIONPAY_FIRST, "payout": UNIONPAY_FIRST})
    alice, bob = shop.account("alice"), shop.account("bob")
    binding = shop.bind(alice)["id"]
    instants.append(clock())
    assert shop.recharge(alice, 10_000, binding_id=binding).json()["status"] == "succeeded"
    instants.append(clock())
    shop.ok("POST", "/v1/transfers", {"from_account": alice, "to_account": bob, "amount": 2_500, "currency": "CNY",
                                      "memo": "=dinner"})
    instants.append(clock())
    shop.ok("POST", "/v1/admin/adjustments", {"account": bob, "amount": 100, "currency": "CNY", "direction": "credit",
                                              "reason": "goodwill"}, who="admin")
    hold = shop.ok("POST", "/v1/holds", {"account": alice, "amount": 1_000, "reason": "order 7"})
    shop.ok("POST", f"/v1/holds/{hold['id']}/capture", {"to_account": bob, "amount": 400})
    instants.append(clock())
    withdrawal = shop.ok("POST", "/v1/withdrawals", {"account": alice, "amount": 3_000, "currency": "CNY",
                                                     "binding_id": binding})
    assert withdrawal["status"] == "succeeded"
    instants.append(clock())
    clock.set(START + timedelta(days=1, hours=2))
    last = shop.recharge(alice, 5_000, binding_id=binding).json()
    instants.append(clock())
    shop.ok("GET", "/v1/transactions", params={"min_position": last["position"]})
    return alice, bob, instants


def test_the_trial_balance_balances_at_every_instant_before_during_and_after_a_day(store_url):
    clock = SteppingClock(START)
    with open_shop(store_url, clock=clock) as shop:
        alice, bob, instants = _business_day(shop, clock)
        before = shop.ok("GET", "/v1/reports/trial-balance", who="admin", params={"as_of": _z(instants[0])})
        assert (before["accounts"], before["currencies"], before["turnover"]) == ([], [], [])

        for moment in instants:
            report = shop.ok("GET", "/v1/reports/trial-balance", who="admin", params={"as_of": _z(moment)})
            assert datetime.fromisoformat(report["as_of"]) == moment
            for total in report["currencies"]:
                assert total["debit"] == total["credit"] and total["balanced"], (moment, total)
                rows = [a for a in report["accounts"] if a["currency"] == total["currency"]]
                assert sum(a["credit"] - a["debit"] for a in rows) == 0
                assert sum(a["debit"] for a in rows) == total["debit"]
            assert all(t["balanced"] and t["net"] == 0 for t in report["turnover"])
            assert all(bool(a["debit"]) != bool(a["credit"]) for a in report["accounts"])  # only accounts with a balance
            for account in (alice, bob):
                posted = shop.ok("GET", f"/v1/accounts/{account}/balance", params={"as_of": _z(moment)})["posted"]
                row = [a for a in report["accounts"] if a["account_id"] == account]
                assert (row[0]["credit"] - row[0]["debit"] if row else 0) == posted, (moment, account)

        during = shop.ok("GET", "/v1/reports/trial-balance", who="admin", params={"as_of": _z(instants[2])})
        kinds = {(a["kind"], a["role"], a["channel"]): (a["debit"], a["credit"]) for a in during["accounts"]}
        assert kinds == {
            ("member", None, None): (0, 10_000),
            ("system", "pending_reconciliation", "unionpay"): (10_000 - 60, 0),
            ("system", "fee_expense", None): (60, 0),
        }
        now = shop.ok("GET", "/v1/reports/trial-balance", who="admin")
        after = shop.ok("GET", "/v1/reports/trial-balance", who="admin", params={"as_of": _z(instants[-1])})
        assert (now["accounts"], now["currencies"], now["turnover"]) == (
            after["accounts"], after["currencies"], after["turnover"])
        assert {a["account_id"]: a["credit"] for a in now["accounts"] if a["kind"] == "member"} == {
            alice: shop.balance(alice)["posted"], bob: shop.balance(bob)["posted"]}
        everyone = shop.ok("GET", "/v1/reports/trial-balance", who="admin", params={"include_zero": "true"})
        assert len(everyone["accounts"]) == sum(t["accounts"] for t in everyone["currencies"]) >= len(now["accounts"])
        assert shop.call("GET", "/v1/reports/trial-balance").status_code == 403  # a business key


def test_the_csv_exports_parse_and_match_the_json(store_url):
    clock = SteppingClock(START)
    with open_shop(store_url, clock=clock) as shop:
        alice, _, instants = _business_day(shop, clock)
        for params in ({}, {"as_of": _z(instants[3])}, {"as_of": _z(instants[1]), "include_zero": "true"}):
            report = shop.ok("GET", "/v1/reports/trial-balance", who="admin", params=params)
            lines = _csv(shop.call("GET", "/v1/reports/trial-balance.csv", who="admin", params=params))
            accounts = [line for line in lines if line["line"] == "account"]
            assert [{**a, "role": a["role"] or None, "channel": a["channel"] or None, "debit": int(a["debit"]),
                     "credit": int(a["credit"])} for a in ({k: v for k, v in line.items() if k != "line"}
                                                            for line in accounts)] == report["accounts"]
            totals = [(t["currency"], int(t["debit"]), int(t["credit"])) for t in lines if t["line"] == "total"]
            assert totals == [(t["currency"], t["debit"], t["credit"]) for t in report["currencies"]]

        statement = shop.ok("GET", f"/v1/accounts/{alice}/statement", params={"limit": 1000})["entries"]
        lines = _csv(shop.call("GET", f"/v1/accounts/{alice}/statement.csv"))
        assert len(lines) == len(statement) >= 5
        for line, entry in zip(lines, statement, strict=True):
            assert line["currency"] == "CNY"
            assert {k: line[k] for k in ("transfer_id", "kind", "side")} == {k: entry[k] for k in ("transfer_id", "kind", "side")}
            assert [int(line[k]) for k in ("position", "seq", "amount", "balance_after")] == [
                entry[k] for k in ("position", "seq", "amount", "balance_after")]
            assert datetime.fromisoformat(line["created_at"]) == datetime.fromisoformat(entry["created_at"])
            assert (line["counterparty_id"] or None) == entry["counterparty_id"]
            # A memo a spreadsheet would take for a formula is kept as text.
            assert line["memo"] == ("'" + entry["memo"] if entry["memo"].startswith("=") else entry["memo"])
        assert any(line["memo"] == "'=dinner" for line in lines)

        window = {"from": _z(instants[2]), "to": _z(instants[4])}
        page = shop.ok("GET", f"/v1/accounts/{alice}/statement", params=window)["entries"]
        lines = _csv(shop.call("GET", f"/v1/accounts/{alice}/statement.csv", params=window))
        assert [int(line["position"]) for line in lines] == [e["position"] for e in page] and page
        missing = shop.call("GET", f"/v1/accounts/{alice}/statement.csv", who="other")
        assert (missing.status_code, missing.json()["type"]) == (404, "not-found")
        assert shop.call("GET", "/v1/reports/trial-balance.csv").json()["type"] == "forbidden"


def test_postings_committed_out_of_clock_order_still_balance_at_every_instant(store_url):
    """Two writers whose clocks read 10:05 and 10:02 commit in that order: the log's order is
    not the clocks'. A balance at 10:03 is a cut in time, and every cut balances."""
    at = lambda hh, mm: datetime(2026, 11, 25, hh, mm, tzinfo=UTC)  # noqa: E731 - a one-line helper of this test only
    now = [at(10, 0)]
    fc = FundCenter(store_url, clock=lambda: now[0])
    views = ViewStore(fc.database)
    try:
        alice = fc.open_account("member", "mall", "alice", "CNY").id
        bob = fc.open_account("member", "mall", "bob", "CNY").id
        fc.adjust(alice, 1_000, "CNY", "credit", "seed", idempotency_key="seed")
        now[0] = at(10, 5)
        fc.transfer(alice, bob, 300, "CNY", idempotency_key="late-clock-first")
        now[0] = at(10, 2)
        fc.transfer(alice, bob, 200, "CNY", idempotency_key="early-clock-second")
        ProjectionRunner(fc, views).catch_up()
        expected = {at(9, 59): {}, at(10, 1): {alice: 1_000}, at(10, 3): {alice: 800, bob: 200},
                    at(10, 6): {alice: 500, bob: 500}}
        for moment, balances in expected.items():
            report = trial_balance_by_account(views, moment)
            assert all(t["balanced"] for t in report["currencies"]), (moment, report)
            members = {a["account_id"]: a["credit"] - a["debit"] for a in report["accounts"] if a["kind"] == "member"}
            assert members == {str(k): v for k, v in balances.items()}, moment
        assert trial_balance_by_account(views)["turnover"] == trial_balance(views)
    finally:
        views.close()
        fc.close()
