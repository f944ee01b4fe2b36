"""API keys: who holds a key, with what role, and whether it is revoked.

Table `api_keys`. Never the secret, nor its hash: those stay in the ApiKey aggregate.
"""

from __future__ import annotations

from typing import Any

from ledger.domain.access import ApiKey

from .common import Batch, Collects, check_limit, decode_cursor, dispatchmethod, encode_cursor, iso


class ApiKeysView(Collects):
    name = "api_keys"
    tables = {"api_keys": "key_id"}

    def write(self, cur: Any, batch: Batch) -> None:
        for _, event in batch:
            self.collect(event, cur)

    @dispatchmethod
    def collect(self, event: Any, cur: Any) -> None:
        """Other events are not about keys."""

    @collect.register
    def _(self, event: ApiKey.Created, cur: Any) -> None:
        cur.execute(
            "INSERT INTO api_keys (key_id, name, role, business_id, created_by, revoked_by, created_at)"
            " VALUES (?, ?, ?, ?, ?, NULL, ?)",
            (str(event.originator_id), event.name, event.role, event.business_id, event.created_by, iso(event.timestamp)),
        )

    @collect.register
    def _(self, event: ApiKey.Revoked, cur: Any) -> None:
        cur.execute("UPDATE api_keys SET revoked_by = ? WHERE key_id = ?", (event.by, str(event.originator_id)))

    @collect.register
    def _(self, event: ApiKey.RoleGranted, cur: Any) -> None:
        cur.execute(
            "UPDATE api_keys SET role = ?, business_id = ? WHERE key_id = ?",
            (event.role, event.business_id, str(event.originator_id)),
        )


def list_api_keys(store: Any, *, limit: int = 100, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    check_limit(limit)
    sql, params = "SELECT * FROM api_keys", []
    if cursor is not None:
        created_at, key_id = decode_cursor(cursor, 2)
        sql += " WHERE (created_at > ? OR (created_at = ? AND key_id > ?))"
        params += [created_at, created_at, key_id]
    rows = store.query(sql + " ORDER BY created_at, key_id LIMIT ?", (*params, limit + 1))
    following = encode_cursor(rows[limit - 1]["created_at"], rows[limit - 1]["key_id"]) if len(rows) > limit else None
    return rows[:limit], following
