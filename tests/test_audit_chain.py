"""The hash chain over the event log (ledger/audit/) and `fundcenter audit verify`, on both stores:
every event chained in its own insert's transaction, snapshots sealed, and each kind of tampering
found and named by its log position."""

import threading
import uuid
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from ledger import FundCenter
from ledger.audit.chain import GENESIS, link, links_after, seal
from ledger.audit.chain_store import LOG_TABLES, chain_hash_at
from ledger.clock import SteppingClock
from ledger.store import Database, migrate
from tests.config import BUSINESS_HOURS, DROP_INSERT_FUNCTIONS


@pytest.fixture
def ledger(store_url):
    fc = FundCenter(store_url, clock=SteppingClock(BUSINESS_HOURS()))
    yield fc
    fc.close()


def open_member(fc, ref):
    return fc.open_account("member", "mall", ref, "CNY", name=ref)


def some_business(fc, transfers=5):
    """Two members, one funded, `transfers` transfers between them: returns their ids."""
    a, b = open_member(fc, "alice"), open_member(fc, "bob")
    fc.adjust(a.id, 1_000_000, "CNY", "credit", "opening balance", "fund-alice")
    for i in range(transfers):
        fc.transfer(a.id, b.id, 100 + i, "CNY", idempotency_key=f"t-{i}")
    return a.id, b.id


def log_rows(url):
    """(position, originator id, version, topic, state, chain hash or None) of every event, in order."""
    db = Database.from_url(url)
    t = LOG_TABLES[db.kind]
    with db.connect() as conn:
        rows = conn.execute(
            f"SELECT e.{t.position}, e.originator_id, e.originator_version, e.topic, e.state, c.hash"
            f" FROM {t.events} e LEFT JOIN event_chain c ON c.position = e.{t.position} ORDER BY 1"
        ).fetchall()
    return [(p, i if isinstance(i, UUID) else UUID(i), v, topic, bytes(s), h and bytes(h)) for p, i, v, topic, s, h in rows]


def sql(url, statement, params=()):
    """Run one statement on the store (`?` placeholders on both); its rows, if any."""
    db = Database.from_url(url)
    with db.connect() as conn:
        cursor = conn.execute(statement.replace("?", "%s") if db.kind == "postgresql" else statement, params)
        return cursor.fetchall() if cursor.description else []


# -- the link -------------------------------------------------------------------------------------


def test_a_link_is_sha256_over_a_length_prefixed_encoding():
    oid = UUID(int=1)
    first = link(GENESIS, 1, oid, 1, "a:B", b"{}")
    assert len(first) == 32 and first != GENESIS == bytes(32)
    # every field counts, and moving bytes between topic and state changes the link
    assert len({first, link(GENESIS, 2, oid, 1, "a:B", b"{}"), link(GENESIS, 1, UUID(int=2), 1, "a:B", b"{}"),
                link(GENESIS, 1, oid, 2, "a:B", b"{}"), link(GENESIS, 1, oid, 1, "a:B{", b"}"),
                link(first, 1, oid, 1, "a:B", b"{}")}) == 6


def test_postgresqls_link_is_the_same_function(pg_url):
    migrate(Database.from_url(pg_url))
    oid = uuid.uuid4()
    for previous, position, version, topic, state in [(GENESIS, 1, 1, "a:B", b"{}"), (bytes(range(32)), 2**40, 7, "é:ü", bytes(1000))]:
        [row] = sql(pg_url, "SELECT fundcenter_chain_link(?, ?, ?, ?, ?, ?)", (previous, position, oid, version, topic, state))
        assert bytes(row[0]) == link(previous, position, oid, version, topic, state)


# -- the write path -------------------------------------------------------------------------------


