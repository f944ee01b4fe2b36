"""The chain's share of one insert, on the server alone, by where the links are stored.

    python bench/chain_insert.py [--calls N] [--reps R] [--events K] [--pg-url URL] [--json]

Why a table of the chain's own costs a one-by-one transfer more than the 5% issue 15 allows, and
links in a column of the events table do not (bench/audit_verify.py's part 4 measures the
transfers). Each layout gets a database of its own whose insert function
(`fundcenter_insert_events_with_links`, 0021's signature) stores the events and their links its way;
the function is then called `--calls` times in a loop on the server itself (a `DO` block: no
client, no round trip, no commit), each call with `--events` events of a real transfer's size
(fresh ids every call) and the writer's links, in place, as the recorder sends them. The figure is
the server's time per call, the best of `--reps` repetitions taken in turns.

Layouts (all but the first store the same links; only the second is the ledger's):
- `none`: no chain (0009's insert, as the bench's other ledgers without the chain);
- `table`: the shipped one (migration 0021): the links into `event_chain`, a row per event,
  each row's position checked in the same statement;
- `column`: each link in a column of the events row, by the events' own `INSERT`
  (bench/audit_verify.py's `LINKS_COLUMN_0021`);
- `one row`: a second table with one row per insert holding all of its links;
- `bare second table`: the events' ids and the first link into `event_chain`, unchecked:
  the least any second table can cost;
- `WITH alone`: 0021's statement shape (the events' insert in a `WITH`) and no second table.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import psycopg
from audit_verify import LINKS_COLUMN_0021, LINKS_IN_PLACE, NO_CHAIN_0021, sample_events, variant_of_0021
from common import fresh_database, machine, postgres, settings

from ledger import FundCenter


def writers_way_only(statement: str) -> str:
    """0021's function storing the writer's links by `statement` (a query answering (id, NULL) rows),
    and refusing an insert without them in place: the loop below always gives them."""
    return variant_of_0021(f"""    IF {LINKS_IN_PLACE} THEN
        RETURN QUERY{statement}
        RETURN;
    END IF;
    RAISE EXCEPTION 'bench/chain_insert.py: this layout has the writer''s way only';""")


_EVENTS_INSERTED = """
            WITH inserted AS (
                INSERT INTO fundcenter_events (originator_id, originator_version, topic, state)
                SELECT u.originator_id, u.originator_version, u.topic, u.state FROM unnest(events) AS u
                RETURNING notification_id
            )"""

LAYOUTS = {
    "none": NO_CHAIN_0021,
    "table": None,  # the migrated database's own function
    "column": LINKS_COLUMN_0021,
    "one row": "CREATE TABLE chain_inserts (first_position bigint PRIMARY KEY, links bytea NOT NULL);"
    + writers_way_only(_EVENTS_INSERTED + """, packed AS (
                INSERT INTO chain_inserts AS c (first_position, links)
                SELECT CASE WHEN min(i.notification_id) = links_after + 1
                             AND max(i.notification_id) = links_after + cardinality(events) THEN links_after + 1 END,
                       links
                FROM inserted i
                RETURNING c.first_position
            )
            SELECT g, NULL::bytea FROM packed p, generate_series(p.first_position, p.first_position + cardinality(events) - 1) g;"""),
    "bare second table": writers_way_only(_EVENTS_INSERTED + """
            INSERT INTO event_chain AS c (position, hash) SELECT i.notification_id, substr(links, 1, 32) FROM inserted i
            RETURNING c.position, NULL::bytea;"""),
    "WITH alone": writers_way_only(_EVENTS_INSERTED + """
            SELECT i.notification_id, NULL::bytea FROM inserted i;"""),
}

# `calls` inserts of `events` events, each with fresh ids, the state of a real account event and the
# writer's links (their bytes do not matter here: 32 an event), after the sequence's last value.
_LOOP = """
DO $$
DECLARE
    a stored_event_uuid[];
    links bytea := decode(repeat('ab', 32 * {events}), 'hex');
BEGIN
    SELECT array_agg(ROW(gen_random_uuid(), 1, 'bench:Event', decode('{state}', 'hex'))::stored_event_uuid)
    INTO a FROM generate_series(1, {events});
    FOR i IN 1..{calls} LOOP
        FOR k IN 1..{events} LOOP
            a[k].originator_id := gen_random_uuid();
        END LOOP;
        PERFORM count(*) FROM fundcenter_insert_events_with_links(
            a, 5, links, pg_sequence_last_value('fundcenter_events_notification_id_seq'::regclass));
    END LOOP;
END
$$"""


def layout_database(server: Any, pg_url: str | None, sql: str | None) -> str:
    url = fresh_database(server, pg_url)
    FundCenter(url).close()  # migrated
    with psycopg.connect(url, autocommit=True) as conn:
        if sql is not None:
            conn.execute(sql)
        # A sequence never used has no last value, which the writer's way needs: one id taken (a gap, as a
        # rolled-back insert leaves).
        conn.execute("SELECT nextval('fundcenter_events_notification_id_seq')")
    return url


def per_call_us(url: str, state: bytes, calls: int, events: int) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_LOOP.format(calls=50, events=events, state=state.hex()))  # warm: the function's plans
        loop = _LOOP.format(calls=calls, events=events, state=state.hex())
        started = time.perf_counter()
        conn.execute(loop)
        return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="inserts a repetition, per layout")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--events", type=int, default=3, help="events an insert (a one-by-one transfer saves 3)")
    parser.add_argument("--pg-url", help="an existing server's database (default: start a throwaway one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with postgres(args.pg_url) as server:
        state = sample_events(fresh_database(server, args.pg_url))[-1][1]  # an account's event
        urls = {name: layout_database(server, args.pg_url, sql) for name, sql in LAYOUTS.items()}
        runs: dict[str, list[float]] = {name: [] for name in LAYOUTS}
        for rep in range(args.reps):
            names = list(LAYOUTS) if rep % 2 == 0 else list(reversed(LAYOUTS))
            for name in names:
                runs[name].append(per_call_us(urls[name], state, args.calls, args.events))
        server_settings = settings(urls["none"])
    best = {name: min(times) for name, times in runs.items()}
    result = {"events_per_insert": args.events, "calls": args.calls, "state_bytes": len(state),
              "us_per_insert": {n: round(t, 1) for n, t in best.items()},
              "runs": {n: [round(t, 1) for t in times] for n, times in runs.items()}, "server": server_settings,
              "machine": machine()}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{server_settings} {machine()}")
    print(f"  one insert of {args.events} events ({len(state)}-byte states) on the server, best of {args.reps} x {args.calls}:")
    for name, us in best.items():
        print(f"  {name:<24}{us:>8.1f} us   {us - best['none']:>+6.1f} us over no chain")


if __name__ == "__main__":
    main()
