-- projections/approvals.py: one row per four-eyes approval, to list them by status and kind.
-- `status` is what the events recorded; a `pending` row past `expires_at` lists as expired.
CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    decided_by TEXT,
    position BIGINT NOT NULL
);
CREATE INDEX approvals_status ON approvals (status, position);
