-- api/console/sessions.py: the console's sessions, in the database so that every `serve` worker
-- (and every process on the database) honours them. `id` is the SHA-256 (hex) of the session id
-- the cookie holds: the id itself is never stored. `key_id` NULL: not logged in yet (a login
-- form's own CSRF token). Instants are the views' fixed-width UTC text; a row past `expires_at`
-- (by the ledger's clock) is an ended session. `flashes`: the messages shown once (JSON).
CREATE TABLE console_sessions (
    id TEXT PRIMARY KEY,
    key_id TEXT,
    role TEXT,
    business_id TEXT,
    key_name TEXT NOT NULL,
    csrf TEXT NOT NULL,
    flashes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX console_sessions_key ON console_sessions (key_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
