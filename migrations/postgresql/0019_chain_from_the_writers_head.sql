-- 0018's insert function, told where the chain ended after this writer's last insert: the
-- same events, links, ids, lock and NOTIFY, without reading the chain's last link when the
-- first id this insert takes follows that position.
--
-- `after_position` and `after_hash` are the last link the caller's own previous insert
-- returned (committed: the call is its own transaction), or NULL. Ids come from the events'
-- sequence one row after another while this transaction holds the events table's lock, so
-- an insert whose first id is `after_position + 1` has no event between it and that link:
-- no other writer's (theirs would have taken that id), none rolled back (its id would be
-- gone from the sequence). Any other first id (another writer, another process, a rolled
-- back insert, a restart) reads the last link from event_chain, as 0018 does. A caller's
-- wrong pair cannot make a wrong chain silently: `fundcenter audit verify` recomputes every
-- link from the events (ledger/audit/verify.py), as for any other writer.
--
-- Returns each inserted event's id with its link, so that the caller knows the chain's end.
-- 0018's two-argument function stays, for a process still running the code before this.
CREATE OR REPLACE FUNCTION fundcenter_insert_events(
    events stored_event_uuid[], lock_timeout_s integer, after_position bigint, after_hash bytea
)
RETURNS TABLE (inserted_id bigint, chain_hash bytea)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    previous bytea := after_hash;
    e record;
    last_id bigint := 0;
    ids bigint[] := '{}';
    hashes bytea[] := '{}';
BEGIN
    PERFORM set_config('lock_timeout', lock_timeout_s || 's', true);
    LOCK TABLE fundcenter_events IN EXCLUSIVE MODE;
    NOTIFY fundcenter_events;
    FOR e IN
        INSERT INTO fundcenter_events AS f (originator_id, originator_version, topic, state)
        SELECT u.originator_id, u.originator_version, u.topic, u.state FROM unnest(events) AS u
        RETURNING f.notification_id AS id,
            int8send(f.notification_id) || uuid_send(f.originator_id) || int8send(f.originator_version)
            || int4send(octet_length(convert_to(f.topic, 'UTF8'))) || convert_to(f.topic, 'UTF8')
            || int8send(octet_length(f.state)::bigint) || f.state AS body
    LOOP
        IF last_id = 0 THEN
            IF previous IS NULL OR after_position IS NULL OR e.id <> after_position + 1 THEN
                SELECT c.hash INTO previous FROM event_chain c ORDER BY c.position DESC LIMIT 1;
                previous := coalesce(previous, decode(repeat('00', 32), 'hex'));
            END IF;
        ELSIF e.id <= last_id THEN
            RAISE EXCEPTION 'fundcenter_insert_events: notification ids out of order (% after %)', e.id, last_id;
        END IF;
        last_id := e.id;
        previous := sha256(previous || e.body);
        ids := ids || last_id;
        hashes := hashes || previous;
        inserted_id := last_id;
        chain_hash := previous;
        RETURN NEXT;
    END LOOP;
    INSERT INTO event_chain (position, hash) SELECT * FROM unnest(ids, hashes);
END;
$$;
