"""The API's one call per route: what this caller may do, as ledger commands and view queries.

Business keys are bound to one business: every account they name must be that
business's, or it is "not found" (never "forbidden": another business's
accounts do not exist for them). Idempotency keys are scoped to the caller's
business (staff keys share one scope), so two businesses can use the same key.

Every command that takes an Idempotency-Key derives its command from it: those
that create something take their id from the scoped key (a transfer, a hold, a
binding, a payment, an API key); the rest record the key with the change they
make, in one save (`FundCenter.idempotent`, ledger/idempotency.py). Either way a
retry answers with the first outcome and another request with the key is
`409 idempotency-conflict`. Checks of who may do what come first, always.

Every staff command records who made it: the acting API key's id (`self.by`) is
the `by` of its events (adjustments, account status, the catalog, API keys,
reconciliation).

One module per concept (`accounts`, `money`, `reports`, `access`, `channels`, `payments`,
`reconciliations`), each a `Caller` (`caller`) subclass that the routes of that concept
depend on through `acting(permission, Service)`; `exports` streams CSV.
"""

from .caller import Caller, acting

__all__ = ["Caller", "acting"]
