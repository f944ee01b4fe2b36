"""Handlers: open an account, change its status."""

from __future__ import annotations

from ..commands import OpenAccount, SetAccountStatus
from ..domain import ids
from ..domain.accounts import CUSTOMER_KINDS, Account, check_status_reason
from ..domain.errors import ValidationError
from ..domain.inputs import NAME_LENGTH_MAX, check_code, check_ref, check_text
from ..domain.money import check_currency
from ..idempotency import run_once
from ..unit_of_work import Attempt, Once, UnitOfWork
from ..views import AccountView


def open_account(uow: UnitOfWork, cmd: OpenAccount) -> AccountView:
    """Open a customer account; the same (business_id, external_ref) again returns it."""
    if cmd.kind not in CUSTOMER_KINDS:
        raise ValidationError(f"kind must be one of institution, settlement, member; got {cmd.kind!r}")
    check_code(cmd.business_id, "business_id")
    check_ref(cmd.external_ref, "external_ref")
    check_currency(cmd.currency)
    check_text(cmd.name, "name", length_max=NAME_LENGTH_MAX)
    if cmd.channel is not None:
        check_code(cmd.channel, "channel")
    account_id = ids.account_id(cmd.business_id, cmd.external_ref)
    request = ids.fingerprint(kind=cmd.kind, currency=cmd.currency, name=cmd.name, channel=cmd.channel)

    def decide(attempt: Attempt) -> AccountView:
        account = Account(
            id=account_id, kind=cmd.kind, business_id=cmd.business_id, external_ref=cmd.external_ref,
            currency=cmd.currency, name=cmd.name, request_hash=request, channel=cmd.channel,
        )
        return AccountView.of(account, uow.clock(), attempt.commit(account))

    what = f"account {cmd.business_id}/{cmd.external_ref}"
    return uow.run(decide, Once(Account, account_id, request, what, lambda a, position: AccountView.of(a, uow.clock(), position)))


def set_account_status(uow: UnitOfWork, cmd: SetAccountStatus) -> AccountView:
    """Freeze (no debits), unfreeze or close a whole account. Setting the current status is a no-op.
    With `idempotency_key`, a repeat answers with the account as the first call left it. `reason`,
    when given, is checked before anything is read and recorded with the change."""
    actor = uow.by(cmd.by)
    if cmd.reason is not None:
        check_status_reason(cmd.reason)

    def decide(attempt: Attempt) -> AccountView:
        account = uow.fresh(attempt.customer_account(cmd.account))  # a no-op answer must not come from a stale cache
        now = uow.clock()
        if account.change_status(cmd.status, now, actor, cmd.reason):
            return AccountView.of(account, now, attempt.commit(account))
        return AccountView.of(account, now, uow.position(account.id, account.version))

    if cmd.idempotency_key is None:
        return uow.run(decide)
    # Without a reason, the fingerprint is the one recorded before reasons were (a retry still matches it).
    given = {} if cmd.reason is None else {"reason": cmd.reason}
    request = ids.fingerprint(account=cmd.account, status=cmd.status, **given)
    return run_once(
        uow, cmd.idempotency_key, "set-account-status", request,
        lambda: uow.run(decide), lambda states: AccountView.of(states[0][0], uow.clock(), states[0][1]),
        target=lambda a: a.id == cmd.account, refer=lambda view: [view.id],
    )
