"""The Transfer aggregate: one balanced journal entry, never edited.

A transfer is a set of postings (account, debit or credit, amount) in one
currency whose debits equal its credits. Corrections are new transfers: a
reversal posts the same postings with the sides swapped.

Two facts are recorded with it, so that the views never depend on configuration:
`day`, the accounting day (日切) it was booked on, as the ledger's AccountingDay
gave it then (None in logs written before it was recorded: those count on their
UTC date); and `by`, who made it, for the transfers staff make by hand
(adjustments, reversals): the acting API key's id, "cli" or "demo"; None for the
rest, and in older logs.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from .aggregate import LedgerAggregate
from .errors import AlreadyReversed, UnbalancedTransfer
from .money import check_amount


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class TransferKind(StrEnum):
    TRANSFER = "transfer"
    RECHARGE = "recharge"
    WITHDRAWAL = "withdrawal"
    CAPTURE = "capture"
    FEE = "fee"
    RECONCILIATION = "reconciliation"
    ADJUSTMENT = "adjustment"
    REVERSAL = "reversal"


MAX_POSTINGS = 64


def posting(account_id: UUID, side: Side, amount: int) -> dict[str, Any]:
    return {"account": account_id, "side": side.value, "amount": amount}


def reversed_postings(postings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    swap = {Side.DEBIT.value: Side.CREDIT, Side.CREDIT.value: Side.DEBIT}
    return [posting(p["account"], swap[p["side"]], p["amount"]) for p in postings]


def check_balanced(postings: list[dict[str, Any]]) -> None:
    """Debits equal credits; at least one of each; every amount valid."""
    if not 2 <= len(postings) <= MAX_POSTINGS:
        raise UnbalancedTransfer(f"a transfer needs 2 to {MAX_POSTINGS} postings, got {len(postings)}")
    totals = {Side.DEBIT.value: 0, Side.CREDIT.value: 0}
    for p in postings:
        check_amount(p["amount"])
        totals[Side(p["side"]).value] += p["amount"]
    if totals[Side.DEBIT] != totals[Side.CREDIT] or totals[Side.DEBIT] == 0:
        raise UnbalancedTransfer(f"debits {totals[Side.DEBIT]} do not equal credits {totals[Side.CREDIT]}")


class Transfer(LedgerAggregate):
    id: UUID  # given by the application: deterministic, for idempotency

    @event("Posted")
    def __init__(
        self,
        kind: str,
        currency: str,
        postings: list[dict[str, Any]],
        memo: str,
        request_hash: str,
        references: dict[str, str],
        day: str | None = None,
        by: str | None = None,
    ) -> None:
        self.kind = kind
        self.currency = currency
        self.postings = postings
        self.memo = memo
        self.request_hash = request_hash
        self.references = references
        self.day = day
        self.by = by
        self.reversed_by: UUID | None = None

    @classmethod
    def post(
        cls,
        transfer_id: UUID,
        kind: TransferKind,
        currency: str,
        postings: list[dict[str, Any]],
        *,
        request_hash: str,
        memo: str = "",
        references: dict[str, str] | None = None,
        day: str | None = None,
        by: str | None = None,
    ) -> Transfer:
        check_balanced(postings)
        return cls(
            id=transfer_id,
            kind=kind.value,
            currency=currency,
            postings=postings,
            memo=memo,
            request_hash=request_hash,
            references=references or {},
            day=day,
            by=by,
        )

    @property
    def amount(self) -> int:
        return sum(p["amount"] for p in self.postings if p["side"] == Side.DEBIT)

    def mark_reversed(self, reversal_id: UUID, by: str | None = None) -> None:
        if self.reversed_by is not None:
            raise AlreadyReversed(f"transfer {self.id} was already reversed by {self.reversed_by}")
        self._reversed(reversal_id, by)

    @event("Reversed")
    def _reversed(self, reversal_id: UUID, by: str | None = None) -> None:
        self.reversed_by = reversal_id
