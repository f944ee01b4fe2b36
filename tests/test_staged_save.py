"""A batch's save sent in parts (ledger/staged_save.py, ledger/recorders.py's `StagedInsert`):
one transaction whatever happens between its parts.

What the tests hold it to: a batch of several parts is one save, invisible until its commit
and chained as one; a refusal or a conflict in a later part leaves nothing of the parts
sent before it; a connection that breaks between parts or at the commit, or a session that
lost the prepared statement, costs the batch nothing (its events go in the usual way, once).
"""

from __future__ import annotations

import itertools

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import FundCenter
from ledger.clock import SteppingClock
from ledger.handlers import transfers as transfer_handlers
from ledger.handlers.transfers import PART_SIZE
from ledger.recorders import StagedInsert
from tests.config import BUSINESS_HOURS
from tests.test_audit_chain import audit_verify, log_rows

BATCH = 3 * PART_SIZE + 7  # four parts, the last short


@pytest.fixture
def ledger(store_url):
    fc = FundCenter(store_url, clock=SteppingClock(BUSINESS_HOURS()))
    yield fc
    fc.close()


@pytest.fixture
def pg_ledger(pg_url):
    fc = FundCenter(pg_url, clock=SteppingClock(BUSINESS_HOURS()))
    yield fc, pg_url
    fc.close()


def members(fc, count=4, funds=1_000_000):
    accounts = [fc.open_account("member", "mall", f"m{i}", "CNY", name=f"m{i}").id for i in range(count)]
    for account in accounts:
        fc.adjust(account, funds, "CNY", "credit", "opening balance", f"fund-{account}")
    return accounts


def batch(accounts, tag, count=BATCH, amount=1):
    """`count` transfers around the ring of `accounts`, 1 -> 2 -> ... -> 1."""
    return [dict(from_account=accounts[i % len(accounts)], to_account=accounts[(i + 1) % len(accounts)],
                 amount=amount, currency="CNY", idempotency_key=f"{tag}-{i}") for i in range(count)]


def ring_balances(accounts, count, funds=1_000_000):
    balances = [funds] * len(accounts)
    for i in range(count):
        balances[i % len(accounts)] -= 1
        balances[(i + 1) % len(accounts)] += 1
    return balances


def head_seen_by_others(url):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT coalesce(max(notification_id), 0) FROM fundcenter_events").fetchone()[0]


def parts_sent(monkeypatch, after_each=None):
    """Count the parts StagedInsert sends (calling `after_each(insert)` after each); the counts' list."""
    sent = []
    send = StagedInsert.send

    def counted(insert, events):
        send(insert, events)
        sent.append(len(events))
        if after_each is not None:
            after_each(insert)

    monkeypatch.setattr(StagedInsert, "send", counted)
    return sent


def terminate(url, insert):
    """End the staged insert's server process, as a crash or an administrator would."""
    with psycopg.connect(url, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (insert.conn.info.backend_pid,))


def each_transfer_once(fc, results, after):
    """The log past position `after` holds each of these transfers once, and no other."""
    made = [row[1] for row in log_rows(fc.database.url) if row[0] > after and row[3].endswith("Transfer.Posted")]
    assert sorted(made) == sorted(r.id for r in results)


def test_a_batch_of_several_parts_is_one_save_in_order_and_chained(ledger):
    accounts = members(ledger)
    head = ledger.head()
    results = ledger.transfer_many(batch(accounts, "p"))
    assert [r.amount for r in results] == [1] * BATCH
    assert ledger.head() == head + 3 * BATCH  # a transfer and its two accounts' events each
    assert [ledger.get_account(a).posted for a in accounts] == ring_balances(accounts, BATCH)
    assert sorted(r.position for r in results) == [r.position for r in results]
    assert ledger.transfer_many(batch(accounts, "p")) == results  # a retry repeats every first outcome
    assert ledger.head() == head + 3 * BATCH
    assert audit_verify(ledger.database.url)[0] == 0


