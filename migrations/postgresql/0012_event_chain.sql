-- The hash chain over the event log (ledger/audit/chain.py says what a link is).
--
-- event_chain: one row per stored event, at its log position (notification id), with
-- the chain's link there. Written in the same transaction as the event, under the
-- events table's lock: by `fundcenter_insert_events` below (the one-trip insert, now
-- chaining what it inserts) or, on the library's own insert path, by the recorder calling
-- `fundcenter_chain_events` after its insert (ledger/recorders.py).
-- snapshot_seals: one row per snapshot, tying it to the chain at the log position of
-- the aggregate's event at the snapshot's version; written with the snapshot.
-- chain_checkpoints: positions up to which `fundcenter audit verify` found the chain
-- whole, with the link there: `--from` resumes only after one of them.
--
-- Old logs: this migration backfills the chain (and the seals of existing snapshots)
-- for every event already stored, in position order, holding the events table's lock
-- so that no insert slips between the backfill and the new insert function.
LOCK TABLE fundcenter_events IN EXCLUSIVE MODE;

CREATE TABLE event_chain (
    position bigint PRIMARY KEY,
    hash bytea NOT NULL
);

CREATE TABLE snapshot_seals (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    position bigint NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (originator_id, originator_version)
);

CREATE TABLE chain_checkpoints (
    position bigint PRIMARY KEY,
    hash bytea NOT NULL,
    verified_at text NOT NULL
);

-- ledger/audit/chain.py's `link`, byte for byte.
CREATE OR REPLACE FUNCTION fundcenter_chain_link(
    previous bytea, at_position bigint, id uuid, version bigint, topic text, state bytea
) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT sha256(
        previous || int8send(at_position) || uuid_send(id) || int8send(version)
        || int4send(octet_length(convert_to(topic, 'UTF8'))) || convert_to(topic, 'UTF8')
        || int8send(octet_length(state)::bigint) || state
    )
$$;

-- Chain the events at these positions (just inserted, in this transaction, under the
-- events table's lock), after the chain's last link.
CREATE OR REPLACE FUNCTION fundcenter_chain_events(ids bigint[])
RETURNS void
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    previous bytea;
    e record;
BEGIN
    SELECT c.hash INTO previous FROM event_chain c ORDER BY c.position DESC LIMIT 1;
    previous := coalesce(previous, decode(repeat('00', 32), 'hex'));
    FOR e IN
        SELECT notification_id, originator_id, originator_version, topic, state
        FROM fundcenter_events WHERE notification_id = ANY(ids) ORDER BY notification_id
    LOOP
        previous := sha256(
            previous || int8send(e.notification_id) || uuid_send(e.originator_id) || int8send(e.originator_version)
            || int4send(octet_length(convert_to(e.topic, 'UTF8'))) || convert_to(e.topic, 'UTF8')
            || int8send(octet_length(e.state)::bigint) || e.state
        );
        INSERT INTO event_chain (position, hash) VALUES (e.notification_id, previous);
    END LOOP;
END;
$$;

-- 0009's one-trip insert, now chaining the events it inserts, from the rows its INSERT
-- returns, in the same transaction. (The link is spelt out here and in the loops below rather
-- than called as fundcenter_chain_link: a function call per event made a save of three
-- events half again as slow; tests/test_audit_chain.py checks every spelling against
-- ledger/audit/chain.py.)
CREATE OR REPLACE FUNCTION fundcenter_insert_events(events stored_event_uuid[], lock_timeout_s integer)
RETURNS SETOF bigint
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    previous bytea;
    e record;
    ids bigint[] := '{}';
    hashes bytea[] := '{}';
BEGIN
    PERFORM set_config('lock_timeout', lock_timeout_s || 's', true);
    LOCK TABLE fundcenter_events IN EXCLUSIVE MODE;
    NOTIFY fundcenter_events;
    SELECT c.hash INTO previous FROM event_chain c ORDER BY c.position DESC LIMIT 1;
    previous := coalesce(previous, decode(repeat('00', 32), 'hex'));
    FOR e IN
        WITH inserted AS (
            INSERT INTO fundcenter_events (originator_id, originator_version, topic, state)
            SELECT u.originator_id, u.originator_version, u.topic, u.state FROM unnest(events) AS u
            RETURNING notification_id, originator_id, originator_version, topic, state
        )
        SELECT * FROM inserted ORDER BY notification_id
    LOOP
        previous := sha256(
            previous || int8send(e.notification_id) || uuid_send(e.originator_id) || int8send(e.originator_version)
            || int4send(octet_length(convert_to(e.topic, 'UTF8'))) || convert_to(e.topic, 'UTF8')
            || int8send(octet_length(e.state)::bigint) || e.state
        );
        ids := ids || e.notification_id;
        hashes := hashes || previous;
    END LOOP;
    INSERT INTO event_chain (position, hash) SELECT * FROM unnest(ids, hashes);
    RETURN QUERY SELECT unnest(ids);
END;
$$;

-- Seal these snapshots (just inserted, in this transaction) to the chain.
CREATE OR REPLACE FUNCTION fundcenter_seal_snapshots(ids uuid[], versions bigint[])
RETURNS void
LANGUAGE sql
SET search_path FROM CURRENT
AS $$
    INSERT INTO snapshot_seals (originator_id, originator_version, position, hash)
    SELECT s.originator_id, s.originator_version, e.notification_id,
           fundcenter_chain_link(c.hash, e.notification_id, s.originator_id, s.originator_version, s.topic, s.state)
    FROM unnest(ids, versions) AS k(originator_id, originator_version)
    JOIN fundcenter_snapshots s USING (originator_id, originator_version)
    JOIN fundcenter_events e USING (originator_id, originator_version)
    JOIN event_chain c ON c.position = e.notification_id
$$;

-- The backfill of an older log.
DO $$
DECLARE
    previous bytea := decode(repeat('00', 32), 'hex');
    e record;
BEGIN
    FOR e IN
        SELECT notification_id, originator_id, originator_version, topic, state
        FROM fundcenter_events ORDER BY notification_id
    LOOP
        previous := sha256(
            previous || int8send(e.notification_id) || uuid_send(e.originator_id) || int8send(e.originator_version)
            || int4send(octet_length(convert_to(e.topic, 'UTF8'))) || convert_to(e.topic, 'UTF8')
            || int8send(octet_length(e.state)::bigint) || e.state
        );
        INSERT INTO event_chain (position, hash) VALUES (e.notification_id, previous);
    END LOOP;
END;
$$;
SELECT fundcenter_seal_snapshots(
    array(SELECT originator_id FROM fundcenter_snapshots ORDER BY originator_id, originator_version),
    array(SELECT originator_version FROM fundcenter_snapshots ORDER BY originator_id, originator_version)
);
