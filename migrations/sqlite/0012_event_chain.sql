-- The hash chain over the event log (ledger/audit/chain.py says what a link is; the
-- PostgreSQL version of this migration says what each table holds). On SQLite the
-- recorder computes the links in Python, inside the insert's transaction
-- (ledger/recorders.py). Old logs: after these statements, in the same transaction,
-- ledger/store.py backfills the chain for every event already stored, in position
-- (rowid) order, and seals the snapshots already taken (ledger/audit/chain_store.py).
CREATE TABLE event_chain (
    position INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);

CREATE TABLE snapshot_seals (
    originator_id TEXT NOT NULL,
    originator_version INTEGER NOT NULL,
    position INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (originator_id, originator_version)
) WITHOUT ROWID;

CREATE TABLE chain_checkpoints (
    position INTEGER PRIMARY KEY,
    hash BLOB NOT NULL,
    verified_at TEXT NOT NULL
);
