-- 0019's insert function, given the links as well: the same events, chain, ids, lock and
-- NOTIFY, with the links hashed by the caller when the caller knows where the chain ends.
--
-- `links` are the caller's links for these events, 32 bytes each, in the events' order,
-- computed (ledger/audit/chain.py's `link`) from its own last link at `links_after` as if
-- the events take the positions after it: its previous insert's last link, as 0019's
-- `after_position` and `after_hash`. The function stores them, in the statement that inserts
-- the events, when the events do take those positions: under the events table's lock the
-- sequence's last value is `links_after` (no id taken since: no other writer's insert, none
-- rolled back), and the statement checks that the event at row k took `links_after + k`
-- (else it fails: nothing written). Any other case (no links, another writer came between,
-- a restart) chains on the server from the table's last link, as 0019 does, and returns the
-- links it made. As with 0019's pair, a caller's wrong links are not checked here:
-- `fundcenter audit verify` recomputes every link from the events (ledger/audit/verify.py).
--
-- Why: hashing on the server costs it one OpenSSL digest set-up per event, PL/pgSQL's loop
-- and expressions set up again in every transaction, and a second statement to store the
-- links; here the insert is one statement for the events and their links (README, "Audit").
--
-- Returns each inserted event's id, with its link when the server made it (NULL when the
-- caller's links were stored). A new name rather than another overload of 0019's
-- `fundcenter_insert_events`: a process running the code before this calls that one with two
-- untyped NULLs at first, which two overloads of four arguments would make ambiguous. 0019's
-- and 0018's functions stay, for such processes.
CREATE OR REPLACE FUNCTION fundcenter_chain_out_of_order(got bigint, expected bigint)
RETURNS bytea
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'fundcenter_insert_events_with_links: notification id % where % was expected', got, expected;
END;
$$;

CREATE OR REPLACE FUNCTION fundcenter_insert_events_with_links(
    events stored_event_uuid[], lock_timeout_s integer, links bytea, links_after bigint
)
RETURNS TABLE (inserted_id bigint, chain_hash bytea)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    -- the server's way only (no defaults: each would be evaluated on every call)
    previous bytea;
    e record;
    last_id bigint;
    ids bigint[];
    hashes bytea[];
BEGIN
    PERFORM set_config('lock_timeout', lock_timeout_s || 's', true);
    LOCK TABLE fundcenter_events IN EXCLUSIVE MODE;
    NOTIFY fundcenter_events;
    IF pg_sequence_last_value('fundcenter_events_notification_id_seq'::regclass) = links_after
       AND octet_length(links) = 32 * cardinality(events) THEN
        RETURN QUERY
            WITH inserted AS (
                INSERT INTO fundcenter_events (originator_id, originator_version, topic, state)
                SELECT u.originator_id, u.originator_version, u.topic, u.state FROM unnest(events) AS u
                RETURNING notification_id
            ), numbered AS (
                SELECT i.notification_id AS id, row_number() OVER () AS k FROM inserted i
            )
            INSERT INTO event_chain AS c (position, hash)
            SELECT n.id, CASE WHEN n.id = links_after + n.k THEN substr(links, n.k::integer * 32 - 31, 32)
                              ELSE fundcenter_chain_out_of_order(n.id, links_after + n.k) END
            FROM numbered n
            RETURNING c.position, NULL::bytea;
        RETURN;
    END IF;
    -- The server's way (0019's, from the table's last link).
    last_id := 0;
    ids := '{}';
    hashes := '{}';
    SELECT c.hash INTO previous FROM event_chain c ORDER BY c.position DESC LIMIT 1;
    previous := coalesce(previous, decode(repeat('00', 32), 'hex'));
    FOR e IN
        INSERT INTO fundcenter_events AS f (originator_id, originator_version, topic, state)
        SELECT u.originator_id, u.originator_version, u.topic, u.state FROM unnest(events) AS u
        RETURNING f.notification_id AS id,
            int8send(f.notification_id) || uuid_send(f.originator_id) || int8send(f.originator_version)
            || int4send(octet_length(convert_to(f.topic, 'UTF8'))) || convert_to(f.topic, 'UTF8')
            || int8send(octet_length(f.state)::bigint) || f.state AS body
    LOOP
        IF e.id <= last_id THEN
            RAISE EXCEPTION 'fundcenter_insert_events_with_links: notification ids out of order (% after %)', e.id, last_id;
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
