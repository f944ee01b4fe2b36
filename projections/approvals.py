"""Approvals (four-eyes): every request for a second key's approval, to list by status and kind.

Table `approvals`, one row per Approval, ordered by the log position of its request. The
status is the events' (`pending`, `approved`, `executed`, `failed`, `rejected`, `expired`);
a pending approval past its expiry lists as `expired` before anything records it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.domain.approvals import Approval, ApprovalStatus

from .common import Batch, Collects, check_limit, cursor_int, decode_cursor, dispatchmethod, encode_cursor, iso

STATUSES = tuple(s.value for s in ApprovalStatus)


class ApprovalsView(Collects):
    name = "approvals"
    tables = {"approvals": "id"}

    def write(self, cur: Any, batch: Batch) -> None:
        for position, event in batch:
            self.collect(event, cur, position)

    @dispatchmethod
    def collect(self, event: Any, cur: Any, position: int) -> None:
        """Other events are not about approvals."""

    @collect.register
    def _(self, event: Approval.Requested, cur: Any, position: int) -> None:
        cur.execute(
            "INSERT INTO approvals (id, kind, status, requested_by, requested_at, expires_at, decided_by, position)"
            " VALUES (?, ?, 'pending', ?, ?, ?, NULL, ?)",
            (str(event.originator_id), event.kind, event.requested_by, iso(event.timestamp), iso(event.expires_at),
             position),
        )

    @collect.register
    def _(self, event: Approval.Approved, cur: Any, position: int) -> None:
        self._decided(cur, event, ApprovalStatus.APPROVED, event.by)

    @collect.register
    def _(self, event: Approval.Rejected, cur: Any, position: int) -> None:
        self._decided(cur, event, ApprovalStatus.REJECTED, event.by)

    @collect.register
    def _(self, event: Approval.Expired, cur: Any, position: int) -> None:
        self._decided(cur, event, ApprovalStatus.EXPIRED, None)

    @collect.register
    def _(self, event: Approval.Executed, cur: Any, position: int) -> None:
        status = ApprovalStatus.EXECUTED if event.problem is None else ApprovalStatus.FAILED
        cur.execute("UPDATE approvals SET status = ? WHERE id = ?", (status.value, str(event.originator_id)))

    @staticmethod
    def _decided(cur: Any, event: Any, status: ApprovalStatus, by: str | None) -> None:
        cur.execute("UPDATE approvals SET status = ?, decided_by = COALESCE(?, decided_by) WHERE id = ?",
                    (status.value, by, str(event.originator_id)))


def list_approvals(store: Any, *, now: datetime, status: str | None = None, kind: str | None = None, limit: int = 100,
                   cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Approvals in the order they were asked for, `status` as of `now`."""
    check_limit(limit)
    where: list[str] = []
    params: list[Any] = []
    moment = iso(now)
    if status == ApprovalStatus.PENDING:
        where.append("status = 'pending' AND expires_at > ?")
        params.append(moment)
    elif status == ApprovalStatus.EXPIRED:
        where.append("(status = 'expired' OR (status = 'pending' AND expires_at <= ?))")
        params.append(moment)
    elif status is not None:
        where.append("status = ?")
        params.append(status)
    if kind is not None:
        where.append("kind = ?")
        params.append(kind)
    if cursor is not None:
        where.append("position > ?")
        params.append(cursor_int(decode_cursor(cursor, 1)[0], cursor))
    sql = "SELECT * FROM approvals" + (" WHERE " + " AND ".join(where) if where else "")
    rows = store.query(sql + " ORDER BY position LIMIT ?", (*params, limit + 1))
    following = encode_cursor(rows[limit - 1]["position"]) if len(rows) > limit else None
    return rows[:limit], following
