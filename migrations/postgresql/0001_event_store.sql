-- The event store, exactly as eventsourcing 9.5's PostgreSQL recorders expect it
-- (the application runs them with CREATE_TABLE=n: these migrations own the schema,
-- including the composite type the recorders insert through). The recorders name
-- their tables after the application: fundcenter_events, fundcenter_snapshots.
CREATE TYPE stored_event_uuid AS (
    originator_id uuid,
    originator_version bigint,
    topic text,
    state bytea
);

CREATE TABLE fundcenter_events (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    notification_id bigserial,
    PRIMARY KEY (originator_id, originator_version)
) WITH (
    autovacuum_enabled = true,
    autovacuum_vacuum_threshold = 100000000,
    autovacuum_vacuum_scale_factor = 0.5,
    autovacuum_analyze_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.01
);

CREATE UNIQUE INDEX fundcenter_events_notification_id_idx ON fundcenter_events (notification_id ASC);

CREATE TABLE fundcenter_snapshots (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    PRIMARY KEY (originator_id, originator_version)
);
