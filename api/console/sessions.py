"""The console's sessions, kept in the database: a random id (the cookie) -> who logged in.

The cookie holds only the session id, never the API key; the table `console_sessions`
(migration 0016) holds only the SHA-256 of that id, so reading the table gives no one a
session. A session remembers the key's id, role, business and name as they were at login,
its own CSRF token and the messages to show once, and expires after `IDLE_MAX_S` without
use or `LIFETIME_MAX_S` after login, whichever comes first, by the ledger's clock (the one
clock tests inject). Every process on the database sees the same sessions: with
`serve --workers N` any worker honours a session another made, and a restart logs no one out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from ledger.domain.access import Principal, Role
from ledger.domain.instants import iso
from projections.store import ViewStore

IDLE_MAX_S = 30 * 60
LIFETIME_MAX_S = 12 * 60 * 60
SESSIONS_MAX = 10_000  # past it, the oldest session not logged in is dropped (else the oldest)
FLASHES_MAX = 5
SESSION_ID_LENGTH_MAX = 100  # characters of a cookie's session id (ours are 43); longer is no session


def digest(session_id: str) -> str:
    """What the table keeps of a session id: its SHA-256, in hex."""
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass
class Session:
    id: str  # the cookie's value; only `digest(id)` is stored
    csrf_token: str
    created_at: datetime
    last_seen: datetime
    who: Principal | None = None  # None: not logged in yet (the login form's own CSRF token)
    key_name: str = ""
    flashes: list[tuple[str, str]] = field(default_factory=list)  # (level, message), shown once
    store: SessionStore | None = field(default=None, repr=False, compare=False)

    def flash(self, level: str, message: str) -> None:
        self.flashes = [*self.flashes, (level, message)][-FLASHES_MAX:]
        self._save_flashes()

    def take_flashes(self) -> list[tuple[str, str]]:
        taken, self.flashes = self.flashes, []
        if taken:
            self._save_flashes()
        return taken

    def csrf_matches(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(self.csrf_token.encode(), token.encode())

    def _save_flashes(self) -> None:
        if self.store is not None:
            self.store.save_flashes(self)


class SessionStore:
    """Sessions by id, in the views' database (safe to share between threads and processes)."""

    def __init__(self, views: ViewStore, clock: Callable[[], datetime]) -> None:
        self._views, self._clock = views, clock

    def start(self, who: Principal | None = None, key_name: str = "") -> Session:
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now, who, key_name, store=self)
        with self._views.transaction() as cur:
            cur.execute("DELETE FROM console_sessions WHERE expires_at <= ?", (iso(now),))
            count = cur.execute("SELECT COUNT(*) AS n FROM console_sessions")[0]["n"]
            if count >= SESSIONS_MAX:  # the oldest not logged in first (key_id NULL sorts as false), then the oldest
                cur.execute("DELETE FROM console_sessions WHERE id IN (SELECT id FROM console_sessions"
                            " ORDER BY key_id IS NOT NULL, created_at LIMIT ?)", (count - SESSIONS_MAX + 1,))
            cur.execute(
                "INSERT INTO console_sessions (id, key_id, role, business_id, key_name, csrf, flashes, created_at,"
                " last_seen, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (digest(session.id), str(who.key_id) if who else None, who.role.value if who else None,
                 who.business_id if who else None, key_name, session.csrf_token, "[]", iso(now), iso(now),
                 iso(_expiry(now, now))),
            )
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The session, if it has not ended; its use now pushes its idle expiry on."""
        if not session_id or len(session_id) > SESSION_ID_LENGTH_MAX:
            return None
        now, hashed = self._clock(), digest(session_id)
        rows = self._views.query("SELECT * FROM console_sessions WHERE id = ?", (hashed,))
        if not rows:
            return None
        row = rows[0]
        if row["expires_at"] <= iso(now):
            self._delete("id", hashed)
            return None
        created = datetime.fromisoformat(row["created_at"])
        with self._views.transaction() as cur:
            cur.execute("UPDATE console_sessions SET last_seen = ?, expires_at = ? WHERE id = ?",
                        (iso(now), iso(_expiry(created, now)), hashed))
        return self._session(session_id, row, created, now)

    def end(self, session_id: str) -> None:
        self._delete("id", digest(session_id))

    def end_key(self, key_id: UUID) -> None:
        """Log out every session of a key (revoked, or given another role), in every process."""
        self._delete("key_id", str(key_id))

    def save_flashes(self, session: Session) -> None:
        with self._views.transaction() as cur:
            cur.execute("UPDATE console_sessions SET flashes = ? WHERE id = ?",
                        (json.dumps(session.flashes, ensure_ascii=False), digest(session.id)))

    def regrant(self, session: Session, who: Principal) -> None:
        """The session's key has another (staff) role now: it counts from this page on."""
        session.who = who
        with self._views.transaction() as cur:
            cur.execute("UPDATE console_sessions SET role = ?, business_id = ? WHERE id = ?",
                        (who.role.value, who.business_id, digest(session.id)))

    def _delete(self, column: str, value: str) -> None:
        assert column in ("id", "key_id"), column
        with self._views.transaction() as cur:
            cur.execute(f"DELETE FROM console_sessions WHERE {column} = ?", (value,))

    def _session(self, session_id: str, row: dict[str, Any], created: datetime, now: datetime) -> Session:
        who = None
        if row["key_id"] is not None:
            who = Principal(UUID(row["key_id"]), Role(row["role"]), row["business_id"])
        flashes = [(level, message) for level, message in json.loads(row["flashes"])]
        return Session(session_id, row["csrf"], created, now, who, row["key_name"], flashes, store=self)


def _expiry(created: datetime, now: datetime) -> datetime:
    """When a session used at `now` ends if not used again: idle for IDLE_MAX_S, or its lifetime over."""
    return min(created + timedelta(seconds=LIFETIME_MAX_S), now + timedelta(seconds=IDLE_MAX_S))
