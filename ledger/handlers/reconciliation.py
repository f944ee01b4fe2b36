"""Handlers: the ledger side of reconciliation.

They record an import, a resolution and a close, and post the transfers between
a channel's suspense accounts and the `difference` account; no I/O of their own
(`ledger.reconciliation` reads statements and matches, then sends these).
"""

from __future__ import annotations

from uuid import UUID

from ..commands import CloseReconciliation, PostDifference, RecordImport, RecordResolution, ReversePayment, ReverseTransfer
from ..domain import ids
from ..domain.accounts import SystemRole
from ..domain.errors import ReconciliationNotFound, ValidationError
from ..domain.postings import move
from ..domain.reconciliation import DEFAULT_CURRENCY, DayClosed, ReconciledDay, Reconciliation, scope
from ..domain.transfers import Transfer, TransferKind
from ..posting import post
from ..unit_of_work import Attempt, Once, UnitOfWork
from . import payments, transfers


def record_import(uow: UnitOfWork, cmd: RecordImport) -> Reconciliation:
    def decide(attempt: Attempt) -> Reconciliation:
        reconciliation = Reconciliation(
            id=cmd.reconciliation_id, channel=cmd.channel, day=cmd.day, file_hash=cmd.file_hash,
            lines=cmd.match.lines, ours=cmd.match.ours, summary=cmd.match.summary(), imported_by=cmd.by,
            currency=cmd.currency, carried=cmd.match.carried, starts_at=cmd.match.starts_at, ends_at=cmd.match.ends_at,
        )
        attempt.commit(reconciliation)
        return reconciliation

    # The id is the file's hash: the same file again answers with the first import.
    return uow.run(decide, Once(Reconciliation, cmd.reconciliation_id, "", "statement", lambda r, position: r))


def reconciled_day(uow: UnitOfWork, channel: str, day: str, currency: str = DEFAULT_CURRENCY) -> ReconciledDay | None:
    """The record of the reconciliation that closed this channel's day in `currency`, if one did."""
    return uow.find(ReconciledDay, _reconciled_day_id(channel, day, currency))


def reconciliation(uow: UnitOfWork, reconciliation_id: UUID) -> Reconciliation:
    return uow.fresh(uow.get(Reconciliation, reconciliation_id, ReconciliationNotFound, "reconciliation"))


def record_resolution(uow: UnitOfWork, cmd: RecordResolution) -> Reconciliation:
    """Record a resolution. A waiting difference of a day already closed has its amount
    (`settles`: the channel's net figure) moved to reconciled here, in the same save."""

    def decide(attempt: Attempt) -> Reconciliation:
        current = _reconciliation(attempt, cmd.reconciliation_id)
        if not (current.is_closed and current.is_waiting(cmd.seq) and cmd.settles != 0):
            current.resolve(cmd.seq, cmd.difference_class, cmd.action, cmd.by, cmd.reason, cmd.transfer_ids)
            attempt.commit(current)
            return current
        transfer = _move_to_reconciled(
            attempt, ids.command_id("reconciliation-move", f"{current.id}/{cmd.seq}"), current, cmd.settles,
            f"reconciled {current.channel} {current.day} difference {cmd.seq} after waiting", {"difference": str(cmd.seq)},
        )
        current.resolve(cmd.seq, cmd.difference_class, cmd.action, cmd.by, cmd.reason, [*cmd.transfer_ids, transfer.id])
        post(attempt, transfer)
        attempt.commit(transfer, current)
        return current

    return uow.run(decide)


