"""What the write side of reconciliation receives from its read side (the port).

The statement, its matching against the payments read model and the reports live on the
read side (`projections/reconciliation/`), which owns their tables. The ledger's
reconciliation commands never read those tables: the read side hands them these values,
computed from a committed import, and the commands record them in the `Reconciliation`
aggregate's events (`ledger/domain/reconciliation.py`)."""

from .port import CarriedLine, ClassTotals, CloseFigures, StatementMatch

__all__ = ["CarriedLine", "ClassTotals", "CloseFigures", "StatementMatch"]
