"""Handlers: place a hold (freeze part of a balance), release it, capture it.

The account keeps the open amount (its funds check reads it) and the Hold keeps
the hold's history and operation keys: each handler changes both in one save.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from ..commands import CaptureHold, PlaceHold, ReleaseHold
from ..domain import ids
from ..domain.errors import AccountsMustBeDifferent, HoldNotFound, IdempotencyConflict, TransferNotFound
from ..domain.holds import Hold, assert_in_step
from ..domain.inputs import check_expiry, check_key, check_ref, check_text
from ..domain.money import check_amount
from ..domain.postings import move
from ..domain.transfers import Transfer, TransferKind
from ..posting import new_transfer, post
from ..unit_of_work import Attempt, Once, UnitOfWork
from ..views import HoldView, TransferView
from .references import Claim, Reference


def place_hold(uow: UnitOfWork, cmd: PlaceHold) -> HoldView:
    """Freeze part of an account's balance: it stops counting as available."""
    check_amount(cmd.amount)
    check_key(cmd.idempotency_key)
    check_text(cmd.reason, "reason")
    check_expiry(cmd.expires_at, uow.clock())
    hold_id, request = _identified(cmd)

    def decide(attempt: Attempt) -> HoldView:
        now = uow.clock()
        account = attempt.customer_account(cmd.account)
        account.expire_holds(now)
        account.place_hold(hold_id, cmd.amount, cmd.expires_at, now)
        hold = Hold(
            id=hold_id, account_id=account.id, currency=account.currency, amount=cmd.amount,
            reason=cmd.reason, expires_at=cmd.expires_at, request_hash=request, reference=cmd.reference,
        )
        return HoldView.of(hold, now, attempt.commit(account, hold))

    return uow.run(decide, Once(Hold, hold_id, request, "hold key", lambda h, position: HoldView.of(h, uow.clock(), position)))


def _identified(cmd: PlaceHold) -> tuple[UUID, str]:
    """A hold's id (from its idempotency key) and its request's fingerprint (with its reference, if any)."""
    if cmd.reference is not None:
        check_ref(cmd.reference, "reference")
    request = ids.fingerprint(account=cmd.account, amount=cmd.amount, reason=cmd.reason, expires_at=cmd.expires_at,
                              **ids.referenced(cmd.reference))
    return ids.command_id("hold", cmd.idempotency_key), request


def hold_claim(uow: UnitOfWork, cmd: PlaceHold) -> Claim[HoldView] | None:
    """What a hold with a reference claims (ledger/handlers/references.py)."""
    if cmd.reference is None:
        return None
    hold_id, request = _identified(cmd)
    return Claim(Reference("hold", cmd.account, cmd.reference), request, hold_id,
                 lambda states: HoldView.of(states[0][0], uow.clock(), states[0][1]))


def release_hold(uow: UnitOfWork, cmd: ReleaseHold) -> HoldView:
    """Unfreeze all (amount None) or part of what a hold still holds."""
    if cmd.amount is not None:
        check_amount(cmd.amount)
    operation = operation_key("release", cmd.idempotency_key)
    request = ids.fingerprint(amount=cmd.amount)

    def decide(attempt: Attempt) -> HoldView:
        now = uow.clock()
        hold = attempt.get(Hold, cmd.hold_id, HoldNotFound, "hold")
        if operation in hold.operations:
            return HoldView.of(hold, now, repeat_operation(uow, hold, operation, request))
        to_release = hold.check_open(cmd.amount, now)
        account = attempt.customer_account(hold.account_id)
        account.release_hold(hold.id, to_release, now)
        hold.release(to_release, operation, request)
        assert_in_step(hold, account.holds.get(str(hold.id)))
        return HoldView.of(hold, now, attempt.commit(account, hold))

    return uow.run(decide)


def capture_hold(uow: UnitOfWork, cmd: CaptureHold) -> TransferView:
    """Turn all (amount None) or part of a hold into a posted transfer to another customer account."""
    if cmd.amount is not None:
        check_amount(cmd.amount)
    check_text(cmd.memo, "memo")
    operation = operation_key("capture", cmd.idempotency_key)
    transfer_id = ids.command_id("capture", f"{cmd.hold_id}\x1f{operation}")
    request = ids.fingerprint(to_account=cmd.to_account, amount=cmd.amount, memo=cmd.memo)

    def decide(attempt: Attempt) -> TransferView:
        now = uow.clock()
        hold = attempt.get(Hold, cmd.hold_id, HoldNotFound, "hold")
        if operation in hold.operations:
            repeat_operation(uow, hold, operation, request)
            done = attempt.get(Transfer, transfer_id, TransferNotFound, "transfer")
            return TransferView.of(done, uow.position(done.id, 1))
        if cmd.to_account == hold.account_id:
            raise AccountsMustBeDifferent("a hold cannot be captured to the account it holds")
        to_capture = hold.check_open(cmd.amount, now)
        hold.capture(to_capture, transfer_id, operation, request)
        capture = new_transfer(uow, transfer_id, TransferKind.CAPTURE, hold.currency,
                               move(hold.account_id, cmd.to_account, to_capture, hold.currency), request_hash=request,
                               memo=cmd.memo, references={"hold": str(hold.id)})
        post(attempt, capture, customers=(hold.account_id, cmd.to_account), capture=hold)
        assert_in_step(hold, attempt.accounts[hold.account_id].holds.get(str(hold.id)))
        return TransferView.of(capture, attempt.commit(hold, capture))

    return uow.run(decide)


def operation_key(kind: str, idempotency_key: str | None) -> str:
    # Without a key, a fresh one per call: retries inside the call still find the first outcome.
    return f"{kind}:{check_key(idempotency_key) if idempotency_key is not None else uuid4()}"


def repeat_operation(uow: UnitOfWork, hold: Hold, operation: str, request: str) -> int | None:
    first_request, version = hold.operations[operation]
    if first_request != request:
        raise IdempotencyConflict("idempotency key was already used with different arguments")
    uow.stats.add("repeats")
    return uow.position(hold.id, version)