def close_reconciliation(uow: UnitOfWork, cmd: CloseReconciliation) -> Reconciliation:
    """Move the day's matched total from pending_reconciliation to reconciled, and close the day.

    `figures.moved` is the channel's net figure of the day's own lines; `figures.carried` names the
    lines that matched a difference waiting from an earlier day. Each such wait ends here, in the same save, and its amount moves
    with the day's; one another day has already ended (or someone resolved otherwise) is stale:
    not moved again."""

    def decide(attempt: Attempt) -> Reconciliation:
        current = _reconciliation(attempt, cmd.reconciliation_id)
        current.check_can_close()
        closed = attempt.find(ReconciledDay, _reconciled_day_id(current.channel, current.day, current.currency))
        if closed is not None:
            raise DayClosed(f"{current.channel} {current.day} {current.currency} was closed"
                            f" by reconciliation {closed.reconciliation_id}")
        origins: dict[UUID, Reconciliation] = {}
        stale, total = [], cmd.figures.moved
        for line in cmd.figures.carried:
            origin = origins.get(line.origin_id) or origins.setdefault(
                line.origin_id, _reconciliation(attempt, line.origin_id))
            if not origin.is_waiting(line.origin_seq):
                stale.append(line.seq)
                continue
            origin.end_wait(line.origin_seq, current.id, current.day, line.seq)
            total += line.net
        marker = ReconciledDay(
            id=_reconciled_day_id(current.channel, current.day, current.currency),
            channel=current.channel, day=current.day, reconciliation_id=current.id, moved=total, currency=current.currency,
        )
        changed = [o for o in origins.values() if o.pending_events]
        transfer = None
        if total:
            transfer = _move_to_reconciled(
                attempt, ids.command_id("reconciliation-close", str(current.id)), current, total,
                f"reconciled {current.channel} {current.day}", {},
            )
            post(attempt, transfer)
        current.close(cmd.by, transfer.id if transfer else None, total, sorted(stale))
        attempt.commit(*([transfer] if transfer else []), marker, *changed, current)
        return current

    return uow.run(decide)


def post_difference(uow: UnitOfWork, cmd: PostDifference) -> Transfer:
    """Bring a channel's pending_reconciliation `delta` closer to the channel's figures
    (positive: the channel owes us more), against the `difference` account."""
    transfer_id = ids.command_id("reconciliation-difference", cmd.transfer_key)
    if (existing := uow.find(Transfer, transfer_id)) is not None:
        return existing

    def decide(attempt: Attempt) -> Transfer:
        pending = attempt.system_account(SystemRole.PENDING_RECONCILIATION, cmd.currency, cmd.channel)
        difference = attempt.system_account(SystemRole.DIFFERENCE, cmd.currency)
        source, target = (pending, difference) if cmd.delta > 0 else (difference, pending)
        transfer = Transfer.post(
            transfer_id, TransferKind.RECONCILIATION, cmd.currency, move(source, target, abs(cmd.delta), cmd.currency),
            request_hash="", memo=cmd.memo, references={"channel": cmd.channel, **cmd.references},
        )
        post(attempt, transfer)
        attempt.commit_all(transfer)
        return transfer

    return uow.run(decide, Once(Transfer, transfer_id, "", "difference", lambda t, position: t))


def reverse_payment(uow: UnitOfWork, cmd: ReversePayment) -> list[Transfer]:
    """Reverse every transfer a succeeded recharge or payout posted (it and its fee): a
    recharge the channel lacks is taken back from the member; a payout the channel lacks
    gives the member the money back, and the channel's fee back to fee_expense."""
    paid = payments.payment(uow, cmd.payment_id)
    if paid.status != "succeeded":
        raise ValidationError(f"payment {cmd.payment_id} is {paid.status}: only a succeeded one can be reversed")
    reversals = []
    for transfer_id in paid.transfer_ids:
        view = transfers.reverse_transfer(uow, ReverseTransfer(transfer_id, f"{cmd.key}/{transfer_id}", cmd.reason))
        reversals.append(uow.get(Transfer, view.id))
    return reversals


def _reconciliation(attempt: Attempt, reconciliation_id: UUID) -> Reconciliation:
    found = attempt.get(Reconciliation, reconciliation_id, ReconciliationNotFound, "reconciliation")
    return attempt.uow.fresh(found)


def _reconciled_day_id(channel: str, day: str, currency: str) -> UUID:
    return ids.command_id("reconciled-day", scope(channel, day, currency))


def _move_to_reconciled(
    attempt: Attempt, transfer_id: UUID, reconciliation: Reconciliation, amount: int, memo: str,
    references: dict[str, str],
) -> Transfer:
    """A transfer of `amount` (the channel's net figure: positive, the channel owes us) from the
    channel's pending_reconciliation to reconciled, in the reconciliation's currency."""
    currency, channel = reconciliation.currency, reconciliation.channel
    pending = attempt.system_account(SystemRole.PENDING_RECONCILIATION, currency, channel)
    done = attempt.system_account(SystemRole.RECONCILED, currency, channel)
    source, target = (done, pending) if amount > 0 else (pending, done)
    return Transfer.post(
        transfer_id, TransferKind.RECONCILIATION, currency, move(source, target, abs(amount), currency),
        request_hash="", memo=memo,
        references={"channel": channel, "day": attempt.uow.open_day(reconciliation.day),  # a closed day: the next open one
                    "reconciliation": str(reconciliation.id), **references},
    )
