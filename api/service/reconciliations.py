"""Reconciliation: import or fetch a statement, resolve its differences, close the day, list."""

from __future__ import annotations

import hashlib
import io
from typing import Any
from uuid import UUID

from ledger.approval_commands import ResolveDifference
from ledger.domain import ids
from ledger.domain.reconciliation import Reconciliation
from projections.common import decode_cursor, encode_cursor
from projections.reconciliation.reports import listing as reconciliation_list

from .. import models
from .approvals import submit
from .caller import Caller


class Reconciliations(Caller):
    """The reconciliation routes' calls."""

    def import_statement(self, body: models.ImportIn, key: str) -> Reconciliation:
        data = body.file.encode()
        request = ids.fingerprint(channel=body.channel, date=body.date, currency=body.currency,
                                  file=hashlib.sha256(data).hexdigest())
        return self.ledger.idempotent(
            self._key(key), "import-statement", request,
            lambda: self.services.reconciler.import_statement(
                body.channel, body.date, io.BytesIO(data), str(self.who.key_id), body.currency),
            self._reconciliation, target=lambda a: isinstance(a, Reconciliation), refer=lambda r: [r.id],
        )

    def fetch_statement(self, body: models.FetchIn, key: str) -> Reconciliation:
        """The channel's statement from its gateway, imported as if uploaded; a retry answers with
        the first import, whatever the channel's file says by then."""
        return self.ledger.idempotent(
            self._key(key), "fetch-statement", ids.fingerprint(**body.model_dump(mode="json")),
            lambda: self.services.reconciler.fetch(body.channel, body.date, str(self.who.key_id), body.currency),
            self._reconciliation, target=lambda a: isinstance(a, Reconciliation), refer=lambda r: [r.id],
        )

    def resolve(self, reconciliation_id: UUID, seq: int, body: models.ResolveIn, key: str) -> Reconciliation:
        self.ledger.get_reconciliation(reconciliation_id)
        return submit(self, ResolveDifference(reconciliation_id, seq, body.action, body.reason, self._key(key), self.by))

    def close_reconciliation(self, reconciliation_id: UUID, key: str) -> Reconciliation:
        return self.ledger.idempotent(
            self._key(key), "close-reconciliation", ids.fingerprint(reconciliation_id=reconciliation_id),
            lambda: self.services.reconciler.close(reconciliation_id, str(self.who.key_id)),
            self._reconciliation, target=lambda a: a.id == reconciliation_id, refer=lambda r: [r.id],
        )

    def resolution(self, reconciliation: Reconciliation, seq: int) -> dict[str, Any] | None:
        """The resolution of difference `seq`, each transfer it posted with its postings."""
        done = reconciliation.resolutions.get(str(seq))
        if done is None:
            return None
        transfers = [self.ledger.get_transfer(UUID(str(t))) for t in done["transfer_ids"]]
        return {"seq": seq, "action": done["action"], "by": done["by"], "reason": done["reason"],
                "waited": done.get("waited"),
                "transfers": [{"id": t.id, "kind": t.kind, "currency": t.currency, "amount": t.amount,
                               "postings": t.postings, "memo": t.memo} for t in transfers]}

    def overdue(self, reconciliation: Reconciliation, min_position: int | None = None) -> list[dict[str, Any]]:
        self.services.wait_for(min_position)
        return self.services.reconciler.overdue(reconciliation.channel, reconciliation.currency)

    def reconciliations(self, *, channel: str | None, currency: str | None, status: str | None, start: Any, end: Any,
                        limit: int, cursor: str | None, min_position: int | None) -> dict[str, Any]:
        self.services.wait_for(min_position)
        after = None
        if cursor is not None:
            day, last = decode_cursor(cursor, 2)
            after = (day, last)
        items = reconciliation_list(self.views, channel=channel, currency=currency, status=status, start=start,
                                    end=end, after=after, limit=limit + 1)
        following = encode_cursor(items[limit - 1]["day"], items[limit - 1]["id"]) if len(items) > limit else None
        return {"items": items[:limit], "next_cursor": following}

    @staticmethod
    def _reconciliation(states: list[tuple[Any, int | None]]) -> Reconciliation:
        return states[0][0]
