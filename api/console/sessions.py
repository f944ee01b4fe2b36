"""The console's sessions, kept in this process's memory: a random id (the cookie) -> who logged in.

The cookie holds only the session id, never the API key. A session remembers the key's
id, role and business as they were at login and expires after `IDLE_MAX_S` without use
or `LIFETIME_MAX_S` after login, whichever comes first. Each has its own CSRF token.
Sessions live in the `serve` process that made them: a restart logs everyone out, and
with `serve --workers N` a browser must reach the same worker (sticky sessions) or it
is asked to log in again.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from ledger.domain.access import Principal

IDLE_MAX_S = 30 * 60
LIFETIME_MAX_S = 12 * 60 * 60
SESSIONS_MAX = 10_000  # past it, the oldest session is dropped
FLASHES_MAX = 5


@dataclass
class Session:
    id: str
    csrf_token: str
    created_s: float
    used_s: float
    who: Principal | None = None  # None: not logged in yet (the login form's own CSRF token)
    key_name: str = ""
    flashes: list[tuple[str, str]] = field(default_factory=list)  # (level, message), shown once

    def flash(self, level: str, message: str) -> None:
        self.flashes = [*self.flashes, (level, message)][-FLASHES_MAX:]

    def take_flashes(self) -> list[tuple[str, str]]:
        taken, self.flashes = self.flashes, []
        return taken

    def csrf_matches(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(self.csrf_token.encode(), token.encode())


class SessionStore:
    """Sessions by id; thread-safe (FastAPI runs the console's pages in its thread pool)."""

    def __init__(self, now_s: Callable[[], float] = time.monotonic) -> None:
        self._now = now_s
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def start(self, who: Principal | None = None, key_name: str = "") -> Session:
        now = self._now()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now, who, key_name)
        with self._lock:
            if len(self._sessions) >= SESSIONS_MAX:  # drop the oldest not logged in, else the oldest
                oldest = next((sid for sid, s in self._sessions.items() if s.who is None), next(iter(self._sessions)))
                del self._sessions[oldest]
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        now = self._now()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.used_s > IDLE_MAX_S or now - session.created_s > LIFETIME_MAX_S:
                del self._sessions[session_id]
                return None
            session.used_s = now
            return session

    def end(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def end_key(self, key_id: UUID) -> None:
        """Log out every session of a key (revoked, or given another role)."""
        with self._lock:
            for sid in [sid for sid, s in self._sessions.items() if s.who is not None and s.who.key_id == key_id]:
                del self._sessions[sid]
