"""Property tests: random command sequences keep the ledger's invariants.

After every step: debits equal credits per currency over every transfer in the
log; no customer account is below zero; frozen never exceeds posted; each
account's posted balance equals the sum of its postings in the log. A small
model of the balances also says which commands must succeed and which must be
refused, so the ledger neither refuses good commands nor accepts bad ones.
"""

import shutil
import tempfile
from collections import defaultdict
from itertools import count

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from ledger import FundCenter, LedgerError

amounts = st.integers(min_value=1, max_value=5_000)
CURRENCIES = ("CNY", "USD")


class LedgerMachine(RuleBasedStateMachine):
    accounts = Bundle("accounts")
    holds = Bundle("holds")

    @initialize()
    def start(self):
        self.dir = tempfile.mkdtemp()
        self.fc = FundCenter(f"sqlite:///{self.dir}/fc.db")
        self.keys = count()
        self.posted = defaultdict(int)  # the model: account -> posted
        self.held = {}  # hold -> (account, remaining)
        self.currency = {}
        self.frozen_status = set()
        self.transfers = []

    def teardown(self):
        self.fc.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def key(self):
        return f"k{next(self.keys)}"

    def available(self, account):
        return self.posted[account] - sum(r for a, r in self.held.values() if a == account)

    @rule(target=accounts, currency=st.sampled_from(CURRENCIES))
    def open_account(self, currency):
        account = self.fc.open_account("member", "biz", self.key(), currency).id
        self.currency[account] = currency
        return account

    @rule(account=accounts, amount=amounts)
    def recharge(self, account, amount):
        self.transfers.append(self.fc.book_recharge(account, amount, self.currency[account], "sim", self.key()).id)
        self.posted[account] += amount

    @rule(account=accounts, amount=amounts, direction=st.sampled_from(["credit", "debit"]))
    def adjust(self, account, amount, direction):
        ok = direction == "credit" or (account not in self.frozen_status and self.available(account) >= amount)
        outcome = self.attempt(ok, self.fc.adjust, account, amount, self.currency[account], direction, "fix", self.key())
        if outcome is not None:
            self.posted[account] += amount if direction == "credit" else -amount

    @rule(source=accounts, to=accounts, amount=amounts)
    def transfer(self, source, to, amount):
        ok = (
            source != to and self.currency[source] == self.currency[to]
            and source not in self.frozen_status and self.available(source) >= amount
        )
        outcome = self.attempt(ok, self.fc.transfer, source, to, amount, self.currency[source], self.key())
        if outcome is not None:
            self.posted[source] -= amount
            self.posted[to] += amount

    @rule(target=holds, account=accounts, amount=amounts)
    def place_hold(self, account, amount):
        ok = account not in self.frozen_status and self.available(account) >= amount
        hold = self.attempt(ok, self.fc.place_hold, account, amount, self.key())
        if hold is None:
            return None
        self.held[hold.id] = (account, amount)
        return hold.id

    @rule(hold=holds, amount=st.none() | amounts)
    def release(self, hold, amount):
        if hold is None:
            return
        _account, remaining = self.held.get(hold, (None, 0))
        ok = remaining > 0 and (amount or remaining) <= remaining
        if self.attempt(ok, self.fc.release_hold, hold, amount) is not None:
            self.reduce(hold, amount or remaining)

    @rule(hold=holds, to=accounts, amount=st.none() | amounts)
    def capture(self, hold, to, amount):
        if hold is None:
            return
        account, remaining = self.held.get(hold, (None, 0))
        taken = amount or remaining
        ok = (
            remaining > 0 and taken <= remaining and to != account
            and self.currency[to] == self.currency[account] and account not in self.frozen_status
        )
        if self.attempt(ok, self.fc.capture_hold, hold, to, amount) is not None:
            self.reduce(hold, taken)
            self.posted[account] -= taken
            self.posted[to] += taken

    @rule(account=accounts, frozen=st.booleans())
    def set_status(self, account, frozen):
        self.fc.set_account_status(account, "frozen" if frozen else "active")
        (self.frozen_status.add if frozen else self.frozen_status.discard)(account)

    @rule(data=st.data())
    def reverse(self, data):
        if not self.transfers:
            return
        transfer = self.fc.get_transfer(data.draw(st.sampled_from(self.transfers)))
        try:
            self.fc.reverse_transfer(transfer.id, self.key(), "reversal")
        except LedgerError:
            return
        for p in transfer.postings:
            if p["account"] in self.currency:
                self.posted[p["account"]] += p["amount"] if p["side"] == "debit" else -p["amount"]

    def reduce(self, hold, amount):
        account, remaining = self.held[hold]
        self.held[hold] = (account, remaining - amount)

    def attempt(self, ok, command, *args):
        """Run a command the model says must succeed (ok) or must be refused."""
        if ok:
            return command(*args)
        try:
            command(*args)
        except LedgerError:
            return None
        raise AssertionError(f"{command.__name__}{args} should have been refused")

    @invariant()
    def ledger_invariants(self):
        totals = defaultdict(lambda: [0, 0])
        by_account = defaultdict(int)
        for _, event in self.fc.read_log(limit=100_000):
            if type(event).__qualname__ != "Transfer.Posted":
                continue
            for p in event.postings:
                debit = p["side"] == "debit"
                totals[event.currency][0 if debit else 1] += p["amount"]
                by_account[p["account"]] += -p["amount"] if debit else p["amount"]
        for currency, (debits, credits) in totals.items():
            assert debits == credits, currency
        for account, posted in self.posted.items():
            view = self.fc.get_account(account)
            assert view.posted == posted == by_account[account]
            assert view.posted >= 0 and view.available >= 0
            assert view.frozen <= view.posted


LedgerMachine.TestCase.settings = settings(
    max_examples=75, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_ledger_invariants_hold_under_random_commands = LedgerMachine.TestCase
