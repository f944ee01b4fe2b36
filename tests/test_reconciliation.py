"""Reconciliation through HTTP on SQLite and PostgreSQL: every difference class found and
resolved with its postings, the trial balance zero after, suspense moved only when the day
balances; malformed files rejected whole; a 200,000-line day in bounded memory."""

import csv
import io
import tracemalloc
from datetime import UTC, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from ledger import FundCenter
from ledger.domain.accounting_day import AccountingDay
from ledger.domain.ids import system_account_id
from ledger.domain.reconciliation import net
from projections import ProjectionRunner, ViewStore
from projections.reconciliation import Reconciler
from tests.config import BUSINESS_HOURS, DAY
from tests.shop import UNIONPAY_FIRST, configure, open_shop

ACTIONS = {"missing_in_ledger": "write_off", "missing_in_channel": "write_off", "amount_mismatch": "book_difference",
           "fee_mismatch": "book_difference"}


def busy_channel_day(shop):
    configure(shop, {"withholding": UNIONPAY_FIRST, "payout": UNIONPAY_FIRST})
    members = [shop.account(f"m{n}") for n in range(3)]
    bindings = [shop.bind(m)["id"] for m in members]
    for n in range(12):
        shop.recharge(members[n % 3], 10_000 + n, binding_id=bindings[n % 3])
    shop.ok("POST", "/v1/withdrawals", {"account": members[0], "amount": 3_000, "currency": "CNY", "binding_id": bindings[0]})
    # The channel took this one, but our request timed out: we hold it pending.
    configure(shop, {"withholding": [{"channel": "slow", "priority": 1}]})
    pending = shop.recharge(members[1], 777, binding_id=bindings[1]).json()
    assert pending["status"] == "pending"
    shop.channels["slow"].query(pending["id"])
    return members, pending


def check_postings(shop, differences, resolutions):
    """Each action posted what it should: the gap to `difference`, or the reversal of our recharge."""
    ledger = shop.client.app.state.services.ledger
    suspense = system_account_id("pending_reconciliation", "CNY", "unionpay")
    difference = system_account_id("difference", "CNY")
    for d in differences:
        resolution = resolutions[str(d["seq"])]
        transfers = [ledger.get_transfer(UUID(t)) for t in resolution["transfer_ids"]]
        gap = net(d["kind"], d["their_amount"], d["their_fee"], d["their_status"]) - net(
            d["kind"], d["our_amount"], d["our_fee"], d["our_status"])
        if resolution["action"] in ("book_difference", "write_off"):
            [transfer] = transfers
            sides = {(p["account"], p["side"]): p["amount"] for p in transfer.postings}
            expected = {(suspense, "debit"): abs(gap), (difference, "credit"): abs(gap)} if gap > 0 else {
                (difference, "debit"): abs(gap), (suspense, "credit"): abs(gap)}
            assert sides == expected, (d["class"], sides)
        elif resolution["action"] == "reverse":  # every transfer the recharge posted (it and its fee), reversed
            payment = ledger.get_payment(UUID(d["payment_id"]))
            assert {t.kind for t in transfers} == {"reversal"}
            assert {t.references["reverses"] for t in transfers} == {str(t) for t in payment.transfer_ids}


def import_(shop, channel, text, key):
    return shop.call("POST", "/v1/reconciliations", {"channel": channel, "date": DAY.isoformat(), "file": text},
                     who="admin", key=key)


