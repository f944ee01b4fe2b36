"""Reconciliation (对账), on its own side of the ledger: `statement` reads and loads a
channel's file, `matching` pairs and classifies it in SQL (with the differences carried
over from earlier days), `reports` shows it (lines, CSV, the list, what is overdue), and
`reconciler` is the service the API, the CLI and the demo call. The commands that record
it are FundCenter's (ledger/reconciliation_commands.py); its aggregate is in the domain."""

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
