"""The ledger side of reconciliation: FundCenter commands that record an import,
a resolution and a close, and post the transfers between a channel's suspense
accounts and the `difference` account. Mixed into FundCenter; no I/O of their own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from .domain import ids
from .domain.accounts import SystemRole
from .domain.errors import NotFound, ValidationError
from .domain.reconciliation import DEFAULT_CURRENCY, DayClosed, ReconciledDay, Reconciliation, scope
from .domain.transfers import Side, Transfer, TransferKind, posting
from .once import Once
from .reconciliation import CloseFigures, StatementMatch

if TYPE_CHECKING:
    from .application import FundCenter


class ReconciliationNotFound(NotFound):
    pass


class ReconciliationCommands:
    def record_import(
        self: FundCenter, reconciliation_id: UUID, channel: str, day: str, file_hash: str, match: StatementMatch,
        by: str, currency: str = DEFAULT_CURRENCY,
    ) -> Reconciliation:
        def attempt() -> Reconciliation:
            reconciliation = Reconciliation(id=reconciliation_id, channel=channel, day=day, file_hash=file_hash,
                                            lines=match.lines, ours=match.ours, summary=match.summary(),
                                            imported_by=by, currency=currency, carried=match.carried,
                                            starts_at=match.starts_at, ends_at=match.ends_at)
            self._save(reconciliation)
            return reconciliation

        # The id is the file's hash: the same file again answers with the first import.
        return self._run(attempt, Once(Reconciliation, reconciliation_id, "", "statement", lambda r, p: r))

    def reconciled_day(self: FundCenter, channel: str, day: str, currency: str = DEFAULT_CURRENCY) -> ReconciledDay | None:
        """The record of the reconciliation that closed this channel's day in `currency`, if one did."""
        return self._find(ReconciledDay, ids.command_id("reconciled-day", scope(channel, day, currency)))

    def get_reconciliation(self: FundCenter, reconciliation_id: UUID) -> Reconciliation:
        return self._fresh(self._get(Reconciliation, reconciliation_id, ReconciliationNotFound, "reconciliation"))

    def record_resolution(
        self: FundCenter, reconciliation_id: UUID, seq: int, difference_class: str, action: str, by: str, reason: str,
        transfer_ids: list[UUID], settles: int = 0,
    ) -> Reconciliation:
        """Record a resolution. A waiting difference of a day already closed has its amount
        (`settles`: the channel's net figure) moved to reconciled here, in the same save."""

        def attempt() -> Reconciliation:
            reconciliation = self.get_reconciliation(reconciliation_id)
            moves = reconciliation.is_closed and reconciliation.is_waiting(seq) and settles != 0
            if not moves:
                reconciliation.resolve(seq, difference_class, action, by, reason, transfer_ids)
                self._save(reconciliation)
                return reconciliation
            transfer, new = self._move_to_reconciled(
                ids.command_id("reconciliation-move", f"{reconciliation.id}/{seq}"), reconciliation, settles,
                f"reconciled {reconciliation.channel} {reconciliation.day} difference {seq} after waiting",
                {"difference": str(seq)},
            )
            reconciliation.resolve(seq, difference_class, action, by, reason, [*transfer_ids, transfer.id])
            self._post_all([(transfer, (), None)], new, [reconciliation])
            return reconciliation

        return self._run(attempt)

    def close_reconciliation(self: FundCenter, reconciliation_id: UUID, figures: CloseFigures, by: str) -> Reconciliation:
        """Move the day's matched total from pending_reconciliation to reconciled, and close the day.

        `figures.moved` is the channel's net figure of the day's own lines; `figures.carried` names the
        lines that matched a difference waiting from an earlier day. Each such wait ends here, in the
        same save, and its amount moves with the day's; one another day has already ended (or someone
        resolved otherwise) is stale: not moved again."""

        def attempt() -> Reconciliation:
            reconciliation = self.get_reconciliation(reconciliation_id)
            reconciliation.check_can_close()
            closed = self.reconciled_day(reconciliation.channel, reconciliation.day, reconciliation.currency)
            if closed is not None:
                raise DayClosed(f"{reconciliation.channel} {reconciliation.day} {reconciliation.currency} was closed"
                                f" by reconciliation {closed.reconciliation_id}")
            origins: dict[UUID, Reconciliation] = {}
            stale, total = [], figures.moved
            for line in figures.carried:
                origin = origins.get(line.origin_id) or origins.setdefault(
                    line.origin_id, self.get_reconciliation(line.origin_id))
                if not origin.is_waiting(line.origin_seq):
                    stale.append(line.seq)
                    continue
                origin.end_wait(line.origin_seq, reconciliation.id, reconciliation.day, line.seq)
                total += line.net
            marker = ReconciledDay(
                id=ids.command_id("reconciled-day", scope(reconciliation.channel, reconciliation.day,
                                                          reconciliation.currency)),
                channel=reconciliation.channel, day=reconciliation.day, reconciliation_id=reconciliation.id,
                moved=total, currency=reconciliation.currency,
            )
            changed = [o for o in origins.values() if o.pending_events]
            transfer, new = None, []
            if total:
                transfer, new = self._move_to_reconciled(
                    ids.command_id("reconciliation-close", str(reconciliation.id)), reconciliation, total,
                    f"reconciled {reconciliation.channel} {reconciliation.day}", {},
                )
            reconciliation.close(by, transfer.id if transfer else None, total, sorted(stale))
            if transfer is None:
                self._save(marker, *changed, reconciliation)
            else:
                self._post_all([(transfer, (), None)], new, [marker, *changed, reconciliation])
            return reconciliation

        return self._run(attempt)

    def _move_to_reconciled(
        self: FundCenter, transfer_id: UUID, reconciliation: Reconciliation, amount: int, memo: str,
        references: dict[str, str],
    ) -> tuple[Transfer, list[Any]]:
        """A transfer of `amount` (the channel's net figure: positive, the channel owes us) from the
        channel's pending_reconciliation to reconciled, in the reconciliation's currency."""
        currency, channel = reconciliation.currency, reconciliation.channel
        pending, new = self._system_account(SystemRole.PENDING_RECONCILIATION, currency, channel)
        done, more = self._system_account(SystemRole.RECONCILED, currency, channel)
        source, target = (done, pending) if amount > 0 else (pending, done)
        transfer = Transfer.post(
            transfer_id, TransferKind.RECONCILIATION, currency,
            [posting(source, Side.DEBIT, abs(amount)), posting(target, Side.CREDIT, abs(amount))],
            request_hash="", memo=memo,
            references={"channel": channel, "day": reconciliation.day, "reconciliation": str(reconciliation.id),
                        **references},
        )
        return transfer, new + more

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
        """Reverse every transfer a succeeded recharge or payout posted (it and its fee): a
        recharge the channel lacks is taken back from the member; a payout the channel lacks
        gives the member the money back, and the channel's fee back to fee_expense."""
        payment: Any = self.get_payment(payment_id)
        if payment.status != "succeeded":
            raise ValidationError(f"payment {payment_id} is {payment.status}: only a succeeded one can be reversed")
        reversals = []
        for transfer_id in payment.transfer_ids:
            view = self.reverse_transfer(transfer_id, f"{key}/{transfer_id}", reason)
            reversals.append(self._get(Transfer, view.id))
        return reversals
