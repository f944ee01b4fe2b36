-- projections/api_keys.py: the keys that exist, their roles, whether revoked.
-- Never the secret, nor its hash.
CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    business_id TEXT,
    created_by TEXT NOT NULL,
    revoked_by TEXT,
    created_at TEXT NOT NULL
);
