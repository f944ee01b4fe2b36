-- One round trip per save (ledger/recorders.py): the event store's insert as one
-- function, doing exactly what eventsourcing 9.5's PostgreSQL recorder does in its
-- pipeline, in the same order: lock the events table (EXCLUSIVE: inserts are
-- serialised, so notification ids commit in the order they are given and a reader
-- of the log never passes a gap that fills later), NOTIFY the channel the
-- projection runner LISTENs on (delivered at commit), insert the events, return
-- their notification ids. Called as one statement in autocommit, so the lock is
-- held for the function and its commit only, never across the client's round
-- trips. The tables and the composite type are 0001's; `search_path` is the one
-- this migration ran with, so the function works in the schema it was made in.
CREATE FUNCTION fundcenter_insert_events(events stored_event_uuid[], lock_timeout_s integer)
RETURNS SETOF bigint
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    PERFORM set_config('lock_timeout', lock_timeout_s || 's', true);
    LOCK TABLE fundcenter_events IN EXCLUSIVE MODE;
    NOTIFY fundcenter_events;
    RETURN QUERY
        INSERT INTO fundcenter_events (originator_id, originator_version, topic, state)
        SELECT e.originator_id, e.originator_version, e.topic, e.state FROM unnest(events) AS e
        RETURNING notification_id;
END;
$$;
