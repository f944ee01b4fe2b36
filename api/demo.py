"""`fundcenter demo`: a day of business through two simulated channels, the books,
then the next morning's reconciliation of one channel's statement.

The demo runs on a clock of its own that starts on the business day's morning,
so the day it books is the day it was asked for, whatever the wall clock says.
Every command carries an idempotency key made of that day and a name, so running
the demo again for the same day repeats the first outcomes and prints the same
day; another day is that day's business, afresh.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from ledger import FundCenter
from ledger.channels.gateway import GatewayRegistry
from ledger.channels.simulator import SimulatedChannel
from ledger.clock import SteppingClock
from ledger.domain.accounting_day import AccountingDay
from ledger.domain.fees import FeeRule
from ledger.domain.methods import METHODS
from ledger.domain.money import format_amount
from projections import ViewStore
from projections.balances import account_balance
from projections.suspense import suspense
from projections.trial_balance import trial_balance, trial_balance_by_account

from .bootstrap import System, bootstrap
from .service_secrets import ServiceSecrets
from .settings import Settings

CNY = "CNY"
FEES = {"unionpay": FeeRule(rate_bps=60), "alipay": FeeRule(rate_bps=40, minimum=100)}
CHANNELS = tuple(FEES)
OPENING = time(9, 0)  # the business day starts at 09:00 in the accounting time zone


@dataclass(frozen=True)
class DemoDay:
    """The business day the demo runs, and what it runs it with."""

    day: date
    accounting_day: AccountingDay
    secrets: ServiceSecrets

    def clock(self) -> SteppingClock:
        """A clock at the day's opening, ticking a millisecond a reading."""
        zone = ZoneInfo(self.accounting_day.timezone)
        return SteppingClock(datetime.combine(self.day, max(OPENING, self.accounting_day.cutoff), zone))

    def key(self, name: str) -> str:
        return f"demo-{self.day.isoformat()}-{name}"

    def channel(self, code: str, clock: SteppingClock, **options: Any) -> SimulatedChannel:
        """The simulator playing channel `code`, on the demo's clock, charging the demo's fees."""
        secret = self.secrets.channel_secret(code)
        assert secret is not None, "DemoDay's maker checked the channels' secrets"
        return SimulatedChannel(code, secret=secret, seed=7, clock=clock, statement_day=self.accounting_day.day_of,
                                fee_rule=lambda method, amount: FEES[code].fee(amount), **options)


def run_demo(settings: Settings, demo: DemoDay, say: Callable[[str], None] = print) -> None:
    """Run `demo.day` on the settings' database, on a clock of its own (moved to the next morning for
    the reconciliation), with unionpay and alipay played by the simulator."""
    clock = demo.clock()
    unionpay = demo.channel("unionpay", clock)
    alipay = demo.channel("alipay", clock, bank_success_rates={"icbc": 0.0})
    gateways = GatewayRegistry()
    gateways.add(unionpay)
    gateways.add(alipay)
    # No runner follows the log here: routing catches the views up before it reads the day's activity.
    with bootstrap(settings, clock=clock, gateways=gateways, secrets=demo.secrets, actor="demo",
                   catch_up_before_routing=True) as system:
        _day(system, clock, demo, unionpay, alipay, say)


