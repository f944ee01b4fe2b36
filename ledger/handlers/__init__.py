"""One handler per command (ledger.commands), grouped by concept.

A handler checks its command, then runs a decision through the unit of work
(ledger.unit_of_work): load through the attempt, call the aggregates, commit
once. Handlers are plain functions `handler(uow, command) -> result`; the
posting engine they share is `ledger.posting`.
"""
