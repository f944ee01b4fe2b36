"""Carry-over (T+2 and later), on SQLite and PostgreSQL, through HTTP: a waiting difference
stays open, owned by its channel and currency, and is matched by a later day's file; that
day's close moves its amount, so pending_reconciliation comes back to zero for everything
matched; what waits too long is overdue (on the reconciliation and in /metrics). Also: a
USD reconciliation beside a CNY one, a payout reversed, a waiting difference completed,
and a line the channel repeats flagged as a duplicate, never booked twice."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from ledger.clock import SteppingClock
from ledger.domain.ids import system_account_id
from ledger.domain.reconciliation import net
from tests.config import DAY
from tests.shop import UNIONPAY_FIRST, configure, open_shop

D1, D2, D3 = DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)


def morning(day, hour=9):
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture
def clock():
    return SteppingClock(morning(D1, 10))


@pytest.fixture
def shop(store_url, clock):
    with open_shop(store_url, clock=clock) as opened:
        opened.clock = clock
        yield opened


def imported(shop, channel, day, text, currency="CNY"):
    return shop.ok("POST", "/v1/reconciliations", {"channel": channel, "date": day.isoformat(), "file": text,
                                                   "currency": currency}, who="admin")


def differences(shop, rec):
    return shop.ok("GET", f"/v1/reconciliations/{rec['id']}/differences", who="admin")["items"]


def resolve(shop, rec, seq, action, reason="checked with the channel"):
    return shop.ok("POST", f"/v1/reconciliations/{rec['id']}/differences/{seq}/resolve",
                   {"action": action, "reason": reason}, who="admin")


def close(shop, rec):
    return shop.ok("POST", f"/v1/reconciliations/{rec['id']}/close", who="admin")


def pending(shop, position, channel="unionpay", currency="CNY"):
    """The channel's pending_reconciliation balance (all days), and its reconciled one."""
    days = shop.ok("GET", "/v1/reports/suspense", who="admin", params={"min_position": position})["days"]
    rows = [d for d in days if d["channel"] == channel and d["currency"] == currency]
    return sum(d["pending"] for d in rows), sum(d["reconciled"] for d in rows)


def balanced(shop, position):
    trial = shop.ok("GET", "/v1/reports/trial-balance", who="admin", params={"min_position": position})
    return all(c["balanced"] for c in trial["currencies"])


def ours(line):
    return net(line["kind"], line["our_amount"], line["our_fee"], line["our_status"])


def members_with_cards(shop, count, currency="CNY"):
    members = [shop.ok("POST", "/v1/accounts", {"kind": "member", "external_ref": f"m-{currency}-{n}",
                                                "currency": currency})["id"] for n in range(count)]
    return members, [shop.bind(m)["id"] for m in members]


