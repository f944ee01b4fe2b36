"""Read models built from the ledger's event log: balances, statements,
transactions, suspense and the trial balance, with the runner that builds them."""

from .runner import ProjectionRunner, all_views
from .store import ViewStore

__all__ = ["ProjectionRunner", "ViewStore", "all_views"]