def test_every_difference_class_is_found_resolved_and_the_day_closed(shop):
    _members, _pending = busy_channel_day(shop)
    text = shop.channels["unionpay"].statement(DAY, drop=1, extra=1, change_amount=1, change_status=1, change_fee=1)
    imported = import_(shop, "unionpay", text, "imp-1")
    assert imported.status_code == 201, imported.text
    rec = imported.json()
    assert import_(shop, "unionpay", text, "imp-2").json()["id"] == rec["id"]  # the same file: nothing new
    classes = {name: row["count"] for name, row in rec["summary"].items()}
    assert classes == {"matched": 9, "missing_in_ledger": 1, "missing_in_channel": 1, "amount_mismatch": 1,
                       "status_mismatch": 1, "fee_mismatch": 1}
    assert (rec["lines"], rec["ours"], rec["open_differences"]) == (13, 13, 5)
    differences = shop.ok("GET", f"/v1/reconciliations/{rec['id']}/differences", who="admin")["items"]
    assert {d["class"] for d in differences} == set(classes) - {"matched"}
    close_early = shop.call("POST", f"/v1/reconciliations/{rec['id']}/close", who="admin")
    assert (close_early.status_code, close_early.json()["type"]) == (409, "day-not-balanced")
    before = shop.ok("GET", "/v1/reports/suspense", who="admin", params={"min_position": rec["position"]})["days"]
    assert all(d["reconciled"] == 0 for d in before)

    for d in differences:
        action = ACTIONS.get(d["class"]) or ("reverse" if d["our_status"] == "succeeded" else "write_off")
        done = shop.call("POST", f"/v1/reconciliations/{rec['id']}/differences/{d['seq']}/resolve",
                         {"action": action, "reason": "checked with the channel"}, who="admin")
        assert done.status_code == 200, done.text
        again = shop.call("POST", f"/v1/reconciliations/{rec['id']}/differences/{d['seq']}/resolve",
                          {"action": action, "reason": "twice"}, who="admin")
        assert (again.status_code, again.json()["type"]) == (409, "already-resolved")
    resolved = shop.ok("GET", f"/v1/reconciliations/{rec['id']}", who="admin")
    assert resolved["open_differences"] == 0
    assert all(r["by"] and r["reason"] for r in resolved["resolutions"].values())
    check_postings(shop, differences, resolved["resolutions"])
    closed = shop.ok("POST", f"/v1/reconciliations/{rec['id']}/close", who="admin")
    assert closed["closed_by"] and closed["moved"] > 0
    after = shop.ok("GET", "/v1/reports/suspense", who="admin", params={"min_position": closed["position"]})["days"]
    unionpay = next(d for d in after if d["channel"] == "unionpay" and d["day"] == DAY.isoformat())
    assert unionpay["reconciled"] == closed["moved"]
    trial = shop.ok("GET", "/v1/reports/trial-balance", who="admin", params={"min_position": closed["position"]})
    assert all(c["balanced"] for c in trial["currencies"])
    problem = shop.call("POST", f"/v1/reconciliations/{rec['id']}/differences/1/resolve",
                        {"action": "wait", "reason": "late"}, who="admin")
    assert problem.status_code in (404, 409)


def test_completing_a_payment_the_channel_has_and_we_left_pending(shop):
    members, pending = busy_channel_day(shop)
    rec = import_(shop, "slow", shop.channels["slow"].statement(DAY), "imp").json()
    [difference] = shop.ok("GET", f"/v1/reconciliations/{rec['id']}/differences", who="admin")["items"]
    assert (difference["class"], difference["payment_id"], difference["their_amount"]) == ("missing_in_ledger", pending["id"], 777)
    before = shop.balance(members[1])["posted"]
    shop.ok("POST", f"/v1/reconciliations/{rec['id']}/differences/{difference['seq']}/resolve",
            {"action": "complete", "reason": "the channel has it"}, who="admin")
    assert shop.ok("GET", f"/v1/recharges/{pending['id']}")["status"] == "succeeded"
    assert shop.balance(members[1])["posted"] == before + 777
    closed = shop.ok("POST", f"/v1/reconciliations/{rec['id']}/close", who="admin")
    assert closed["moved"] == 777
    # A day closes once: another file for it is refused, naming the reconciliation that closed it.
    another = import_(shop, "slow", shop.channels["slow"].statement(DAY, extra=1), "imp-2")
    assert (another.status_code, another.json()["type"]) == (409, "day-closed")
    assert rec["id"] in another.json()["detail"]


