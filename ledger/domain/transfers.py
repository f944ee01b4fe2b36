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

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import event

from .aggregate import LedgerAggregate
from .errors import AlreadyReversed, CurrencyMismatch
from .postings import Posting, Side, check_balanced, is_balanced

__all__ = ["Posting", "Side", "Transfer", "TransferKind"]


class TransferKind(StrEnum):
    TRANSFER = "transfer"
    RECHARGE = "recharge"
    WITHDRAWAL = "withdrawal"
    CAPTURE = "capture"
    FEE = "fee"
    RECONCILIATION = "reconciliation"
    ADJUSTMENT = "adjustment"
    REVERSAL = "reversal"


class Transfer(LedgerAggregate):
    id: UUID  # given by the application: deterministic, for idempotency

    if TYPE_CHECKING:  # the event classes @event makes below, declared for mypy (test_domain_events_declared.py compares)
        class Posted(LedgerAggregate.Created):
            kind: str
            currency: str
            postings: list[dict[str, Any]]
            memo: str
            request_hash: str
            references: dict[str, str]
            day: str | None
            by: str | None
            reference: str | None  # absent from events of older logs: read it with getattr

        class Reversed(LedgerAggregate.Event):
            reversal_id: UUID
            by: str | None

    @event("Posted")
    def __init__(
        self,
        id: UUID,
        kind: str,
        currency: str,
        postings: list[dict[str, Any]],  # Posting.as_record() of each: the stored shape
        memo: str,
        request_hash: str,
        references: dict[str, str],
        day: str | None = None,
        by: str | None = None,
        reference: str | None = None,
    ) -> None:
        self.kind = kind
        self.currency = currency
        self.postings: tuple[Posting, ...] = tuple([Posting.from_record(p, currency) for p in postings])
        assert is_balanced(list(self.postings)), self.postings
        self.memo = memo
        self.request_hash = request_hash
        self.references = references
        self.day = day
        self.by = by
        self.reference = reference  # the business's own reference (order number); None in older logs
        self.reversed_by: UUID | None = None

    @classmethod
    def post(
        cls,
        transfer_id: UUID,
        kind: TransferKind,
        currency: str,
        postings: Sequence[Posting],
        *,
        request_hash: str,
        memo: str = "",
        references: dict[str, str] | None = None,
        day: str | None = None,
        by: str | None = None,
        reference: str | None = None,
    ) -> Transfer:
        check_balanced(list(postings))
        if any(p.currency != currency for p in postings):
            raise CurrencyMismatch(f"a transfer in {currency} cannot post {sorted({p.currency for p in postings})}")
        # The library's `_create` with the `Posted` event the `@event` on `__init__` names: what `cls(...)`
        # does, without matching the arguments to `__init__`'s signature again (they are all given here).
        return cls._create(
            cls.Posted,
            id=transfer_id,
            kind=kind.value,
            currency=currency,
            postings=[p.as_record() for p in postings],
            memo=memo,
            request_hash=request_hash,
            references=references or {},
            day=day,
            by=by,
            reference=reference,
        )

    @property
    def amount(self) -> int:
        return sum(p.amount for p in self.postings if p.side is Side.DEBIT)

    def mark_reversed(self, reversal_id: UUID, by: str | None = None) -> None:
        if self.reversed_by is not None:
            raise AlreadyReversed(f"transfer {self.id} was already reversed by {self.reversed_by}")
        self._reversed(reversal_id, by)

    @event("Reversed")
    def _reversed(self, reversal_id: UUID, by: str | None = None) -> None:
        assert self.reversed_by is None, "a transfer is reversed once"
        self.reversed_by = reversal_id
