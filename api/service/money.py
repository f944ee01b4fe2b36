"""Money: transfers (one, or a batch), holds (place, release, capture), adjustments."""

from __future__ import annotations

from concurrent.futures import Future
from uuid import UUID

from ledger import HoldView, TransferView
from ledger.commands import Adjust, CaptureHold, PlaceHold, PostTransfer, ReleaseHold, TransferRequest
from ledger.domain.errors import AccountNotFound, HoldNotFound, LedgerError

from .. import models
from .approvals import submit
from .caller import Caller


class Money(Caller):
    """The money routes' calls."""

    def _own_hold(self, hold_id: UUID) -> UUID:
        try:
            self._own(self.ledger.hold_account(hold_id))
        except AccountNotFound:
            raise HoldNotFound(f"hold {hold_id} not found") from None
        return hold_id

    def transfer(self, body: models.TransferIn, key: str) -> TransferView:
        self._own(body.from_account), self._own(body.to_account)
        return self.ledger.transfer(from_account=body.from_account, to_account=body.to_account, amount=body.amount,
                                    currency=body.currency, idempotency_key=self._key(key), memo=body.memo,
                                    reference=body.reference)

    def batch(self, body: models.BatchIn, key: str) -> list[TransferView | LedgerError]:
        items: list[TransferRequest] = []
        refused: dict[int, LedgerError] = {}
        for index, item in enumerate(body.transfers):
            try:
                self._own(item.from_account), self._own(item.to_account)
            except LedgerError as error:
                refused[index] = error
                continue
            items.append({
                "from_account": item.from_account, "to_account": item.to_account, "amount": item.amount,
                "currency": item.currency, "memo": item.memo,
                "idempotency_key": self._key(item.idempotency_key or f"{key}/{index}"),
                **({} if item.reference is None else {"reference": item.reference}),  # refused: one at a time
            })
        done = iter(self.ledger.transfer_many(items))
        return [refused[i] if i in refused else next(done) for i in range(len(body.transfers))]

    def place_hold(self, body: models.HoldIn, key: str) -> HoldView:
        return self.ledger.place_hold(self._own(body.account), body.amount, self._key(key), body.reason, body.expires_at,
                                      reference=body.reference)

    def release_hold(self, hold_id: UUID, body: models.ReleaseIn, key: str) -> HoldView:
        return self.ledger.release_hold(self._own_hold(hold_id), body.amount, idempotency_key=self._key(key))

    def capture_hold(self, hold_id: UUID, body: models.CaptureIn, key: str) -> TransferView:
        self._own_hold(hold_id), self._own(body.to_account)
        return self.ledger.capture_hold(hold_id, body.to_account, body.amount, idempotency_key=self._key(key), memo=body.memo)

    # -- on the event loop: the command handed to the writer, or None when something must be read first ----------

    def submit_transfer(self, body: models.TransferIn, key: str) -> Future[TransferView] | None:
        """`transfer` without waiting: a Future of its answer, or None when the answer needs a read
        first (an account the cache does not hold, or another business's; a reference used before),
        and `transfer` must run in a thread. Reads only memory, so an event loop may call it."""
        if not (self._known_own(body.from_account) and self._known_own(body.to_account)):
            return None
        return self.ledger.submit(PostTransfer(body.from_account, body.to_account, body.amount, body.currency,
                                               self._key(key), body.memo, body.reference))

    def submit_place_hold(self, body: models.HoldIn, key: str) -> Future[HoldView] | None:
        """`place_hold` without waiting, as `submit_transfer`."""
        if not self._known_own(body.account):
            return None
        return self.ledger.submit(PlaceHold(body.account, body.amount, self._key(key), body.reason, body.expires_at,
                                            body.reference))

    def submit_release_hold(self, hold_id: UUID, body: models.ReleaseIn, key: str) -> Future[HoldView] | None:
        """`release_hold` without waiting, as `submit_transfer`."""
        if not self._known_own_hold(hold_id):
            return None
        return self.ledger.submit(ReleaseHold(hold_id, body.amount, self._key(key)))

    def submit_capture_hold(self, hold_id: UUID, body: models.CaptureIn, key: str) -> Future[TransferView] | None:
        """`capture_hold` without waiting, as `submit_transfer`."""
        if not (self._known_own_hold(hold_id) and self._known_own(body.to_account)):
            return None
        return self.ledger.submit(CaptureHold(hold_id, body.to_account, body.amount, self._key(key), body.memo))

    def _known_own_hold(self, hold_id: UUID) -> bool:
        account = self.ledger.known_hold_account(hold_id)
        return account is not None and self._known_own(account)

    def hold(self, hold_id: UUID) -> HoldView:
        return self.ledger.get_hold(self._own_hold(hold_id))

    def adjust(self, body: models.AdjustmentIn, key: str) -> TransferView:
        return submit(self, Adjust(body.account, body.amount, body.currency, body.direction, body.reason, self._key(key),
                                   by=self.by))