def _day(system: System, clock: SteppingClock, demo: DemoDay, unionpay: SimulatedChannel, alipay: SimulatedChannel,
         say: Callable[[str], None]) -> None:
    key, fc, payments = demo.key, system.ledger, system.payments
    _configure(fc)
    say("Configured banks ICBC and CCB, channels unionpay (0.60%) and alipay (0.40%, at least 1.00), and the Mall's routes.")

    mall = fc.open_account("institution", "mall", "main", CNY, name="Mall (business line)")
    alice = fc.open_account("member", "mall", "alice", CNY, name="Alice")
    bob = fc.open_account("member", "mall", "bob", CNY, name="Bob")
    alice_card = payments.bind_card(alice.id, "icbc", "Alice Li", "110101199003077777", "6222020200112233446",
                                    "13812345678", "demo-bind-alice")
    bob_card = payments.bind_card(bob.id, "ccb", "Bob Wang", "320102198505051234", "6217000010001234569",
                                  "13998765432", "demo-bind-bob")
    say(f"Opened the Mall's account and members Alice and Bob; bound cards {alice_card.card_masked} and {bob_card.card_masked}.")

    done = payments.recharge(alice.id, 50_000, CNY, "withholding", key("rc-alice"), binding_id=alice_card.id)
    say(f"Alice recharged 500.00 by withholding: {done.status} through {done.channel}, fee {_fmt(done.fee)}.")
    waiting = payments.recharge(bob.id, 20_000, CNY, "auth_pay", key("rc-bob"), binding_id=bob_card.id)
    if waiting.status == "awaiting_confirmation":
        waiting = payments.confirm(waiting.id, alipay.sms_code(str(waiting.id)))
    say(f"Bob recharged 200.00 by auth_pay, confirming the SMS code: {waiting.status} through {waiting.channel}.")
    redirected = payments.recharge(alice.id, 10_000, CNY, "personal_ebank", key("rc-ebank"), bank="icbc")
    unionpay.complete_redirects()
    for body, headers in unionpay.pending_callbacks():
        redirected = payments.notify("unionpay", body, headers)
    say(f"Alice paid 100.00 on her bank's site (personal e-banking); the callback said {redirected.status}.")
    company = payments.recharge(mall.id, 100_000, CNY, "enterprise_ebank", key("rc-company"), bank="ccb")
    unionpay.complete_redirects()
    for body, headers in unionpay.pending_callbacks():
        company = payments.notify("unionpay", body, headers)
    say(f"The Mall paid in 1,000.00 by enterprise e-banking: {company.status}.")

    fc.transfer(alice.id, bob.id, 12_000, CNY, key("dinner"), memo="dinner")
    hold = fc.place_hold(alice.id, 10_000, key("order-1"), reason="order 1")
    fc.capture_hold(hold.id, mall.id, 6_000, idempotency_key=key("order-1-capture"), memo="order 1 shipped")
    fc.release_hold(hold.id, idempotency_key=key("order-1-release"))
    say("Alice sent Bob 120.00; froze 100.00 for order 1, paid the Mall 60.00 of it and unfroze the rest.")

    paid = payments.withdraw(bob.id, 5_000, CNY, bob_card.id, key("wd-bob"))
    if paid.status == "succeeded":
        unionpay.return_payout(str(paid.id))
        for body, headers in unionpay.pending_callbacks():
            paid = payments.notify("unionpay", body, headers)
    say(f"Bob withdrew 50.00 through {paid.channel}; the bank returned it (退票): {paid.status}, refunded to Bob.")
    declined = payments.withdraw(alice.id, 8_000, CNY, alice_card.id, key("wd-alice"))
    say(f"Alice withdrew 80.00: above unionpay's single limit, so {declined.channel} took it; {declined.status}, funds unfrozen.")

    clock.set(datetime.combine(demo.day + timedelta(days=1), OPENING, ZoneInfo(demo.accounting_day.timezone)))
    _reconcile(system, demo, unionpay, say)
    system.runner.catch_up()
    _print_books(fc, system.views, (mall, alice, bob), say)
    _close_day(system, demo, say)


def _configure(fc: FundCenter) -> None:
    for code, name in (("icbc", "Industrial and Commercial Bank of China"), ("ccb", "China Construction Bank")):
        fc.register_bank(code, name)
    for code, name in (("unionpay", "UnionPay"), ("alipay", "Alipay")):
        fc.register_channel(code, name, f"https://example.com/logos/{code}.png")
        for method in METHODS:
            limit = {"limit_per_transaction": 5_000} if (code, method) == ("unionpay", "payout") else {}
            fc.configure_product(code, method, FEES[code].as_dict(),
                                 {"icbc": {"enabled": True, **limit}, "ccb": {"enabled": True, **limit}})
    routes = {
        "withholding": ["unionpay", "alipay"], "auth_pay": ["alipay", "unionpay"], "personal_ebank": ["unionpay"],
        "enterprise_ebank": ["unionpay"], "payout": ["unionpay", "alipay"],
    }
    for method, channels in routes.items():
        fc.set_route("mall", method, [{"channel": c, "priority": n} for n, c in enumerate(channels, start=1)])