def test_on_postgresql_the_parts_go_out_before_the_commit_and_nobody_sees_them_until_it(pg_ledger, monkeypatch):
    fc, url = pg_ledger
    accounts = members(fc)
    head = fc.head()
    seen = []
    sent = parts_sent(monkeypatch, lambda insert: seen.append(head_seen_by_others(url)))
    results = fc.transfer_many(batch(accounts, "v"))
    assert len(sent) == 4 and sum(sent) == 3 * BATCH
    assert seen == [head] * 4
    assert head_seen_by_others(url) == head + 3 * BATCH == max(r.position for r in results)
    rows = log_rows(url)
    assert fc.recorder.chain_end == (rows[-1][0], rows[-1][-1])  # the writer's links, stored as sent
    assert audit_verify(url)[0] == 0


def test_a_refusal_in_a_later_part_leaves_nothing_of_the_parts_sent_before_it(pg_ledger, monkeypatch):
    fc, url = pg_ledger
    accounts = members(fc)
    poor = fc.open_account("member", "mall", "poor", "CNY", name="poor").id
    items = batch(accounts, "r")
    items[-2] = dict(from_account=poor, to_account=accounts[0], amount=5, currency="CNY", idempotency_key="r-poor")
    held = fc.recorder.datastore.held
    head = fc.head()
    sent = parts_sent(monkeypatch)
    results = fc.transfer_many(items)
    assert len(sent) == 3  # the parts before the refusal's went out, then were rolled back
    assert type(results[-2]).__name__ == "InsufficientFunds"
    assert all(type(r).__name__ == "TransferView" for i, r in enumerate(results) if i != len(items) - 2)
    # Each transfer was then saved alone: its accounts' two events and its own, side by side.
    rows = [row for row in log_rows(url) if row[0] > min(r.position for r in results[:1]) - 3]
    for result in results[:-2]:
        at = [row[0] for row in rows].index(result.position)
        assert rows[at - 2][3].endswith("Account.Debited") and rows[at - 1][3].endswith("Account.Credited")
    each_transfer_once(fc, [r for r in results if type(r).__name__ == "TransferView"], head)
    assert held._conn is not None and not held._conn.closed  # a rollback: the connection is kept
    assert audit_verify(url)[0] == 0


def test_a_conflict_met_at_the_commit_leaves_nothing_and_the_batch_reads_like_sequential_transfers(pg_ledger):
    fc, url = pg_ledger
    accounts = members(fc)
    fc.transfer_many(batch(accounts, "warm", count=8))  # every account in the cache
    other = FundCenter(url, clock=SteppingClock(BUSINESS_HOURS()))
    try:
        other.transfer(accounts[3], accounts[0], 7, "CNY", idempotency_key="elsewhere")  # the cache is stale
    finally:
        other.close()
    conn, head = fc.recorder.datastore.held._conn, fc.head()
    results = fc.transfer_many(batch(accounts, "c"))
    assert all(type(r).__name__ == "TransferView" for r in results)
    assert fc.recorder.datastore.held._conn is conn  # rolled back: the same connection, kept
    balances = [fc.get_account(a).posted for a in accounts]
    expected = ring_balances(accounts, 8 + BATCH)
    expected[3], expected[0] = expected[3] - 7, expected[0] + 7
    assert balances == expected
    each_transfer_once(fc, results, head)
    assert audit_verify(url)[0] == 0


@pytest.mark.parametrize("when", ["between parts", "closed between parts", "at the commit"])
def test_a_connection_lost_during_the_batch_costs_it_nothing(pg_ledger, monkeypatch, when):
    """The server's process ended between two parts (the next send may still go out: the commit
    finds it), the connection closed under the batch (the next send fails at once), or the server's
    process ended just before the commit."""
    fc, url = pg_ledger
    accounts = members(fc)
    head = fc.head()
    if when == "between parts":
        sent = parts_sent(monkeypatch, lambda insert: len(sent) == 1 and terminate(url, insert))
    elif when == "closed between parts":
        sent = parts_sent(monkeypatch, lambda insert: len(sent) == 1 and insert.conn.close())
    else:
        committed = StagedInsert._committed
        monkeypatch.setattr(StagedInsert, "_committed", lambda insert: terminate(url, insert) or committed(insert))
    stored = len(log_rows(url))
    results = fc.transfer_many(batch(accounts, "k"))
    assert all(type(r).__name__ == "TransferView" for r in results)
    assert len(log_rows(url)) == stored + 3 * BATCH and fc.head() == head_seen_by_others(url)
    each_transfer_once(fc, results, head)
    monkeypatch.undo()
    sent = parts_sent(monkeypatch)
    more = fc.transfer_many(batch(accounts, "after"))  # the next batch staged again, on a new connection
    assert len(sent) == 4 and fc.head() == max(r.position for r in more)
    assert len(log_rows(url)) == stored + 6 * BATCH
    once = ring_balances(accounts, BATCH)
    assert [fc.get_account(a).posted for a in accounts] == [2 * b - 1_000_000 for b in once]
    assert audit_verify(url)[0] == 0