def test_every_event_is_chained_in_log_order(ledger):
    some_business(ledger)
    rows = log_rows(ledger.database.url)
    previous = GENESIS
    for position, oid, version, topic, state, chained in rows:
        previous = link(previous, position, oid, version, topic, state)
        assert chained == previous, position
    assert len(rows) == ledger.head() > 10
    assert chain_hash_at(ledger.recorder, ledger.head()) == previous == chain_hash_at(ledger, ledger.head() + 0)
    assert chain_hash_at(ledger.recorder, 0) == GENESIS
    assert chain_hash_at(ledger.recorder, rows[3][0]) == link_of(rows, 3)
    assert chain_hash_at(ledger.recorder, ledger.head() + 1) is None  # not reached yet


def link_of(rows, index):
    previous = GENESIS
    for position, oid, version, topic, state, _ in rows[: index + 1]:
        previous = link(previous, position, oid, version, topic, state)
    return previous


def test_a_failed_insert_leaves_neither_event_nor_link(ledger):
    a = uuid.uuid4()
    ledger.recorder.insert_events([StoredEvent(a, 1, "test:Event", b"{}")])
    before = log_rows(ledger.database.url)
    with pytest.raises(IntegrityError):
        ledger.recorder.insert_events([StoredEvent(uuid.uuid4(), 1, "test:Event", b"{}"), StoredEvent(a, 1, "test:Event", b"{}")])
    assert log_rows(ledger.database.url) == before
    ledger.recorder.insert_events([StoredEvent(a, 2, "test:Event", b"{}")])
    after = log_rows(ledger.database.url)
    assert len(after) == len(before) + 1 and after[-1][-1] == link(before[-1][-1], after[-1][0], a, 2, "test:Event", b"{}")


def test_a_writer_chains_from_its_own_last_link_and_from_the_table_when_another_writer_came_between(pg_url):
    first = FundCenter(pg_url, clock=SteppingClock(BUSINESS_HOURS()))
    second = FundCenter(pg_url, clock=SteppingClock(BUSINESS_HOURS()))
    try:
        alice, bob = some_business(first, transfers=2)
        assert first.recorder.chain_end == (first.head(), log_rows(pg_url)[-1][-1])
        second.transfer(alice, bob, 5, "CNY", idempotency_key="between")  # first's end is now stale
        first.transfer(alice, bob, 6, "CNY", idempotency_key="after")
        rows = log_rows(pg_url)
        assert [r[-1] for r in rows] == [link_of(rows, i) for i in range(len(rows))]
        assert first.recorder.chain_end == (rows[-1][0], rows[-1][-1])
    finally:
        first.close()
        second.close()


def test_writers_inserting_at_once_leave_one_whole_chain(pg_url):
    ledgers = [FundCenter(pg_url, clock=SteppingClock(BUSINESS_HOURS())) for _ in range(3)]
    try:
        alice, bob = some_business(ledgers[0], transfers=1)

        def pay(n, fc):
            for i in range(25):
                fc.transfer(alice, bob, 1, "CNY", idempotency_key=f"w{n}-{i}")

        at_once(pay, enumerate(ledgers))
        rows = log_rows(pg_url)
        assert len(rows) > 3 * 25 * 3
        assert [r[-1] for r in rows] == [link_of(rows, i) for i in range(len(rows))]
    finally:
        for fc in ledgers:
            fc.close()


def at_once(work, argument_lists) -> None:
    """`work(*arguments)` for each of the argument lists, each in a thread of its own, all at once."""
    threads = [threading.Thread(target=work, args=tuple(arguments)) for arguments in argument_lists]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_threads_sharing_one_writer_leave_one_whole_chain(pg_url):
    fc = FundCenter(pg_url, clock=SteppingClock(BUSINESS_HOURS()))
    try:
        alice, bob = some_business(fc, transfers=1)

        def pay(n):
            for i in range(20):
                fc.transfer(alice, bob, 1, "CNY", idempotency_key=f"s{n}-{i}")

        at_once(pay, [(n,) for n in range(4)])
        rows = log_rows(pg_url)
        assert len(rows) > 4 * 20 * 3
        assert [r[-1] for r in rows] == [link_of(rows, i) for i in range(len(rows))]
        assert audit_verify(pg_url, "--chain-only")[0] == 0
    finally:
        fc.close()


