"""Handlers: transfers between customer accounts (one, or a batch), recharges booked,
operators' adjustments, reversals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from ..commands import Adjust, BookRecharge, PostTransfer, PostTransfers, ReverseTransfer
from ..domain import ids
from ..domain.accounts import SystemRole
from ..domain.aggregate import stamped_by
from ..domain.errors import AccountsMustBeDifferent, LedgerError, TransferNotFound, ValidationError
from ..domain.inputs import check_code, check_key, check_ref, check_text
from ..domain.money import check_amount, check_currency
from ..domain.postings import Posting, Side, move, reverse
from ..domain.transfers import Transfer, TransferKind
from ..posting import new_transfer, post
from ..unit_of_work import Attempt, Once, UnitOfWork
from ..views import TransferView
from .references import Claim, Reference

BATCH_SIZE_MAX = 1000  # transfers in one PostTransfers
PART_SIZE = 20  # transfers a batch sends to the database at a time, while it posts the next


def once_transfer(transfer_id: UUID, request: str, what: str) -> Once:
    return Once(Transfer, transfer_id, request, what, TransferView.of)


def checked(cmd: PostTransfer) -> tuple[UUID, str, list[Posting]]:
    """Check a transfer's input; return its id, request fingerprint and postings."""
    check_amount(cmd.amount)
    check_currency(cmd.currency)
    check_key(cmd.idempotency_key)
    check_text(cmd.memo, "memo")
    if cmd.reference is not None:
        check_ref(cmd.reference, "reference")
    if cmd.from_account == cmd.to_account:
        raise AccountsMustBeDifferent("from_account and to_account must be different accounts")
    request = ids.fingerprint(
        from_account=cmd.from_account, to_account=cmd.to_account, amount=cmd.amount, currency=cmd.currency, memo=cmd.memo,
        **ids.referenced(cmd.reference),
    )
    postings = move(cmd.from_account, cmd.to_account, cmd.amount, cmd.currency)
    return ids.command_id("transfer", cmd.idempotency_key), request, postings


def transfer(uow: UnitOfWork, cmd: PostTransfer) -> TransferView:
    """Move money between two customer accounts of one currency."""
    transfer_id, request, postings = checked(cmd)

    def decide(attempt: Attempt) -> TransferView:
        new = new_transfer(uow, transfer_id, TransferKind.TRANSFER, cmd.currency, postings, request_hash=request,
                           memo=cmd.memo, reference=cmd.reference)
        post(attempt, new, customers=(cmd.from_account, cmd.to_account))
        return TransferView.of(new, attempt.commit(new))

    return uow.run(decide, once_transfer(transfer_id, request, "transfer key"))


def transfer_claim(cmd: PostTransfer) -> Claim[TransferView] | None:
    """What a transfer with a reference claims (ledger/handlers/references.py)."""
    if cmd.reference is None:
        return None
    transfer_id, request, _ = checked(cmd)
    return Claim(Reference("transfer", cmd.from_account, cmd.reference), request, transfer_id,
                 lambda states: TransferView.of(*states[0]))


def transfer_many(uow: UnitOfWork, cmd: PostTransfers) -> list[TransferView | LedgerError]:
    """Many transfers, in order, each idempotent by its own key; one result per item.

    Group commit: all of them are applied in memory, in one attempt, and saved in
    one transaction. If any is refused, repeated or meets a concurrent writer,
    that attempt is dropped whole and each item runs as its own command, in
    order, so the results are exactly those of sequential transfers.
    """
    if len(cmd.items) > BATCH_SIZE_MAX:
        raise ValidationError(f"a batch holds at most {BATCH_SIZE_MAX} transfers, got {len(cmd.items)}")
    items = [item if isinstance(item, PostTransfer) else _as_command(item) for item in cmd.items]
    with stamped_by(uow.clock):
        prepared = [_prepare(uow, item) for item in items]
        # A retried batch: the items the cache knows were made already are answered alone (their first
        # outcome, or a conflict), not put in the group, whose commit they would fail, dropping the
        # accounts it read from the cache. Repeats change nothing, so the rest keep their order's results.
        made = {p.id for p in prepared if isinstance(p, Transfer) and uow.in_cache(Transfer, p.id) is not None}
        transfers = [p for p in prepared if isinstance(p, Transfer) and p.id not in made]
        recordings: list[Any] | None = []
        if transfers:
            attempt = uow.begin()
            try:
                recordings = attempt.commit_in_parts(_posted_in_parts(attempt, transfers))
            except (LedgerError, IntegrityError):
                uow.refresh(attempt.read)
                recordings = None
            finally:
                uow.end(attempt)
        if recordings is None:
            return [p if isinstance(p, LedgerError) else _alone(uow, item) for p, item in zip(prepared, items, strict=True)]
        positions = {r.domain_event.originator_id: r.notification.id for r in recordings}
        uow.stats.add("commands", len(transfers))
        return [p if isinstance(p, LedgerError) else _alone(uow, item) if p.id in made else TransferView.of(p, positions[p.id])
                for p, item in zip(prepared, items, strict=True)]