def _print_books(fc: FundCenter, views: ViewStore, accounts, say: Callable[[str], None]) -> None:
    say("")
    say(f"{'customer account (credit balance)':<40}{'kind':<13}{'posted':>10}{'frozen':>10}{'available':>11}")
    for account in accounts:
        view = fc.get_account(account.id)
        say(f"{view.name:<40}{view.kind:<13}{_fmt(view.posted):>10}{_fmt(view.frozen):>10}{_fmt(view.available):>11}")
    say("")
    say(f"{'system account (debit balance)':<40}{'':<13}{'posted':>10}")
    rows = views.query("SELECT account_id, name FROM account_balances WHERE kind = 'system' ORDER BY name")
    for row in rows:
        balance = account_balance(views, row["account_id"], fc.clock())["posted"]
        say(f"{row['name']:<40}{'system':<13}{_fmt(-balance):>10}")
    say("")
    say("The day's channel totals, and what each channel still owes us (pending) or has reconciled:")
    totals = views.query(
        "SELECT channel, kind, status, COUNT(*) AS n, SUM(amount) AS amount, SUM(fee) AS fee FROM payments"
        " GROUP BY channel, kind, status ORDER BY channel, kind, status"
    )
    for row in totals:
        amount, fee = int(row["amount"]), int(row["fee"])  # PostgreSQL sums are numeric
        say(f"  {row['channel'] or '-':<10}{row['kind']:<12}{row['status']:<11}{row['n']:>3} x  {_fmt(amount):>10}"
            f"  fees {_fmt(fee):>6}")
    for day in suspense(views):
        say(f"  {day['channel']:<10}pending reconciliation {_fmt(day['pending']):>10}  reconciled {_fmt(day['reconciled'])}")
    turnover = {row["currency"]: row for row in trial_balance(views)}
    for total in trial_balance_by_account(views)["currencies"]:
        verdict = "balanced" if total["balanced"] else "NOT BALANCED"
        moved = turnover[total["currency"]]["debits"]
        say(f"Trial balance {total['currency']}: debit balances {_fmt(total['debit'])} = credit balances"
            f" {_fmt(total['credit'])}: {verdict} (turnover {_fmt(moved)})")


RESOLUTIONS = {
    "missing_in_ledger": ("write_off", "an unknown payment the channel will settle to us: to difference"),
    "missing_in_channel": ("wait", "the channel's file is late: wait for tomorrow's (T+2)"),
    "amount_mismatch": ("book_difference", "the channel settles its own figure: book the gap"),
    "status_mismatch": ("write_off", "the channel's status stands: write the gap off"),
    "fee_mismatch": ("book_difference", "the channel charged a different fee: book the gap"),
    "duplicate": ("dismiss", "the channel repeated a line already reconciled"),
}
# The differences the channel's file has each day: one row a day late (on the next day's file),
# one we never heard of, one amount, one status and one fee changed.
class _Differences(TypedDict):  # SimulatedChannel.statement's keyword arguments
    late: int
    extra: int
    change_amount: int
    change_status: int
    change_fee: int


STATEMENT_DIFFERENCES: _Differences = {"late": 1, "extra": 1, "change_amount": 1, "change_status": 1, "change_fee": 1}