def test_a_session_that_lost_the_prepared_statement_saves_the_batch_the_usual_way(pg_ledger, monkeypatch):
    fc, url = pg_ledger
    accounts = members(fc)
    fc.transfer_many(batch(accounts, "first"))  # prepares the statement on the held connection
    held = fc.recorder.datastore.held
    conn = held.take()
    conn.execute("DEALLOCATE ALL")  # as a connection pooler or an administrator might
    held.give(False)
    head, stored = fc.head(), len(log_rows(url))
    results = fc.transfer_many(batch(accounts, "second"))
    assert len(log_rows(url)) == stored + 3 * BATCH
    each_transfer_once(fc, results, head)
    sent = parts_sent(monkeypatch)
    fc.transfer_many(batch(accounts, "third"))
    assert len(sent) == 4  # staged again: the statement was prepared anew
    assert audit_verify(url)[0] == 0


item_kinds = st.sampled_from(["move", "move", "move", "move", "too much", "zero", "to itself"])
examples = itertools.count()  # each example's own accounts and keys on the test's one ledger


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_batch_in_any_parts_answers_as_its_transfers_one_by_one_would(pg_ledger, monkeypatch, data):
    """Batches of any length, cut into parts of any size, with refusals anywhere: every item's
    answer, every balance and the log are those of the same transfers made one by one (a model of
    the balances says which), and the log still verifies."""
    fc, url = pg_ledger
    example = f"x{next(examples)}"
    accounts = [fc.open_account("member", "mall", f"{example}-{i}", "CNY", name=f"m{i}").id for i in range(4)]
    balance = dict.fromkeys(accounts, 0)
    fc.adjust(accounts[0], 500, "CNY", "credit", "opening balance", f"fund-{example}")
    balance[accounts[0]] = 500
    monkeypatch.setattr(transfer_handlers, "PART_SIZE", data.draw(st.integers(1, 30), label="part size"))
    items, expected = [], []
    for i, kind in enumerate(data.draw(st.lists(item_kinds, min_size=1, max_size=80), label="items")):
        source, target = data.draw(st.sampled_from(accounts)), data.draw(st.sampled_from(accounts))
        if kind == "to itself":
            target = source
        elif source == target:
            target = accounts[(accounts.index(source) + 1) % 4]
        if kind == "zero":
            amount = 0
        elif kind == "too much":
            amount = balance[source] + 1
        else:
            amount = data.draw(st.integers(1, 60))
        items.append(dict(from_account=source, to_account=target, amount=amount, currency="CNY",
                          idempotency_key=f"{example}-{i}"))
        if kind == "zero":
            expected.append("InvalidAmount")
        elif kind == "to itself":
            expected.append("AccountsMustBeDifferent")
        elif amount > balance[source]:
            expected.append("InsufficientFunds")
        else:
            expected.append("TransferView")
            balance[source] -= amount
            balance[target] += amount
    head = fc.head()
    results = fc.transfer_many(items)
    assert [type(r).__name__ for r in results] == expected
    assert {a: fc.get_account(a).posted for a in accounts} == balance
    each_transfer_once(fc, [r for r in results if type(r).__name__ == "TransferView"], head)
    # A retry: every transfer made answers as it did. (A refusal recorded nothing: it is tried again.)
    again = fc.transfer_many(items)
    assert all(second == first for first, second in zip(results, again, strict=True)
               if type(first).__name__ == "TransferView")
    monkeypatch.undo()
    assert audit_verify(url, "--chain-only")[0] == 0