def test_three_days_of_waits_matched_later_and_one_overdue(shop):
    configure(shop, {"withholding": UNIONPAY_FIRST, "payout": UNIONPAY_FIRST})
    members, cards = members_with_cards(shop, 2)
    for n in range(4):
        assert shop.recharge(members[n % 2], 10_000 + n * 100, binding_id=cards[n % 2]).json()["status"] == "succeeded"
    shop.ok("POST", "/v1/withdrawals", {"account": members[0], "amount": 2_000, "currency": "CNY", "binding_id": cards[0]})
    unionpay = shop.channels["unionpay"]

    # Day 1, imported the next morning: two rows come late. Both wait; the day closes without them.
    shop.clock.set(morning(D2))
    day1 = imported(shop, "unionpay", D1, unionpay.statement(D1, late=2))
    late = differences(shop, day1)
    assert [d["class"] for d in late] == ["missing_in_channel"] * 2
    for d in late:
        resolve(shop, day1, d["seq"], "wait", "the channel's file is late")
    closed1 = close(shop, day1)
    assert closed1["waiting"] == sorted(d["seq"] for d in late)
    assert pending(shop, closed1["position"])[0] == sum(ours(d) for d in late)  # only what waits is left

    # Day 2: new business; the file brings one of day 1's late rows, and holds back one of its own.
    for n in range(2):
        shop.recharge(members[n], 7_000 + n, binding_id=cards[n])
    shop.clock.set(morning(D3))
    day2 = imported(shop, "unionpay", D2, unionpay.statement(D2, late=1))
    assert day2["carried"] == 1 and day2["summary"]["matched"]["carried"] == 1
    lines2 = shop.ok("GET", f"/v1/reconciliations/{day2['id']}/lines", who="admin")["items"]
    [carried] = [line for line in lines2 if line["carried_from"]]
    assert (carried["class"], carried["carried_from"], carried["carried_day"]) == ("matched", day1["id"], D1.isoformat())
    came, still = [d for d in late if d["payment_id"] == carried["payment_id"]], [
        d for d in late if d["payment_id"] != carried["payment_id"]]
    assert len(came) == 1 and len(still) == 1
    [held] = differences(shop, day2)
    assert held["class"] == "missing_in_channel"
    resolve(shop, day2, held["seq"], "wait", "late again")
    closed2 = close(shop, day2)
    assert pending(shop, closed2["position"])[0] == ours(still[0]) + ours(held)
    after1 = shop.ok("GET", f"/v1/reconciliations/{day1['id']}", who="admin")
    assert after1["waiting"] == [still[0]["seq"]]
    assert after1["resolutions"][str(came[0]["seq"])]["matched_on"] == {
        "reconciliation_id": day2["id"], "day": D2.isoformat(), "seq": carried["seq"]}
    detail = shop.client.get(f"/v1/reconciliations/{day1['id']}/report.csv", params={"part": "detail"},
                             headers={"Authorization": f"Bearer {shop.keys['admin']}"}).text
    resolutions = {row["seq"]: row["resolution"] for row in csv.DictReader(io.StringIO(detail))}
    assert resolutions[str(came[0]["seq"])] == f"wait (matched on {D2.isoformat()})"
    assert resolutions[str(still[0]["seq"])] == "wait (waiting)"

    # Day 3: no business of its own; its file has day 2's late row. Day 1's other row still waits.
    shop.clock.set(morning(D3 + timedelta(days=1)))
    day3 = imported(shop, "unionpay", D3, unionpay.statement(D3, late=1))
    assert (day3["lines"], day3["carried"], day3["open_differences"]) == (1, 1, 0)
    closed3 = close(shop, day3)
    assert closed3["moved"] == ours(held)
    assert pending(shop, closed3["position"])[0] == ours(still[0])  # back to zero for everything matched
    assert balanced(shop, closed3["position"])
    not_yet = shop.ok("GET", f"/v1/reconciliations/{day1['id']}", who="admin", params={"min_position": closed3["position"]})
    assert not_yet["overdue"] == []  # waiting 3 days: not longer than the 3 allowed

    # Two days on, it has waited 4 days: overdue, on every reconciliation of the channel and in /metrics.
    shop.clock.set(morning(D3 + timedelta(days=2)))
    [overdue] = shop.ok("GET", f"/v1/reconciliations/{day3['id']}", who="admin")["overdue"]
    assert (overdue["reconciliation_id"], overdue["seq"], overdue["since"], overdue["age_days"]) == (
        day1["id"], still[0]["seq"], D1.isoformat(), 4)
    metrics = shop.client.get("/metrics").text
    assert 'fundcenter_reconciliation_overdue_items{channel="unionpay",currency="CNY"} 1' in metrics

    # At last, written off on its own (closed) day: pending_reconciliation is zero, the books balance.
    done = resolve(shop, day1, still[0]["seq"], "write_off", "the channel never settled it")
    assert done["resolution"]["action"] == "write_off" and done["resolution"]["waited"]["reason"]
    [transfer] = done["resolution"]["transfers"]
    suspense = system_account_id("pending_reconciliation", "CNY", "unionpay")
    assert {(p["account"], p["side"]) for p in transfer["postings"]} >= {(str(suspense), "credit" if ours(still[0]) > 0
                                                                         else "debit")}
    assert pending(shop, done["position"])[0] == 0
    assert balanced(shop, done["position"])
    assert 'overdue_items{channel="unionpay",currency="CNY"}' not in shop.client.get("/metrics").text
    again = shop.call("POST", f"/v1/reconciliations/{day1['id']}/differences/{still[0]['seq']}/resolve",
                      {"action": "reverse", "reason": "twice"}, who="admin")
    assert (again.status_code, again.json()["type"]) == (409, "day-closed")


