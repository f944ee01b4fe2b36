"""The hash chain over the event log (ledger/audit/) and `fundcenter audit verify`, on both stores:
every event chained in its own insert's transaction, snapshots sealed, and each kind of tampering
found and named by its log position."""

import uuid
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from ledger import FundCenter
from ledger.audit.chain import GENESIS, link, seal
from ledger.audit.chain_store import LOG_TABLES, chain_hash_at
from ledger.store import Database, migrate


@pytest.fixture
def ledger(store_url):
    fc = FundCenter(store_url)
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


def test_the_librarys_insert_path_chains_too(pg_url):
    """A database not yet migrated to 0009's function takes the library's insert: the recorder chains after it."""
    fc = FundCenter(pg_url)
    try:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DROP FUNCTION fundcenter_insert_events")
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
