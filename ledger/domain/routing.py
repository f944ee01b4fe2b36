"""Routing: which channel takes a transaction. A pure function of its inputs.

Given the channel products on a business's route for a method, the payer's bank,
the amount and each product's usage today, `rank` keeps the candidates that can
take it (channel open, bank switched on, within the single and the remaining
daily limit) and orders them by route priority, then lower fee, then higher recent
success rate, then channel code (so the order is total). Each candidate left out
says why. The caller tries them in order, falling over to the next when one refuses.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fees import FeeRule


@dataclass(frozen=True)
class Candidate:
    channel: str
    priority: int  # lower goes first
    channel_open: bool
    bank_enabled: bool
    fee_rule: FeeRule
    limit_per_transaction: int | None = None
    limit_per_day: int | None = None
    used_today: int = 0
    success_rate_bps: int = 10_000  # recent successes per 10,000 attempts


@dataclass(frozen=True)
class Choice:
    channel: str
    priority: int
    fee: int
    success_rate_bps: int

    @property
    def reason(self) -> str:
        return f"priority {self.priority}, fee {self.fee}, success rate {self.success_rate_bps / 100:.2f}%"


@dataclass(frozen=True)
class Skipped:
    channel: str
    reason: str


def rank(candidates: list[Candidate], amount: int) -> tuple[list[Choice], list[Skipped]]:
    choices, skipped = [], []
    for c in candidates:
        reason = _unable(c, amount)
        if reason:
            skipped.append(Skipped(c.channel, reason))
        else:
            choices.append(Choice(c.channel, c.priority, c.fee_rule.fee(amount), c.success_rate_bps))
    choices.sort(key=lambda c: (c.priority, c.fee, -c.success_rate_bps, c.channel))
    return choices, skipped


def _unable(c: Candidate, amount: int) -> str | None:
    if not c.channel_open:
        return "channel closed"
    if not c.bank_enabled:
        return "bank switched off for this product"
    if c.limit_per_transaction is not None and amount > c.limit_per_transaction:
        return f"amount {amount} above the single limit {c.limit_per_transaction}"
    if c.limit_per_day is not None and c.used_today + amount > c.limit_per_day:
        return f"daily limit {c.limit_per_day} reached ({c.used_today} used today)"
    return None