def test_the_writers_last_link_is_used_only_where_it_fits_and_a_wrong_one_is_found_by_audit_verify(pg_url):
    fc = FundCenter(pg_url, clock=SteppingClock(BUSINESS_HOURS()))
    try:
        some_business(fc, transfers=1)
        head = fc.head()
        fc.recorder.chain_end = (head - 1, bytes(32))  # not where the chain ends: the function reads the table
        fc.recorder.insert_events([StoredEvent(uuid.uuid4(), 1, "test:Event", b"{}")])
        rows = log_rows(pg_url)
        assert rows[-1][-1] == link_of(rows, len(rows) - 1)
        fc.recorder.chain_end = (head + 1, bytes(32))  # where it ends, with a hash that is not its last link
        fc.recorder.insert_events([StoredEvent(uuid.uuid4(), 1, "test:Event", b"{}")])
        assert broken_at(pg_url)[0] == head + 2  # the insert took the pair at its word; the audit does not
    finally:
        fc.close()


def test_the_writers_links_are_link_along_the_positions_after_its_last_one():
    events = [StoredEvent(uuid.uuid4(), v, "a:B", bytes([v]) * v) for v in (1, 2, 7)]
    previous, expected = bytes(range(32)), []
    for position, e in enumerate(events, start=41):
        previous = link(previous, position, e.originator_id, e.originator_version, e.topic, e.state)
        expected.append(previous)
    assert links_after(bytes(range(32)), 40, events) == (b"".join(expected), expected[-1])
    assert links_after(GENESIS, 0, []) == (b"", GENESIS)


def insert_sql(url, links, links_after, *versions):
    """Call 0021's insert function as the recorder does, with events made in SQL: (id, link or None) rows."""
    oid = uuid.uuid4()
    events = ", ".join(f"ROW('{oid}'::uuid, {v}, 'test:Event', '\\x7b7d'::bytea)::stored_event_uuid" for v in versions)
    return oid, [(i, h and bytes(h)) for i, h in sql(
        url, f"SELECT * FROM fundcenter_insert_events_with_links(ARRAY[{events}], 5, ?::bytea, ?::bigint)", (links, links_after)
    )]


def test_the_writers_links_are_stored_as_they_are_only_where_its_events_take_the_positions_after_them(pg_url):
    fc = FundCenter(pg_url, clock=SteppingClock(BUSINESS_HOURS()))
    try:
        some_business(fc, transfers=1)
        assert fc.recorder.chain_end == (fc.head(), log_rows(pg_url)[-1][-1])
    finally:
        fc.close()
    rows = log_rows(pg_url)
    head, last = rows[-1][0], rows[-1][-1]

    # the next positions: stored as given (no link returned: the writer has them)
    links, _ = links_after(last, head, [StoredEvent(uuid.uuid4(), v, "test:Event", b"{}") for v in (1, 2)])
    _, got = insert_sql(pg_url, links, head, 1, 2)
    rows = log_rows(pg_url)
    assert got == [(head + 1, None), (head + 2, None)]
    assert [r[-1] for r in rows[-2:]] == [links[:32], links[32:]] != [link_of(rows, len(rows) - 2), link_of(rows, len(rows) - 1)]
    # (made for other events, so found by audit verify at the first of them; the server did not hash)
    assert broken_at(pg_url)[0] == head + 1
    sql(pg_url, "UPDATE event_chain SET hash = ? WHERE position = ?", (link_of(rows, len(rows) - 2), head + 1))
    sql(pg_url, "UPDATE event_chain SET hash = ? WHERE position = ?", (link_of(rows, len(rows) - 1), head + 2))
    head = head + 2
    # links for other positions, or not one per event: the server chains, from the table's last link
    for links, after in [(bytes(64), head - 1), (bytes(32), head), (bytes(96), head), (None, head), (bytes(64), None)]:
        _, got = insert_sql(pg_url, links, after, 1, 2)
        rows = log_rows(pg_url)
        assert got == [(rows[-2][0], link_of(rows, len(rows) - 2)), (rows[-1][0], link_of(rows, len(rows) - 1))]
        head = rows[-1][0]
    # a rolled-back insert used up ids since: the server chains
    with pytest.raises(psycopg.errors.UniqueViolation):
        insert_sql(pg_url, bytes(64), head, 1, 1)
    _, got = insert_sql(pg_url, bytes(32), head, 1)
    rows = log_rows(pg_url)
    assert got == [(rows[-1][0], link_of(rows, len(rows) - 1))] and rows[-1][0] == head + 3
    assert audit_verify(pg_url, "--chain-only")[0] == 0


