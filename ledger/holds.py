"""Holds: freeze part of a balance, unfreeze it, capture it. FundCenter commands (a mixin)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from .domain import ids
from .domain.errors import AccountsMustBeDifferent, HoldNotFound, TransferNotFound
from .domain.holds import Hold
from .domain.inputs import check_expiry, check_key, check_text
from .domain.money import check_amount
from .domain.transfers import Side, Transfer, TransferKind, posting
from .once import Once
from .views import HoldView, TransferView

if TYPE_CHECKING:
    from .application import FundCenter


class HoldCommands:
    def place_hold(
        self: FundCenter, account: UUID, amount: int, idempotency_key: str, reason: str = "", expires_at: datetime | None = None
    ) -> HoldView:
        """Freeze part of an account's balance: it stops counting as available."""
        check_amount(amount)
        check_key(idempotency_key)
        check_text(reason, "reason")
        check_expiry(expires_at, self.clock())
        hold_id = ids.command_id("hold", idempotency_key)
        request = ids.fingerprint(account=account, amount=amount, reason=reason, expires_at=expires_at)

        def attempt() -> HoldView:
            now = self.clock()
            acct = self._customer_account(account)
            acct.expire_holds(now)
            acct.place_hold(hold_id, amount, expires_at, now)
            hold = Hold(
                id=hold_id, account_id=acct.id, currency=acct.currency, amount=amount,
                reason=reason, expires_at=expires_at, request_hash=request,
            )
            return HoldView.of(hold, now, self._save(acct, hold))

        answer = lambda hold, position: HoldView.of(hold, self.clock(), position)  # noqa: E731
        return self._run(attempt, Once(Hold, hold_id, request, "hold key", answer))

    def release_hold(self: FundCenter, hold_id: UUID, amount: int | None = None, idempotency_key: str | None = None) -> HoldView:
        """Unfreeze all (amount None) or part of what a hold still holds."""
        if amount is not None:
            check_amount(amount)
        operation = self._operation("release", idempotency_key)
        request = ids.fingerprint(amount=amount)

        def attempt() -> HoldView:
            now = self.clock()
            hold = self._get(Hold, hold_id, HoldNotFound, "hold")
            if operation in hold.operations:
                return HoldView.of(hold, now, self._repeat_operation(hold, operation, request))
            to_release = hold.check_open(amount, now)
            acct = self._customer_account(hold.account_id)
            acct.release_hold(hold.id, to_release, now)
            hold.release(to_release, operation, request)
            return HoldView.of(hold, now, self._save(acct, hold))

        return self._run(attempt)

    def capture_hold(
        self: FundCenter, hold_id: UUID, to_account: UUID, amount: int | None = None,
        idempotency_key: str | None = None, memo: str = "",
    ) -> TransferView:
        """Turn all (amount None) or part of a hold into a posted transfer to another customer account."""
        if amount is not None:
            check_amount(amount)
        check_text(memo, "memo")
        operation = self._operation("capture", idempotency_key)
        transfer_id = ids.command_id("capture", f"{hold_id}\x1f{operation}")
        request = ids.fingerprint(to_account=to_account, amount=amount, memo=memo)

        def attempt() -> TransferView:
            now = self.clock()
            hold = self._get(Hold, hold_id, HoldNotFound, "hold")
            if operation in hold.operations:
                self._repeat_operation(hold, operation, request)
                transfer = self._get(Transfer, transfer_id, TransferNotFound, "transfer")
                return TransferView.of(transfer, self._position(transfer.id, 1))
            if to_account == hold.account_id:
                raise AccountsMustBeDifferent("a hold cannot be captured to the account it holds")
            to_capture = hold.check_open(amount, now)
            hold.capture(to_capture, transfer_id, operation, request)
            postings = [posting(hold.account_id, Side.DEBIT, to_capture), posting(to_account, Side.CREDIT, to_capture)]
            return self._post_new(
                transfer_id, request, TransferKind.CAPTURE, hold.currency, postings, memo=memo,
                references={"hold": str(hold.id)}, customers=(hold.account_id, to_account),
                capture=hold, also_save=(hold,),
            )

        return self._run(attempt)

    def hold_account(self: FundCenter, hold_id: UUID) -> UUID:
        """The account a hold is on (it never changes, so the cache answers)."""
        return self._get(Hold, hold_id, HoldNotFound, "hold").account_id

    def get_hold(self: FundCenter, hold_id: UUID) -> HoldView:
        return HoldView.of(self._fresh(self._get(Hold, hold_id, HoldNotFound, "hold")), self.clock())
