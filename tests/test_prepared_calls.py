"""A statement sent straight through libpq (ledger.prepared_calls.PreparedCall) behaves as the
cursor's `execute` did: the same rows, psycopg's own exceptions for the server's errors, and a
session that lost its prepared statement, or a connection the server ended, handled."""

import struct
import threading

import psycopg
import pytest

from ledger.prepared_calls import PreparedCall

INT8 = struct.Struct(">q")
INT8_OID, TEXT_OID = 20, 25


def int8(value: int) -> bytes:
    return INT8.pack(value)


def rows(result) -> list[tuple[bytes | None, ...]]:
    return [tuple(result.get_value(r, c) for c in range(result.nfields)) for r in range(result.ntuples)]


@pytest.fixture
def conn(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn


def test_binary_parameters_in_binary_rows_out_prepared_once(conn):
    call = PreparedCall("test_series", "SELECT n, $2 || n::text FROM generate_series(1, $1) AS n")
    first = call(conn, (int8(3), b"n="), (INT8_OID, TEXT_OID))
    assert [(INT8.unpack(n)[0], label) for n, label in rows(first)] == [(1, b"n=1"), (2, b"n=2"), (3, b"n=3")]
    assert rows(call(conn, (int8(1), None), (INT8_OID, TEXT_OID))) == [(int8(1), None)]  # NULL in, NULL out
    (count,) = conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = 'test_series'").fetchone()
    assert count == 1


def test_a_server_error_is_psycopgs_own_exception_and_the_connection_stays_usable(conn):
    call = PreparedCall("test_divide", "SELECT 1 / $1")
    with pytest.raises(psycopg.errors.DivisionByZero):
        call(conn, (int8(0),), (INT8_OID,))
    assert rows(call(conn, (int8(1),), (INT8_OID,))) == [(int8(1),)]
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # autocommit: nothing left open


def test_a_missing_function_fails_as_the_cursor_would(conn):
    with pytest.raises(psycopg.errors.UndefinedFunction):
        PreparedCall("test_missing", "SELECT no_such_function($1)")(conn, (int8(1),), (INT8_OID,))


def test_a_session_that_lost_the_statement_prepares_it_again(conn):
    call = PreparedCall("test_again", "SELECT $1 + 1")
    assert rows(call(conn, (int8(1),), (INT8_OID,))) == [(int8(2),)]
    conn.execute("DEALLOCATE ALL")
    assert rows(call(conn, (int8(2),), (INT8_OID,))) == [(int8(3),)]


def test_a_statement_prepared_by_an_earlier_caller_in_the_session_is_used(conn):
    PreparedCall("test_shared", "SELECT $1 * 2")(conn, (int8(2),), (INT8_OID,))
    assert rows(PreparedCall("test_shared", "SELECT $1 * 2")(conn, (int8(3),), (INT8_OID,))) == [(int8(6),)]


def test_a_connection_the_server_ended_raises_an_operational_error(pg_url, conn):
    call = PreparedCall("test_ended", "SELECT $1")
    call(conn, (int8(1),), (INT8_OID,))
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
    with pytest.raises(psycopg.OperationalError):
        call(conn, (int8(1),), (INT8_OID,))


def test_callers_on_their_own_connections_at_once(pg_url):
    call = PreparedCall("test_threads", "SELECT $1")
    seen: list[int] = []

    def work(n: int) -> None:
        with psycopg.connect(pg_url, autocommit=True) as own:
            for i in range(20):
                (value,) = rows(call(own, (int8(n * 100 + i),), (INT8_OID,)))[0]
                assert value is not None
                seen.append(INT8.unpack(value)[0])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == sorted(n * 100 + i for n in range(4) for i in range(20))