def test_usd_beside_cny_for_the_same_channel_and_day(shop):
    configure(shop, {"withholding": UNIONPAY_FIRST})
    cny, cny_cards = members_with_cards(shop, 1, "CNY")
    usd, usd_cards = members_with_cards(shop, 1, "USD")
    shop.recharge(cny[0], 50_000, binding_id=cny_cards[0])
    shop.recharge(cny[0], 20_000, binding_id=cny_cards[0])
    shop.call("POST", "/v1/recharges", {"account": usd[0], "amount": 9_000, "currency": "USD",
                                        "method": "withholding", "binding_id": usd_cards[0]})
    unionpay = shop.channels["unionpay"]
    shop.clock.set(morning(D2))
    in_cny = imported(shop, "unionpay", D1, unionpay.statement(D1, currency="CNY"))
    in_usd = imported(shop, "unionpay", D1, unionpay.statement(D1, currency="USD"), currency="USD")
    assert in_cny["id"] != in_usd["id"] and (in_cny["currency"], in_usd["currency"]) == ("CNY", "USD")
    assert (in_cny["lines"], in_cny["ours"], in_cny["open_differences"]) == (2, 2, 0)
    assert (in_usd["lines"], in_usd["ours"], in_usd["open_differences"]) == (1, 1, 0)
    # The CNY file as if it were USD: none of its lines are USD payments of ours.
    wrong = imported(shop, "unionpay", D1, unionpay.statement(D1, currency="CNY"), currency="USD")
    assert wrong["summary"]["missing_in_ledger"]["count"] == 2 and wrong["summary"]["missing_in_channel"]["count"] == 1
    closed = close(shop, in_usd)
    fee = shop.ok("GET", f"/v1/reconciliations/{in_usd['id']}/lines", who="admin")["items"][0]["their_fee"]
    assert closed["moved"] == 9_000 - fee
    transfer = shop.ok("GET", "/v1/transactions", who="admin", params={"kind": "reconciliation",
                                                                        "min_position": closed["position"]})["items"]
    assert [t["currency"] for t in transfer] == ["USD"]
    assert pending(shop, closed["position"], currency="USD") == (0, 9_000 - fee)
    assert pending(shop, closed["position"], currency="CNY")[1] == 0  # the CNY day is still open
    assert close(shop, in_cny)["moved"] > 0
    refused = shop.call("POST", f"/v1/reconciliations/{wrong['id']}/close", who="admin")
    assert refused.status_code == 409  # open differences (and the USD day is closed)
    summary = shop.client.get(f"/v1/reconciliations/{in_usd['id']}/report.csv",
                              headers={"Authorization": f"Bearer {shop.keys['admin']}"}).text
    assert {row["currency"] for row in csv.DictReader(io.StringIO(summary))} == {"USD"}


def test_a_payout_the_channel_lacks_is_reversed_to_the_member_with_its_fee(shop):
    configure(shop, {"withholding": UNIONPAY_FIRST, "payout": UNIONPAY_FIRST})
    [member], [card] = members_with_cards(shop, 1)
    shop.recharge(member, 50_000, binding_id=card)
    paid = shop.ok("POST", "/v1/withdrawals", {"account": member, "amount": 20_000, "currency": "CNY",
                                               "binding_id": card})
    assert paid["status"] == "succeeded" and paid["fee"] > 0
    before = shop.balance(member)["posted"]
    text = "\n".join(line for line in shop.channels["unionpay"].statement(D1).splitlines()
                     if ",payout," not in line) + "\n"
    shop.clock.set(morning(D2))
    rec = imported(shop, "unionpay", D1, text)
    [missing] = differences(shop, rec)
    assert (missing["class"], missing["kind"], missing["payment_id"]) == ("missing_in_channel", "payout", paid["id"])
    done = resolve(shop, rec, missing["seq"], "reverse", "the bank never paid it out")
    transfers = done["resolution"]["transfers"]
    assert [t["kind"] for t in transfers] == ["reversal", "reversal"]
    suspense, fee_expense = str(system_account_id("pending_reconciliation", "CNY", "unionpay")), str(
        system_account_id("fee_expense", "CNY"))
    postings = {(p["account"], p["side"], p["amount"]) for t in transfers for p in t["postings"]}
    assert postings == {(member, "credit", 20_000), (suspense, "debit", 20_000), (suspense, "debit", paid["fee"]),
                        (fee_expense, "credit", paid["fee"])}
    assert shop.balance(member)["posted"] == before + 20_000
    closed = close(shop, rec)
    assert pending(shop, closed["position"])[0] == 0 and balanced(shop, closed["position"])


