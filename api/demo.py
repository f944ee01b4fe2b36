"""`fundcenter demo`: a short day of business on the ledger, then its balances.

Every command carries a fixed idempotency key, so running the demo again on the
same database repeats the first outcomes and prints the same day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from ledger import FundCenter
from ledger.domain.money import format_amount

CNY = "CNY"


def run_demo(fc: FundCenter, say: Callable[[str], None] = print) -> None:
    mall = fc.open_account("institution", "mall", "main", CNY, name="Mall (business line)")
    alice = fc.open_account("member", "mall", "alice", CNY, name="Alice")
    bob = fc.open_account("member", "mall", "bob", CNY, name="Bob")
    say("Opened the Mall's institution account and two members, Alice and Bob.")

    fc.book_recharge(alice.id, 50_000, CNY, "unionpay", "demo-recharge-alice")
    fc.book_recharge(bob.id, 20_000, CNY, "alipay", "demo-recharge-bob")
    say("Alice recharged 500.00 through unionpay, Bob 200.00 through alipay.")

    fc.transfer(alice.id, bob.id, 12_000, CNY, "demo-dinner", memo="dinner")
    say("Alice sent Bob 120.00 for dinner.")

    hold = fc.place_hold(alice.id, 10_000, "demo-order-1", reason="order 1")
    say(f"Froze 100.00 of Alice's balance for order 1 (hold {hold.id}).")
    fc.capture_hold(hold.id, mall.id, 6_000, idempotency_key="demo-order-1-capture", memo="order 1 shipped")
    fc.release_hold(hold.id, idempotency_key="demo-order-1-release")
    say("Order 1 shipped for 60.00: captured to the Mall, the other 40.00 unfrozen.")

    fc.adjust(bob.id, 100, CNY, "credit", "goodwill for a late delivery", "demo-goodwill")
    say("Finance credited Bob 1.00 of goodwill (against the difference account).")

    say("")
    say(f"{'customer account (credit balance)':<40}{'kind':<13}{'posted':>10}{'frozen':>10}{'available':>11}")
    for account in (mall, alice, bob):
        view = fc.get_account(account.id)
        say(f"{view.name:<40}{view.kind:<13}{_fmt(view.posted):>10}{_fmt(view.frozen):>10}{_fmt(view.available):>11}")
    say("")
    say(f"{'system account (debit balance)':<40}{'':<13}{'posted':>10}")
    for name, balance in _system_balances(fc).items():
        say(f"{name:<40}{'system':<13}{_fmt(balance):>10}")
    debits, credits = _trial_balance(fc)
    say("")
    say(f"Trial balance {CNY}: debits {_fmt(debits)} = credits {_fmt(credits)}: {'balanced' if debits == credits else 'NOT BALANCED'}")


def _fmt(amount: int | None) -> str:
    return "-" if amount is None else format_amount(amount, CNY)


def _postings(fc: FundCenter):
    after = 0
    while batch := fc.read_log(after=after, limit=1000):
        for after, event in batch:
            if type(event).__qualname__ == "Transfer.Posted":
                yield from event.postings


def _system_balances(fc: FundCenter) -> dict[str, int]:
    """Debit balances of the system accounts (what channels owe us, what we spent), from the log."""
    balances: dict[str, int] = defaultdict(int)
    for p in _postings(fc):
        account = fc.get_account(p["account"])
        if account.kind == "system":
            balances[account.name] += p["amount"] if p["side"] == "debit" else -p["amount"]
    return dict(sorted(balances.items()))


def _trial_balance(fc: FundCenter) -> tuple[int, int]:
    totals = {"debit": 0, "credit": 0}
    for p in _postings(fc):
        totals[p["side"]] += p["amount"]
    return totals["debit"], totals["credit"]
