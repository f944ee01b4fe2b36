"""The values an import and a close hand to the ledger: frozen, checked on construction
(assertions: a wrong figure here is a programmer's error in the read side, not input)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from uuid import UUID

from ..domain.reconciliation import CLASSES, MATCHED


@dataclass(frozen=True)
class ClassTotals:
    """One class of an import's lines: how many, and both sides' amounts and fees (minor units)."""

    count: int
    our_amount: int
    their_amount: int
    our_fee: int
    their_fee: int
    carried: int = 0  # of them, lines that matched a difference waiting from an earlier day

    def __post_init__(self) -> None:
        assert 0 <= self.carried <= self.count, self
        assert min(self.our_amount, self.their_amount, self.our_fee, self.their_fee) >= 0, self

    def recorded(self) -> dict[str, int]:
        """As the `Imported` event records it (`carried` only when some were)."""
        row = {"count": self.count, "our_amount": self.our_amount, "their_amount": self.their_amount,
               "our_fee": self.our_fee, "their_fee": self.their_fee}
        return {**row, "carried": self.carried} if self.carried else row


@dataclass(frozen=True)
class StatementMatch:
    """What an import found: the statement's line count, per class its totals, how many lines
    have our side, how many were carried over, and the day's window it matched (UTC text)."""

    lines: int
    ours: int
    classes: Mapping[str, ClassTotals]
    starts_at: str
    ends_at: str

    def __post_init__(self) -> None:
        assert self.lines >= 0 and self.ours >= 0, self
        assert set(self.classes) <= {MATCHED, *CLASSES}, self.classes
        assert self.ours <= sum(c.count for c in self.classes.values()), self

    @property
    def carried(self) -> int:
        return sum(c.carried for c in self.classes.values())

    def summary(self) -> dict[str, dict[str, int]]:
        return {name: totals.recorded() for name, totals in self.classes.items()}


@dataclass(frozen=True)
class CarriedLine:
    """A line of the closing day that matched a difference waiting from an earlier day."""

    origin_id: UUID  # the reconciliation where the difference waits
    origin_seq: int  # the difference there
    seq: int  # the line here
    net: int  # what the close moves for it (the channel's net figure; 0 if this line itself waits)


@dataclass(frozen=True)
class CloseFigures:
    """What a close moves from pending_reconciliation to reconciled: the channel's net figure of
    the day's own lines (less what waits and what was dismissed), and the carried-over lines."""

    moved: int
    carried: tuple[CarriedLine, ...] = field(default=())