def test_reports_summary_and_detail_as_csv(shop):
    busy_channel_day(shop)
    rec = import_(shop, "unionpay", shop.channels["unionpay"].statement(DAY, change_fee=1), "imp").json()
    for kind in ("fund", "fee"):
        summary = shop.client.get(f"/v1/reconciliations/{rec['id']}/report.csv", params={"kind": kind},
                                  headers={"Authorization": f"Bearer {shop.keys['admin']}"})
        rows = list(csv.DictReader(io.StringIO(summary.text)))
        assert summary.headers["content-type"].startswith("text/csv") and len(rows) == 8  # 7 classes, waiting
        assert {r["currency"] for r in rows} == {"CNY"}
        detail = shop.client.get(f"/v1/reconciliations/{rec['id']}/report.csv", params={"kind": kind, "part": "detail"},
                                 headers={"Authorization": f"Bearer {shop.keys['admin']}"})
        assert len(list(csv.DictReader(io.StringIO(detail.text)))) == 13
    fee_rows = {r["class"]: r for r in csv.DictReader(io.StringIO(shop.client.get(
        f"/v1/reconciliations/{rec['id']}/report.csv", params={"kind": "fee"},
        headers={"Authorization": f"Bearer {shop.keys['admin']}"}).text))}
    assert int(fee_rows["fee_mismatch"]["their_fee"]) == int(fee_rows["fee_mismatch"]["our_fee"]) + 1
    page = shop.ok("GET", f"/v1/reconciliations/{rec['id']}/lines", who="admin", params={"limit": 5})
    rest = shop.ok("GET", f"/v1/reconciliations/{rec['id']}/lines", who="admin", params={"limit": 100, "cursor": page["next_cursor"]})
    assert len(page["items"]) + len(rest["items"]) == 13 and rest["next_cursor"] is None
    assert shop.call("GET", f"/v1/reconciliations/{rec['id']}", who="mall").status_code == 403


@pytest.mark.parametrize(
    "text, where",
    [
        ("", "line 1"),
        ("a,b,c\n", "line 1: the header"),
        ("channel_txn_id,reference,kind,amount,fee,status,time\nt1,r1,recharge,100,0,succeeded,2026-11-25T10:00:00Z\n"
         "t2,r2,recharge,-5,0,succeeded,2026-11-25T10:00:00Z\n", "line 3"),
        ("channel_txn_id,reference,kind,amount,fee,status,time\nt1,r1,refund,100,0,succeeded,2026-11-25T10:00:00Z\n", "line 2: kind"),
        ("channel_txn_id,reference,kind,amount,fee,status,time\nt1,r1,recharge,100,0,succeeded,yesterday\n", "line 2: time"),
        ("channel_txn_id,reference,kind,amount,fee,status,time\nt1,r1,recharge,100,0,succeeded,2026-11-25T10:00:00Z\n"
         "t1,r2,recharge,100,0,succeeded,2026-11-25T10:00:00Z\n", "line 3: channel_txn_id t1 appears twice"),
    ],
)
def test_a_malformed_statement_is_rejected_whole(shop, text, where):
    configure(shop, {"withholding": UNIONPAY_FIRST})
    response = import_(shop, "unionpay", text or " ", "imp")
    assert response.status_code == 422, response.text
    assert where in response.json()["detail"]
    views = shop.client.app.state.services.views
    assert views.query("SELECT COUNT(*) AS n FROM reconciliation_lines")[0]["n"] == 0


def test_a_200000_line_day_in_bounded_memory(tmp_path):
    url = f"sqlite:///{tmp_path}/big.db"
    path = tmp_path / "statement.csv"
    lines = 200_000
    with path.open("w") as f:
        f.write("channel_txn_id,reference,kind,amount,fee,status,time\n")
        for n in range(lines):
            f.write(f"big-{n:08d},ref-{n},recharge,{1_000 + n % 97},{n % 7},succeeded,2026-11-25T10:00:00Z\n")
    fc = FundCenter(url, clock=BUSINESS_HOURS)
    fc.register_channel("bigpay", "BigPay")
    views = ViewStore(fc.database)
    try:
        reconciler = Reconciler(fc, views, catch_up=ProjectionRunner(fc, views).catch_up)
        tracemalloc.start()
        with path.open("rb") as statement:
            rec = reconciler.import_statement("bigpay", DAY, statement, by="test")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert rec.lines == lines and rec.summary["missing_in_ledger"]["count"] == lines
        assert peak < 40 * 2**20, f"peak {peak / 2**20:.1f} MiB"  # the file is ~14 MiB; its lines never all in memory
    finally:
        views.close()
        fc.close()