def _posted_in_parts(attempt: Attempt, transfers: list[Transfer]) -> Iterator[list[Transfer]]:
    """The transfers posted, a part at a time: the database stores each part while the next is
    posted (`Attempt.commit_in_parts`)."""
    for start in range(0, len(transfers), PART_SIZE):
        part = transfers[start:start + PART_SIZE]
        for new in part:
            post(attempt, new, customers=[p.account for p in new.postings])
        yield part


def _as_command(item: Any) -> PostTransfer:
    return PostTransfer(**item)


def _prepare(uow: UnitOfWork, item: PostTransfer) -> Transfer | LedgerError:
    try:
        if item.reference is not None:
            raise ValidationError("a batch's transfers take no reference: post a transfer with a reference on its own")
        transfer_id, request, postings = checked(item)
    except LedgerError as error:
        return error
    return new_transfer(uow, transfer_id, TransferKind.TRANSFER, item.currency, postings, request_hash=request,
                        memo=item.memo, reference=item.reference)


def _alone(uow: UnitOfWork, item: PostTransfer) -> TransferView | LedgerError:
    try:
        return transfer(uow, item)
    except LedgerError as error:
        return error


def book_recharge(uow: UnitOfWork, cmd: BookRecharge) -> TransferView:
    """The accounting of a succeeded recharge: Dr the channel's pending_reconciliation, Cr the account."""
    check_amount(cmd.amount)
    check_currency(cmd.currency)
    check_code(cmd.channel, "channel")
    check_key(cmd.idempotency_key)
    transfer_id = ids.command_id("recharge", cmd.idempotency_key)
    request = ids.fingerprint(account=cmd.account, amount=cmd.amount, currency=cmd.currency, channel=cmd.channel)

    def decide(attempt: Attempt) -> TransferView:
        suspense = attempt.system_account(SystemRole.PENDING_RECONCILIATION, cmd.currency, cmd.channel)
        new = new_transfer(uow, transfer_id, TransferKind.RECHARGE, cmd.currency,
                           move(suspense, cmd.account, cmd.amount, cmd.currency), request_hash=request,
                           references={"channel": cmd.channel})
        post(attempt, new, customers=(cmd.account,))
        return TransferView.of(new, attempt.commit(new))

    return uow.run(decide, once_transfer(transfer_id, request, "recharge key"))


def adjust(uow: UnitOfWork, cmd: Adjust) -> TransferView:
    """An operator's manual adjustment against the `difference` system account; `by`: who made it."""
    actor = uow.by(cmd.by)
    check_amount(cmd.amount)
    check_currency(cmd.currency)
    if cmd.direction not in (Side.CREDIT, Side.DEBIT):
        raise ValidationError(f"direction must be 'credit' or 'debit', got {cmd.direction!r}")
    check_text(cmd.reason, "reason", required=True)
    check_key(cmd.idempotency_key)
    transfer_id = ids.command_id("adjustment", cmd.idempotency_key)
    request = ids.fingerprint(account=cmd.account, amount=cmd.amount, currency=cmd.currency, direction=cmd.direction,
                              reason=cmd.reason)

    def decide(attempt: Attempt) -> TransferView:
        difference = attempt.system_account(SystemRole.DIFFERENCE, cmd.currency)
        source, target = (difference, cmd.account) if cmd.direction == Side.CREDIT else (cmd.account, difference)
        new = new_transfer(uow, transfer_id, TransferKind.ADJUSTMENT, cmd.currency,
                           move(source, target, cmd.amount, cmd.currency), request_hash=request, memo=cmd.reason,
                           references={"direction": cmd.direction}, by=actor)
        post(attempt, new, customers=(cmd.account,))
        return TransferView.of(new, attempt.commit(new))

    return uow.run(decide, once_transfer(transfer_id, request, "adjustment key"))


def reverse_transfer(uow: UnitOfWork, cmd: ReverseTransfer) -> TransferView:
    """Post the transfer's postings again with the sides swapped; once per transfer. `by`: who reversed it."""
    actor = uow.by(cmd.by)
    check_key(cmd.idempotency_key)
    check_text(cmd.reason, "reason", required=True)
    reversal_id = ids.command_id("reversal", cmd.idempotency_key)
    request = ids.fingerprint(transfer_id=cmd.transfer_id, reason=cmd.reason)

    def decide(attempt: Attempt) -> TransferView:
        original = attempt.get(Transfer, cmd.transfer_id, TransferNotFound, "transfer")
        original.mark_reversed(reversal_id, actor)
        reversal = new_transfer(uow, reversal_id, TransferKind.REVERSAL, original.currency, reverse(original.postings),
                                request_hash=request, memo=cmd.reason, references={"reverses": str(original.id)},
                                by=actor)
        post(attempt, reversal)
        return TransferView.of(reversal, attempt.commit(original, reversal))

    return uow.run(decide, once_transfer(reversal_id, request, "reversal key"))