def test_a_process_running_the_code_before_0021_still_inserts_and_chains_through_0019s_function(pg_url):
    migrate(Database.from_url(pg_url))
    insert_sql(pg_url, None, None, 1)
    oid = uuid.uuid4()
    with psycopg.connect(pg_url, autocommit=True) as conn:  # as its recorder called it: the pair as untyped NULLs
        got = conn.execute(
            "SELECT inserted_id, chain_hash FROM fundcenter_insert_events("
            f"ARRAY[ROW('{oid}'::uuid, 1, 'test:Event', '\\x7b7d'::bytea)::stored_event_uuid], 5, %s, %s)", (None, None)
        ).fetchall()
    rows = log_rows(pg_url)
    assert [(i, bytes(h)) for i, h in got] == [(rows[-1][0], link_of(rows, len(rows) - 1))] and rows[-1][1] == oid


def test_an_insert_whose_ids_are_not_the_next_positions_fails_rather_than_store_the_writers_links_there(pg_url):
    migrate(Database.from_url(pg_url))
    _, [(head, made)] = insert_sql(pg_url, None, None, 1)
    assert made is not None  # no links: the server chained
    sql(pg_url, "ALTER SEQUENCE fundcenter_events_notification_id_seq INCREMENT BY 2")
    before = log_rows(pg_url)
    with pytest.raises(psycopg.errors.RaiseException, match="notification id"):
        insert_sql(pg_url, bytes(64), head, 1, 2)
    assert log_rows(pg_url) == before


def test_the_librarys_insert_path_chains_too(pg_url):
    """A database not yet migrated to 0009's function takes the library's insert: the recorder chains after it."""
    fc = FundCenter(pg_url, clock=SteppingClock(BUSINESS_HOURS()))
    try:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(DROP_INSERT_FUNCTIONS)
        some_business(fc, transfers=2)
        assert not fc.recorder.one_trip
        rows = log_rows(pg_url)
        assert rows[-1][-1] == link_of(rows, len(rows) - 1)
    finally:
        fc.close()


def test_a_snapshot_is_sealed_to_the_chain_at_its_events_position(ledger):
    alice, _ = some_business(ledger)
    ledger.take_snapshot(alice)
    db = Database.from_url(ledger.database.url)
    t = LOG_TABLES[db.kind]
    key = alice if db.kind == "postgresql" else alice.hex
    with db.connect() as conn:
        [(version, topic, state)] = conn.execute(
            f"SELECT originator_version, topic, state FROM {t.snapshots} WHERE originator_id = {t.placeholder}", (key,)
        ).fetchall()
        [(position, sealed)] = conn.execute(
            f"SELECT position, hash FROM snapshot_seals WHERE originator_id = {t.placeholder}", (key,)
        ).fetchall()
    rows = log_rows(ledger.database.url)
    index = next(i for i, r in enumerate(rows) if r[1] == alice and r[2] == version)
    assert position == rows[index][0]
    assert bytes(sealed) == seal(link_of(rows, index), position, alice, version, topic, bytes(state))