def test_a_waiting_difference_is_completed_or_matched_once_our_payment_settles(shop):
    configure(shop, {"withholding": [{"channel": "slow", "priority": 1}]})
    [member], [card] = members_with_cards(shop, 1)
    slow = shop.channels["slow"]
    first = shop.recharge(member, 777, binding_id=card).json()
    second = shop.recharge(member, 555, binding_id=card).json()
    assert first["status"] == second["status"] == "pending"
    slow.query(first["id"]), slow.query(second["id"])  # the channel finished both today; we did not hear
    shop.clock.set(morning(D2))
    rec = imported(shop, "slow", D1, slow.statement(D1))
    found = {d["payment_id"]: d for d in differences(shop, rec)}
    assert {d["class"] for d in found.values()} == {"missing_in_ledger"}
    for d in found.values():
        resolve(shop, rec, d["seq"], "wait", "our side may still hear of it")
    assert close(shop, rec)["moved"] == 0

    # One is completed from the statement, on its closed day: settled, and moved, in the one resolution.
    done = resolve(shop, rec, found[first["id"]]["seq"], "complete", "the channel has it")
    assert [t["kind"] for t in done["resolution"]["transfers"]] == ["recharge", "reconciliation"]
    assert shop.ok("GET", f"/v1/recharges/{first['id']}")["status"] == "succeeded"
    assert pending(shop, done["position"], "slow") == (0, 777)

    # The other is settled by the sweep on day 2: day 2's file (empty) carries it over, matched.
    shop.ok("GET", "/v1/transactions", params={"min_position": done["position"]})
    assert [p["id"] for p in shop.ok("POST", "/v1/admin/payments/sweep", {"older_than_s": 0}, who="operator")] == [
        second["id"]]
    shop.clock.set(morning(D3))
    day2 = imported(shop, "slow", D2, slow.statement(D2))
    assert (day2["lines"], day2["carried"], day2["summary"]["matched"]["count"]) == (0, 1, 1)
    closed = close(shop, day2)
    assert closed["moved"] == 555
    assert pending(shop, closed["position"], "slow") == (0, 777 + 555) and balanced(shop, closed["position"])
    assert shop.ok("GET", f"/v1/reconciliations/{rec['id']}", who="admin")["waiting"] == []


def test_a_line_the_channel_repeats_is_a_duplicate_never_booked_twice(shop):
    configure(shop, {"withholding": UNIONPAY_FIRST})
    members, cards = members_with_cards(shop, 2)
    early = shop.recharge(members[0], 30_000, binding_id=cards[0]).json()
    unionpay = shop.channels["unionpay"]
    shop.clock.set(morning(D2))
    day1 = imported(shop, "unionpay", D1, unionpay.statement(D1, extra=1))
    [unknown] = differences(shop, day1)
    resolve(shop, day1, unknown["seq"], "write_off", "the channel settles it to us")
    moved1 = close(shop, day1)["moved"]

    today = shop.recharge(members[1], 12_000, binding_id=cards[1]).json()
    shop.clock.set(morning(D3))
    rows = unionpay.statement(D2).splitlines()
    repeated = next(line for line in unionpay.statement(D1).splitlines() if early["id"] in line)
    reused = repeated.split(",")[0] + "," + today["id"] + "," + ",".join(rows[1].split(",")[2:])  # its txn id, another's
    extra = next(line for line in unionpay.statement(D1, extra=1).splitlines() if "-x" in line)  # the unknown one
    day2 = imported(shop, "unionpay", D2, "\n".join([rows[0], repeated, extra]) + "\n")
    notes = {d["channel_txn_id"]: d for d in differences(shop, day2) if d["class"] == "duplicate"}
    assert len(notes) == 2
    assert "booked on another reconciled day" in notes[repeated.split(",")[0]]["note"]
    assert "reported" in notes[extra.split(",")[0]]["note"]
    # Today's own payment is not on the file: ours only, never paired with the repeated line.
    assert shop.ok("GET", f"/v1/reconciliations/{day2['id']}", who="admin")["summary"]["missing_in_channel"]["count"] == 1
    another = imported(shop, "unionpay", D2, "\n".join([rows[0], reused]) + "\n")
    [flagged] = [d for d in differences(shop, another) if d["class"] == "duplicate"]
    assert "another payment" in flagged["note"] and flagged["our_amount"] is None
    for d in differences(shop, day2):
        action = "dismiss" if d["class"] == "duplicate" else "wait"
        resolve(shop, day2, d["seq"], action, "the channel repeated it")
    closed = close(shop, day2)
    assert closed["moved"] == 0  # nothing of day 1 moved twice
    total = pending(shop, closed["position"])
    assert total[1] == moved1 and total[0] == 12_000 - today["fee"]
    # The day 2 file that was not closed is superseded.
    listed = shop.ok("GET", "/v1/reconciliations", who="admin", params={"min_position": closed["position"]})
    assert {(r["id"], r["status"]) for r in listed["items"] if r["day"] == D2.isoformat()} == {
        (day2["id"], "closed"), (another["id"], "superseded")}
