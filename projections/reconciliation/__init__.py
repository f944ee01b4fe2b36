"""Reconciliation (对账), the read side: `statement` reads a channel's file and loads it, `matching`
pairs and classifies it in SQL against the payments read model (with the differences carried
over from earlier days), `reports` shows it (lines, CSV, the list, what is overdue), and
`reconciler` is the service the API, the CLI and the demo call: import -> match -> record.

Its tables (`reconciliation_lines`, the statement's stored lines and its matched totals) are
written by the import, never by the ledger. The ledger's side (the `Reconciliation` aggregate
in `ledger/domain/reconciliation.py`, the commands that record an import, a resolution and a
close) receives what it needs as the typed values of `ledger.reconciliation` (the port).
The list of reconciliations and the waiting differences are a projection of the aggregate's
events (`projections/reconciliations.py`)."""

from .reconciler import (
    WAIT_MAX_DAYS,
    ChannelNotFound,
    DayNotBegun,
    DifferenceNotFound,
    Reconciler,
    StatementRejected,
    StatementUnavailable,
)

__all__ = ["WAIT_MAX_DAYS", "ChannelNotFound", "DayNotBegun", "DifferenceNotFound", "Reconciler",
           "StatementRejected", "StatementUnavailable"]
