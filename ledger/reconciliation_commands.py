"""The ledger side of reconciliation: FundCenter commands that record an import,
a resolution and a close, and post the transfers between a channel's suspense
accounts and the `difference` account. Mixed into FundCenter; no I/O of their own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from .domain import ids
from .domain.accounts import SystemRole
from .domain.errors import NotFound
from .domain.reconciliation import DayClosed, ReconciledDay, Reconciliation
from .domain.transfers import Side, Transfer, TransferKind, posting
from .once import Once

if TYPE_CHECKING:
    from .application import FundCenter


class ReconciliationNotFound(NotFound):
    pass


class ReconciliationCommands:
    def record_import(
        self: FundCenter, reconciliation_id: UUID, channel: str, day: str, file_hash: str, lines: int, ours: int,
        summary: dict[str, dict[str, int]], by: str,
    ) -> Reconciliation:
        def attempt() -> Reconciliation:
            reconciliation = Reconciliation(id=reconciliation_id, channel=channel, day=day, file_hash=file_hash,
                                            lines=lines, ours=ours, summary=summary, imported_by=by)
            self._save(reconciliation)
            return reconciliation

        # The id is the file's hash: the same file again answers with the first import.
        return self._run(attempt, Once(Reconciliation, reconciliation_id, "", "statement", lambda r, p: r))

    def reconciled_day(self: FundCenter, channel: str, day: str) -> ReconciledDay | None:
        """The record of the reconciliation that closed this channel's day, if one did."""
        found = self._find(ReconciledDay, ids.command_id("reconciled-day", f"{channel}/{day}"))
        return found

    def get_reconciliation(self: FundCenter, reconciliation_id: UUID) -> Reconciliation:
        return self._fresh(self._get(Reconciliation, reconciliation_id, ReconciliationNotFound, "reconciliation"))

    def record_resolution(
        self: FundCenter, reconciliation_id: UUID, seq: int, difference_class: str, action: str, by: str, reason: str,
        transfer_ids: list[UUID],
    ) -> Reconciliation:
        def attempt() -> Reconciliation:
            reconciliation = self.get_reconciliation(reconciliation_id)
            reconciliation.resolve(seq, difference_class, action, by, reason, transfer_ids)
            self._save(reconciliation)
            return reconciliation

        return self._run(attempt)

    def close_reconciliation(self: FundCenter, reconciliation_id: UUID, currency: str, moved: int, by: str) -> Reconciliation:
        """Move the day's matched total from pending_reconciliation to reconciled, and close the day."""

        def attempt() -> Reconciliation:
            reconciliation = self.get_reconciliation(reconciliation_id)
            reconciliation.check_can_close()
            closed = self.reconciled_day(reconciliation.channel, reconciliation.day)
            if closed is not None:
                raise DayClosed(f"{reconciliation.channel} {reconciliation.day} was closed by reconciliation"
                                f" {closed.reconciliation_id}")
            marker = ReconciledDay(id=ids.command_id("reconciled-day", f"{reconciliation.channel}/{reconciliation.day}"),
                                   channel=reconciliation.channel, day=reconciliation.day,
                                   reconciliation_id=reconciliation.id, moved=moved)
            transfer = None
            if moved:
                pending, new = self._system_account(SystemRole.PENDING_RECONCILIATION, currency, reconciliation.channel)
                done, more = self._system_account(SystemRole.RECONCILED, currency, reconciliation.channel)
                source, target = (done, pending) if moved > 0 else (pending, done)
                transfer = Transfer.post(
                    ids.command_id("reconciliation-close", str(reconciliation.id)), TransferKind.RECONCILIATION,
                    currency, [posting(source, Side.DEBIT, abs(moved)), posting(target, Side.CREDIT, abs(moved))],
                    request_hash="", memo=f"reconciled {reconciliation.channel} {reconciliation.day}",
                    references={"channel": reconciliation.channel, "day": reconciliation.day,
                                "reconciliation": str(reconciliation.id)},
                )
                new += more
            reconciliation.close(by, transfer.id if transfer else None, moved)
            if transfer is None:
                self._save(marker, reconciliation)
            else:
                self._post_all([(transfer, (), None)], new, [marker, reconciliation])
            return reconciliation

        return self._run(attempt)

    def post_difference(
        self: FundCenter, transfer_key: str, channel: str, currency: str, delta: int, memo: str,
        references: dict[str, str],
    ) -> Transfer:
        """Bring a channel's pending_reconciliation `delta` closer to the channel's figures
        (positive: the channel owes us more), against the `difference` account."""
        transfer_id = ids.command_id("reconciliation-difference", transfer_key)
        if (existing := self._find(Transfer, transfer_id)) is not None:
            return existing

        def attempt() -> Transfer:
            pending, new = self._system_account(SystemRole.PENDING_RECONCILIATION, currency, channel)
            difference, more = self._system_account(SystemRole.DIFFERENCE, currency)
            source, target = (pending, difference) if delta > 0 else (difference, pending)
            transfer = Transfer.post(
                transfer_id, TransferKind.RECONCILIATION, currency,
                [posting(source, Side.DEBIT, abs(delta)), posting(target, Side.CREDIT, abs(delta))],
                request_hash="", memo=memo, references={"channel": channel, **references},
            )
            self._post_all([(transfer, (), None)], new + more, [])
            return transfer

        return self._run(attempt, Once(Transfer, transfer_id, "", "difference", lambda t, p: t))

    def reverse_payment(self: FundCenter, payment_id: UUID, reason: str, key: str) -> list[Transfer]:
        """Reverse every transfer a succeeded recharge posted (the recharge and its fee)."""
        payment: Any = self.get_payment(payment_id)
        reversals = []
        for transfer_id in payment.transfer_ids:
            view = self.reverse_transfer(transfer_id, f"{key}/{transfer_id}", reason)
            reversals.append(self._get(Transfer, view.id))
        return reversals
