-- The event store, exactly as eventsourcing 9.5's SQLite recorders expect it
-- (the application runs them with CREATE_TABLE=n: these migrations own the schema).
-- The rowid of stored_events is the notification id: the log position.
CREATE TABLE stored_events (
    originator_id TEXT,
    originator_version INTEGER,
    topic TEXT,
    state BLOB,
    PRIMARY KEY (originator_id, originator_version)
);

CREATE TABLE stored_snapshots (
    originator_id TEXT,
    originator_version INTEGER,
    topic TEXT,
    state BLOB,
    PRIMARY KEY (originator_id, originator_version)
) WITHOUT ROWID;