def test_the_migration_backfills_the_chain_of_an_older_log(ledger):
    """A log written before 0012 (here: its tables dropped and the version forgotten) is chained by the
    migration, in position order, snapshots sealed: the same links the write path gives."""
    alice, _ = some_business(ledger)
    ledger.take_snapshot(alice)
    url = ledger.database.url
    seals_query = "SELECT originator_version, position, hash FROM snapshot_seals"
    chained, seals = log_rows(url), [(v, p, bytes(h)) for v, p, h in sql(url, seals_query)]
    assert len(seals) == 1
    for table in ("event_chain", "snapshot_seals", "chain_checkpoints"):
        sql(url, f"DROP TABLE {table}")
    sql(url, "DELETE FROM schema_migrations WHERE version = '0012_event_chain'")
    assert migrate(Database.from_url(url)) == ["0012_event_chain"]
    assert log_rows(url) == chained
    assert [(v, p, bytes(h)) for v, p, h in sql(url, seals_query)] == seals


# -- audit verify ----------------------------------------------------------------------------------


def audit_verify(url, *args):
    """`fundcenter audit verify --db url ...` in this process: (exit code, stdout, stderr)."""
    from typer.testing import CliRunner

    from api.cli import app

    result = CliRunner().invoke(app, ["audit", "verify", "--db", url, *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def broken_at(url, *args):
    code, out, err = audit_verify(url, *args)
    assert code == 1 and out == "", (code, out, err)
    assert err.startswith("audit verify: BROKEN at position ") and err.count("\n") == 1, err
    return int(err.split()[5].rstrip(":")), err


@pytest.fixture
def business(ledger):
    """A small day of business with a snapshot: (url, the log's rows, alice's id)."""
    alice, _ = some_business(ledger, transfers=6)
    ledger.take_snapshot(alice)
    some_business_more(ledger, alice)
    return ledger.database.url, log_rows(ledger.database.url), alice


def some_business_more(fc, alice):
    carol = open_member(fc, "carol")
    for i in range(3):
        fc.transfer(alice, carol.id, 7, "CNY", idempotency_key=f"more-{i}")


def positions_of(rows, topic_suffix):
    return [r[0] for r in rows if r[3].endswith(topic_suffix)]


def set_row(url, position, *, originator_id=None, version=None, topic=None, state=None):
    db = Database.from_url(url)
    t = LOG_TABLES[db.kind]
    changes = {"originator_id": originator_id and (originator_id if db.kind == "postgresql" else originator_id.hex),
               "originator_version": version, "topic": topic, "state": state}
    sets = [(k, v) for k, v in changes.items() if v is not None]
    assignments = ", ".join(f"{k} = {t.placeholder}" for k, _ in sets)
    sql(url, f"UPDATE {t.events} SET {assignments} WHERE {t.position} = ?", [v for _, v in sets] + [position])


def more_money(state):
    """The stored state with its first amount made larger (a 9 put in front)."""
    edited = state.replace(b'"amount":', b'"amount":9', 1)
    assert edited != state
    return edited


def test_an_honest_log_verifies_clean_and_records_a_checkpoint(business):
    url, rows, _ = business
    code, out, err = audit_verify(url)
    assert (code, err) == (0, "")
    assert out == (f"verified: {len(rows)} events chained, positions 1..{rows[-1][0]}; 1 snapshot sealed;"
                   f" 4 accounts, 0 holds and 1 snapshot rebuilt from their own events; checkpoint at position {rows[-1][0]}\n")
    assert [(p, bytes(h)) for p, h in sql(url, "SELECT position, hash FROM chain_checkpoints")] == [(rows[-1][0], rows[-1][-1])]


def test_an_edited_transfer_event_is_found(business):
    url, rows, _ = business
    position = positions_of(rows, "Transfer.Posted")[2]
    state = next(r[4] for r in rows if r[0] == position)
    set_row(url, position, state=more_money(state))
    where, why = broken_at(url)
    assert where == position and "does not match event" in why and "edited" in why


def test_an_edited_account_event_is_found(business):
    url, rows, _ = business
    position = positions_of(rows, "Account.Credited")[1]
    state = next(r[4] for r in rows if r[0] == position)
    set_row(url, position, state=more_money(state))
    assert broken_at(url)[0] == position


def test_a_deleted_middle_event_is_found(business):
    url, rows, _ = business
    t = LOG_TABLES[Database.from_url(url).kind]
    middle = rows[len(rows) // 2][0]
    sql(url, f"DELETE FROM {t.events} WHERE {t.position} = ?", (middle,))
    where, why = broken_at(url)
    assert where == middle and "without its event: the event was deleted" in why
    sql(url, "DELETE FROM event_chain WHERE position = ?", (middle,))  # its chain entry too: the next one breaks
    following = rows[len(rows) // 2 + 1][0]
    assert broken_at(url)[0] == following


def test_an_inserted_copy_of_an_event_is_found(business):
    url, rows, _ = business
    db = Database.from_url(url)
    t = LOG_TABLES[db.kind]
    _, _, version, topic, state, _ = rows[5]
    copy = uuid.uuid4()
    sql(url, f"INSERT INTO {t.events} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
        (copy if db.kind == "postgresql" else copy.hex, version, topic, state))
    [(position,)] = sql(url, f"SELECT {t.position} FROM {t.events} WHERE originator_id = ?",
                        (copy if db.kind == "postgresql" else copy.hex,))
    where, why = broken_at(url)
    assert where == position > rows[-1][0] and f"event {copy} version {version} has no chain entry" in why


def test_two_swapped_events_are_found(business):
    url, rows, _ = business
    first, second = rows[4], rows[9]
    set_row(url, first[0], originator_id=uuid.uuid4())  # out of the way of the primary key meanwhile
    set_row(url, second[0], originator_id=first[1], version=first[2], topic=first[3], state=first[4])
    set_row(url, first[0], originator_id=second[1], version=second[2], topic=second[3], state=second[4])
    assert broken_at(url)[0] == first[0]


def test_an_edited_snapshot_is_found(business):
    url, rows, alice = business
    t = LOG_TABLES[Database.from_url(url).kind]
    key = alice if t.placeholder == "%s" else alice.hex
    [(version, state)] = sql(url, f"SELECT originator_version, state FROM {t.snapshots} WHERE originator_id = ?", (key,))
    sql(url, f"UPDATE {t.snapshots} SET state = ? WHERE originator_id = ?",
        (edited_snapshot(bytes(state)), key))
    where, why = broken_at(url)
    assert where == next(r[0] for r in rows if r[1] == alice and r[2] == version)
    assert f"the snapshot of {alice} at version {version} does not match its seal" in why


def edited_snapshot(state):
    edited = state.replace(b'"posted":', b'"posted":1', 1)
    assert edited != state
    return edited


def test_a_truncated_tail_is_found(business):
    url, rows, _ = business
    t = LOG_TABLES[Database.from_url(url).kind]
    assert audit_verify(url)[0] == 0  # a checkpoint at the head
    cut = rows[-3][0]
    sql(url, f"DELETE FROM {t.events} WHERE {t.position} >= ?", (cut,))
    where, why = broken_at(url)
    assert where == cut and "without its event" in why
    sql(url, "DELETE FROM event_chain WHERE position >= ?", (cut,))  # entries and all: the checkpoint still knows
    where, why = broken_at(url)
    assert where == rows[-4][0] + 1 and f"an earlier verify saw it reach {rows[-1][0]}: its tail was removed" in why


def test_a_rewritten_chain_is_found_at_the_checkpoint_an_earlier_verify_recorded(business):
    url, rows, _ = business
    assert audit_verify(url)[0] == 0
    position = positions_of(rows, "Transfer.Posted")[0]
    state = next(r[4] for r in rows if r[0] == position)
    set_row(url, position, state=more_money(state))
    previous = GENESIS  # the forger recomputes every link after the edit
    for p, oid, version, topic, s, _ in log_rows(url):
        previous = link(previous, p, oid, version, topic, s)
        sql(url, "UPDATE event_chain SET hash = ? WHERE position = ?", (previous, p))
    where, why = broken_at(url, "--chain-only")
    assert where == rows[-1][0] and "rewritten" in why


def test_thousands_of_honest_events_verify_clean_and_a_later_run_resumes_from_the_checkpoint(ledger):
    members = [open_member(ledger, f"m{i}").id for i in range(4)]
    for i, account in enumerate(members):
        ledger.adjust(account, 1_000_000, "CNY", "credit", "opening balance", f"fund-{i}")
    hold = ledger.place_hold(members[0], 5_000, idempotency_key="freeze-1", reason="order 1")
    ledger.capture_hold(hold.id, members[1], 3_000)
    for batch in range(12):  # 1,200 transfers: 3 events each, 600 on each account: snapshots at version 500
        ledger.transfer_many([
            {"from_account": members[(batch + i) % 4], "to_account": members[(batch + 3 * i + 1) % 4], "amount": 1 + i,
             "currency": "CNY", "idempotency_key": f"b{batch}-{i}"}
            for i in range(100)
        ])
    url, head = ledger.database.url, ledger.head()
    assert head > 3_600
    code, out, err = audit_verify(url, "--progress")
    assert code == 0 and out.startswith(f"verified: {head} events chained, positions 1..{head};"), (out, err)
    assert "; 4 snapshots sealed; 5 accounts, 1 hold and 4 snapshots rebuilt" in out and f"checkpoint at position {head}" in out
    assert " 0 snapshots sealed" not in out and "verifying" in err  # the progress bar, asked for

    some_business_more(ledger, members[0])
    code, out, err = audit_verify(url, "--from", str(head + 1))
    assert (code, err) == (0, "")
    assert out.startswith(f"verified: {ledger.head() - head} events chained, positions {head + 1}..{ledger.head()}"
                          " (resumed after a verified checkpoint);") and "aggregates not replayed" in out

    position = ledger.head()  # an edit after the checkpoint is found by the resumed run
    set_row(url, position, state=log_rows(url)[-1][4] + b" ")
    assert broken_at(url, "--from", str(head + 1))[0] == position


def test_resuming_needs_a_checkpoint_an_earlier_verify_recorded(business):
    url = business[0]
    code, out, err = audit_verify(url, "--from", "5")
    assert (code, out) == (2, "")
    assert err == "fundcenter: no verified checkpoint at or before position 4: run `fundcenter audit verify` without --from first\n"
    sql(url, "INSERT INTO chain_checkpoints (position, hash, verified_at) VALUES (?, ?, ?)", (4, bytes(32), "forged"))
    where, why = broken_at(url, "--from", "5")  # the stored link there is not the checkpoint's
    assert where == 4 and "rewritten" in why


def test_audit_verify_as_a_user_runs_it(tmp_path):
    """The installed command: a clean log, then one edited event: exit 1 and one line."""
    import subprocess

    from tests.serving import fundcenter_command

    url = f"sqlite:///{tmp_path}/f.db"
    fc = FundCenter(url, clock=SteppingClock(BUSINESS_HOURS()))
    some_business(fc, transfers=3)
    fc.close()
    ok = subprocess.run([*fundcenter_command(), "audit", "verify", "--db", url], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.startswith("verified: ") and ok.stderr == "", ok.stderr
    rows = log_rows(url)
    set_row(url, rows[-1][0], state=more_money(rows[-1][4]))
    broken = subprocess.run([*fundcenter_command(), "audit", "verify", "--db", url], capture_output=True, text=True, timeout=60)
    assert (broken.returncode, broken.stdout) == (1, "")
    assert broken.stderr.startswith(f"audit verify: BROKEN at position {rows[-1][0]}: ") and broken.stderr.count("\n") == 1
