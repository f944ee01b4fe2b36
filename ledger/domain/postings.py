"""Postings and hold entries: the typed values transfers and accounts are made of.

A `Posting` is one line of a journal entry: an account, a side, an amount in
minor units and its currency. A transfer's postings balance per currency:
debits equal credits. The `Transfer.Posted` event stores each posting as a
record `{"account", "side", "amount"}` (the transfer's currency is stored once,
beside them); that stored shape is a public contract (the projections read it),
so `as_record` and `from_record` are the only places it is spelled out.

A `HoldEntry` is what a customer account keeps of an open hold: the amount it
still holds, when it expires and what it is for. The account keeps it because
its funds check (available = posted - open holds) must read one aggregate, the
one the command saves: that is what makes the check safe under concurrency.
The Hold aggregate keeps the hold's own history (released, captured, the
operation keys that make retries safe); see `ledger.domain.holds`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from .errors import UnbalancedTransfer
from .money import check_amount

POSTINGS_COUNT_MIN = 2  # one debit and one credit
POSTINGS_COUNT_MAX = 64
assert 2 <= POSTINGS_COUNT_MIN <= POSTINGS_COUNT_MAX


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"

    @property
    def opposite(self) -> Side:
        return Side.CREDIT if self is Side.DEBIT else Side.DEBIT


@dataclass(frozen=True, slots=True)
class Posting:
    account: UUID
    side: Side
    amount: int  # minor units, > 0
    currency: str

    def reversed(self) -> Posting:
        return replace(self, side=self.side.opposite)

    def as_record(self) -> dict[str, Any]:
        """The shape stored in `Transfer.Posted` and shown by TransferView."""
        return {"account": self.account, "side": _SIDE_TEXT[self.side], "amount": self.amount}

    @classmethod
    def from_record(cls, record: dict[str, Any], currency: str) -> Posting:
        side = record["side"]
        return cls(record["account"], _SIDE_OF.get(side) or Side(side), record["amount"], currency)


# The sides and their stored text, looked up in a dict (an enum's `value` and `Side(text)` cost more
# than the rest of a posting's conversion); `Side(text)` still answers, or refuses, what is not here.
_SIDE_TEXT = {side: side.value for side in Side}
_SIDE_OF = {side.value: side for side in Side}


def debit(account: UUID, amount: int, currency: str) -> Posting:
    return Posting(account, Side.DEBIT, amount, currency)


def credit(account: UUID, amount: int, currency: str) -> Posting:
    return Posting(account, Side.CREDIT, amount, currency)


def move(source: UUID, target: UUID, amount: int, currency: str) -> list[Posting]:
    """The two postings that move `amount` from `source` (debited) to `target` (credited)."""
    return [debit(source, amount, currency), credit(target, amount, currency)]


def reverse(postings: Iterable[Posting]) -> list[Posting]:
    """The same postings with the sides swapped: how a transfer is corrected."""
    return [p.reversed() for p in postings]


def totals(postings: Iterable[Posting]) -> dict[str, tuple[int, int]]:
    """Per currency: (debits, credits)."""
    sums: dict[str, tuple[int, int]] = {}
    for p in postings:
        debits, credits = sums.get(p.currency, (0, 0))
        sums[p.currency] = (debits + p.amount, credits) if p.side is Side.DEBIT else (debits, credits + p.amount)
    return sums


def is_balanced(postings: list[Posting]) -> bool:
    return POSTINGS_COUNT_MIN <= len(postings) <= POSTINGS_COUNT_MAX and all(
        debits == credits > 0 for debits, credits in totals(postings).values()
    )


def check_balanced(postings: list[Posting]) -> None:
    """Refuse postings that do not make a transfer: 2 to POSTINGS_COUNT_MAX of them, every
    amount valid, and in each currency debits equal to credits (and not zero)."""
    if not POSTINGS_COUNT_MIN <= len(postings) <= POSTINGS_COUNT_MAX:
        raise UnbalancedTransfer(
            f"a transfer needs {POSTINGS_COUNT_MIN} to {POSTINGS_COUNT_MAX} postings, got {len(postings)}"
        )
    for p in postings:
        check_amount(p.amount)
    for debits, credits in totals(postings).values():
        if debits != credits or debits == 0:
            raise UnbalancedTransfer(f"debits {debits} do not equal credits {credits}")


@dataclass(frozen=True, slots=True)
class HoldEntry:
    """An open hold as its account keeps it (see the module's docstring)."""

    remaining: int  # minor units still held, > 0 while the entry exists
    expires_at: datetime | None
    purpose: str  # "freeze" (counts in `frozen`) or "withdrawal"

    def __post_init__(self) -> None:
        assert self.remaining > 0, self

    def is_expired(self, now: datetime) -> bool:
        """An expired hold stops counting at its expiry, before anything records it."""
        return self.expires_at is not None and self.expires_at <= now

    def reduced(self, amount: int) -> HoldEntry | None:
        """What is left after releasing or capturing `amount` (None: nothing)."""
        assert 0 < amount <= self.remaining, (amount, self)
        return replace(self, remaining=self.remaining - amount) if amount < self.remaining else None