def test_reconcile_import_on_the_command_line(tmp_path):
    from tests.test_cli import fundcenter

    url = f"sqlite:///{tmp_path}/cli.db"
    fc = FundCenter(url, clock=BUSINESS_HOURS)
    fc.register_channel("unionpay", "UnionPay")
    fc.close()
    statement = tmp_path / "unionpay.csv"
    statement.write_text("channel_txn_id,reference,kind,amount,fee,status,time\n"
                         "u-1,somebody-else,recharge,500,3,succeeded,2020-01-15T10:00:00Z\n")
    # A day long past: the CLI runs on the system's clock, and the day must have begun.
    result = fundcenter("reconcile", "import", str(statement), "--channel", "unionpay", "--date", "2020-01-15", "--db", url)
    assert result.returncode == 0, result.stderr
    assert "1 lines, 0 of ours" in result.stdout and "missing_in_ledger" in result.stdout
    bad = fundcenter("reconcile", "import", str(statement), "--channel", "unionpay", "--date", "25/11/2026", "--db", url)
    assert bad.returncode == 2
    unknown = fundcenter("reconcile", "import", str(statement), "--channel", "unionpya", "--date", "2020-01-15", "--db", url)
    assert (unknown.returncode, unknown.stderr) == (2, "fundcenter: channel unionpya not found\n")
    statement.write_text("nonsense\n")
    rejected = fundcenter("reconcile", "import", str(statement), "--channel", "unionpay", "--date", "2020-01-15", "--db", url)
    assert rejected.returncode == 2 and "line 1" in rejected.stderr


def test_the_accounting_day_follows_the_cut_off_and_time_zone():
    assert AccountingDay().window(DAY) == ("2026-11-25T00:00:00.000000Z", "2026-11-26T00:00:00.000000Z")
    assert AccountingDay("Asia/Shanghai").window(DAY) == ("2026-11-24T16:00:00.000000Z", "2026-11-25T16:00:00.000000Z")
    assert AccountingDay("Asia/Shanghai", time(23, 0)).window(DAY) == (
        "2026-11-25T15:00:00.000000Z", "2026-11-26T15:00:00.000000Z")


@pytest.mark.parametrize("minutes", [-1, 1], ids=["a minute before midnight", "a minute after"])
def test_a_payment_at_midnight_belongs_to_one_accounting_day_for_us_and_the_channel(store_url, minutes):
    """Asia/Shanghai's day: a recharge a minute either side of its midnight is on that day's statement
    and in that day's ledger window, and nowhere else."""
    zone = ZoneInfo("Asia/Shanghai")
    moment = datetime.combine(DAY + timedelta(days=1), time(0, 0), zone) + timedelta(minutes=minutes)
    day = DAY if minutes < 0 else DAY + timedelta(days=1)
    with open_shop(store_url, clock=lambda: moment.astimezone(UTC), accounting_timezone="Asia/Shanghai") as shop:
        configure(shop, {"withholding": UNIONPAY_FIRST})
        member = shop.account("night-owl")
        assert shop.recharge(member, 5_000, binding_id=shop.bind(member)["id"]).json()["status"] == "succeeded"
        for on, lines in ((day, 1), (day - timedelta(days=1), 0)):
            statement = shop.channels["unionpay"].statement(on)
            assert len(statement.splitlines()) == 1 + lines
            rec = shop.ok("POST", "/v1/reconciliations", {"channel": "unionpay", "date": on.isoformat(),
                                                          "file": statement}, who="admin")
            assert (rec["lines"], rec["ours"], rec["open_differences"]) == (lines, lines, 0), on
        assert shop.channels["unionpay"].statement(day + timedelta(days=1)).count("\n") == 1
        tomorrow = shop.call("POST", "/v1/reconciliations", {"channel": "unionpay", "file": "x",
                                                              "date": (day + timedelta(days=1)).isoformat()}, who="admin")
        assert (tomorrow.status_code, tomorrow.json()["type"]) == (422, "validation-error")  # it has not begun