def _reconcile(system: System, demo: DemoDay, channel: SimulatedChannel, say: Callable[[str], None]) -> None:
    """T+1: import unionpay's statement (with injected differences, and yesterday's late row),
    resolve the differences, close the day; what waits is carried over to the next day's."""
    day, fc, reconciler = demo.day, system.ledger, system.reconciler
    closed = fc.reconciled_day("unionpay", day.isoformat())
    if closed is not None:  # the demo ran before today: show that reconciliation again
        result = fc.get_reconciliation(closed.reconciliation_id)
    else:
        _restore_yesterday(channel, system, demo)
        statement = channel.statement(day, **STATEMENT_DIFFERENCES)
        result = reconciler.import_statement("unionpay", day, io.BytesIO(statement.encode()), by="demo-finance")
    say("")
    say(f"Reconciliation of unionpay for {result.day}: {result.lines} statement lines, {result.ours} of ours,"
        f" {result.carried} carried over.")
    if result.closed_by is None:
        for line in reconciler.lines(result.id, differences_only=True, limit=1000):
            action, reason = RESOLUTIONS[line["class"]]
            if str(line["seq"]) not in result.resolutions:
                reconciler.resolve(result.id, line["seq"], action, "demo-finance", reason)
        result = reconciler.close(result.id, "demo-finance")
    for line in reconciler.lines(result.id, limit=1000):
        if line["carried_from"] is not None:
            say(f"  line {line['seq']}: {line['reference']} waited since {line['carried_day']}, on today's file:"
                f" {line['class']}, carried over")
    for line in reconciler.lines(result.id, differences_only=True, limit=1000):
        resolution = result.resolutions[str(line["seq"])]
        say(f"  difference {line['seq']}: {line['class']} ({line['reference']})"
            f" -> {resolution['action']}: {resolution['reason']}")
    for kind, field in (("fund", "amount"), ("fee", "fee")):
        say(f"{kind.capitalize()} reconciliation:")
        for row in csv.DictReader(io.StringIO("".join(reconciler.csv_report(result.id, kind, "summary")))):
            if row["class"] != "waiting" and row["count"] != "0":
                ours, theirs = _fmt(int(row[f"our_{field}"])), _fmt(int(row[f"their_{field}"]))
                say(f"  {row['class']:<20}{row['count']:>4}   ours {ours:>10}   channel's {theirs:>10}")
    say(f"Closed the day: {_fmt(result.moved)} moved from unionpay's pending reconciliation to reconciled;"
        f" {len(result.waiting)} difference(s) waiting for a later day's file.")


def _close_day(system: System, demo: DemoDay, say: Callable[[str], None]) -> None:
    """Close the day's books with a signed certificate (api/service/days.py), or show the close made before."""
    from ledger.domain.days import DayNotClosed

    from .service.days import SigningKeyMissing, development_key_file, load_signer

    day = demo.day.isoformat()
    say("")
    try:
        signer = load_signer(system.settings)
    except SigningKeyMissing as error:
        say(f"The day's books stay open: {error}.")
        return
    try:
        closed = system.ledger.get_day_close(day)
    except DayNotClosed:
        closed = system.ledger.close_day(day, signer, waive=["alipay"], reason="the demo reconciles unionpay's statement only")
    body = json.loads(closed.certificate)
    say(f"Closed the books of {day}: log position {closed.position}, {body['leaves']} account balances under Merkle root"
        f" {closed.merkle_root[:16]}..., signed (Ed25519) by key {closed.key_id[:16]}...; alipay's reconciliation waived.")
    if signer.throwaway:
        say(f"The key is this installation's throwaway development key ({development_key_file(system.settings).name}):"
            " set FUNDCENTER_SIGNING_KEY_FILE to sign with yours.")


def _restore_yesterday(channel: SimulatedChannel, system: System, demo: DemoDay) -> None:
    """The simulated channel keeps nothing between runs: give it back yesterday's transactions
    (as our payments recorded them), so that yesterday's late row reaches today's file."""
    system.runner.catch_up()
    start, end = demo.accounting_day.window(demo.day - timedelta(days=1))
    for row in system.views.query(
        "SELECT * FROM payments WHERE channel = ? AND status IN ('succeeded', 'failed', 'returned')"
        " AND settled_at >= ? AND settled_at < ? ORDER BY id", (channel.code, start, end),
    ):
        channel.restore(row["id"], row["method"], int(row["amount"]), int(row["fee"]), row["status"],
                        datetime.fromisoformat(row["settled_at"].replace("Z", "+00:00")), currency=row["currency"],
                        bank=row["bank"])


def _fmt(amount: int | None) -> str:
    return "-" if amount is None else format_amount(amount, CNY)
