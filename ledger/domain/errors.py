"""Domain errors. Each has a stable `code`, used as the problem+json `type` slug.

Every command checks its input before it changes anything, so an error always
means nothing was written.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose."""

    code = "ledger-error"
    status = 400  # the HTTP status the API maps this to

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ValidationError(LedgerError):
    code = "validation-error"
    status = 422


class InvalidAmount(ValidationError):
    code = "invalid-amount"


class UnknownCurrency(ValidationError):
    code = "unknown-currency"


class InvalidExpiry(ValidationError):
    code = "invalid-expiry"


class NotFound(LedgerError):
    code = "not-found"
    status = 404


class AccountNotFound(NotFound):
    pass


class HoldNotFound(NotFound):
    pass


class TransferNotFound(NotFound):
    pass


class KeyNotFound(NotFound):
    pass


class PaymentNotFound(NotFound):
    pass


class BindingNotFound(NotFound):
    pass


class ReconciliationNotFound(NotFound):
    pass


class Conflict(LedgerError):
    status = 409


class IdempotencyConflict(Conflict):
    """The same idempotency key (or account reference) came with different arguments."""

    code = "idempotency-conflict"


class CurrencyMismatch(Conflict):
    code = "currency-mismatch"


class AccountsMustBeDifferent(ValidationError):
    code = "accounts-must-be-different"


class InsufficientFunds(Conflict):
    code = "insufficient-funds"


class AccountFrozen(Conflict):
    code = "account-frozen"


class AccountClosed(Conflict):
    code = "account-closed"


class AccountNotEmpty(Conflict):
    """An account with a balance or open holds cannot be closed."""

    code = "account-not-empty"


class InvalidStatusChange(Conflict):
    code = "invalid-status-change"


class HoldNotActive(Conflict):
    """The hold was already fully released, captured, or has expired."""

    code = "hold-not-active"


class ExceedsHeldAmount(Conflict):
    code = "exceeds-held-amount"


class AlreadyReversed(Conflict):
    code = "already-reversed"


class UnbalancedTransfer(ValidationError):
    code = "unbalanced-transfer"


class Contention(LedgerError):
    """Concurrent writers kept winning the race; the command was retried and gave up."""

    code = "contention"
    status = 503
