"""How an import keeps its lines, on SQLite and PostgreSQL, through HTTP: a plain match (paired
by reference, every figure equal) has no row of its own and is read back from the statement's
stored blocks, in order among the rows of the other lines, page by page, in the CSV detail and
in the summary's totals; a line carried over after a day of plain matches gets a number of its
own; and the repeated-id check covers the whole file, across its chunks."""

import csv
import io

import pytest

from ledger.clock import SteppingClock
from projections.reconciliation import statement
from tests.config import DAY
from tests.shop import UNIONPAY_FIRST, configure, open_shop
from tests.test_reconciliation import busy_channel_day, import_
from tests.test_reconciliation_carry_over import (
    D1,
    D2,
    D3,
    close,
    differences,
    imported,
    members_with_cards,
    morning,
    resolve,
)

FIGURES = ("channel_txn_id", "reference", "kind", "amount", "fee", "status")


def rows_of(views, rid):
    return views.query("SELECT COUNT(*) AS n FROM reconciliation_lines WHERE reconciliation_id = ?", (rid,))[0]["n"]


def every_line(shop, rid, limit):
    items, cursor = [], None
    while True:
        page = shop.ok("GET", f"/v1/reconciliations/{rid}/lines", who="admin",
                       params={"limit": limit, **({"cursor": cursor} if cursor else {})})
        items += page["items"]
        if (cursor := page["next_cursor"]) is None:
            return items


@pytest.fixture
def stepping_shop(store_url):
    clock = SteppingClock(morning(D1, 10))
    with open_shop(store_url, clock=clock) as opened:
        opened.clock = clock
        yield opened


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(statement, "CHUNK_LINES", 4)  # a 15-line file in four blocks


def test_plain_matches_read_back_from_the_statement_page_by_page(shop, small_chunks):
    busy_channel_day(shop)
    text = shop.channels["unionpay"].statement(DAY, drop=1, extra=1, change_amount=1, change_fee=1)
    rec = import_(shop, "unionpay", text, "imp").json()
    file = list(csv.DictReader(io.StringIO(text)))
    whole = every_line(shop, rec["id"], 1000)
    assert [line["seq"] for line in whole] == list(range(1, len(whole) + 1))
    for limit in (1, 3, 4, 5):
        assert every_line(shop, rec["id"], limit) == whole, limit

    # The statement's lines first, in the file's order, with the channel's figures; then ours it lacks.
    for line, row in zip(whole, file, strict=False):
        assert [str(line[f if f in ("channel_txn_id", "reference", "kind") else f"their_{f}"]) for f in FIGURES] == [
            row[f] for f in FIGURES]
    assert [line["class"] for line in whole[len(file):]] == ["missing_in_channel"]
    matched = [line for line in whole if line["class"] == "matched"]
    assert len(matched) == rec["summary"]["matched"]["count"] == 10
    for line in matched:
        assert (line["our_amount"], line["our_fee"], line["our_status"]) == (
            line["their_amount"], line["their_fee"], line["their_status"])
        assert line["payment_id"] == line["reference"] and line["carried_from"] is None and line["note"] is None
    assert rec["summary"]["matched"]["our_amount"] == sum(line["our_amount"] for line in matched)
    assert rec["summary"]["matched"]["their_fee"] == sum(line["their_fee"] for line in matched)
    # Only what is not a plain match has a row of its own.
    assert rows_of(shop.client.app.state.services.views, rec["id"]) == len(whole) - len(matched)
    assert shop.ok("GET", f"/v1/reconciliations/{rec['id']}/differences", who="admin")["items"] == [
        line for line in whole if line["class"] != "matched"]

    detail = shop.client.get(f"/v1/reconciliations/{rec['id']}/report.csv", params={"part": "detail"},
                             headers={"Authorization": f"Bearer {shop.keys['admin']}"})
    assert [(int(r["seq"]), r["class"], r["reference"], r["their_amount"]) for r in
            csv.DictReader(io.StringIO(detail.text))] == [
        (line["seq"], line["class"], line["reference"], str(line["their_amount"] or "")) for line in whole]


def test_a_carried_line_after_a_day_of_plain_matches_has_a_number_of_its_own(stepping_shop):
    shop = stepping_shop
    configure(shop, {"withholding": [{"channel": "slow", "priority": 1}]})
    [member], [card] = members_with_cards(shop, 1)
    slow = shop.channels["slow"]
    late = shop.recharge(member, 555, binding_id=card).json()
    slow.query(late["id"])  # the channel finished it on day 1; we did not hear
    shop.clock.set(morning(D2))
    rec = imported(shop, "slow", D1, slow.statement(D1))
    [waiting] = differences(shop, rec)
    resolve(shop, rec, waiting["seq"], "wait", "our side may still hear of it")
    closed = close(shop, rec)

    # Day 2: another recharge the channel finishes; the sweep settles both on day 2.
    fresh = shop.recharge(member, 888, binding_id=card).json()
    slow.query(fresh["id"])
    shop.ok("GET", "/v1/transactions", params={"min_position": max(closed["position"], fresh["position"])})
    swept = shop.ok("POST", "/v1/admin/payments/sweep", {"older_than_s": 0}, who="operator")
    assert {p["id"] for p in swept} == {late["id"], fresh["id"]}
    shop.clock.set(morning(D3))
    day2 = imported(shop, "slow", D2, slow.statement(D2))
    assert (day2["lines"], day2["carried"], day2["summary"]["matched"]["count"]) == (1, 1, 2)
    lines = every_line(shop, day2["id"], 100)
    assert [(line["seq"], line["reference"], line["carried_from"]) for line in lines] == [
        (1, fresh["id"], None), (2, late["id"], rec["id"])]
    assert rows_of(shop.client.app.state.services.views, day2["id"]) == 1  # the carried line only
    assert close(shop, day2)["moved"] == 555 + 888 - sum(
        line["their_fee"] for line in lines)  # both recharges, less their fees


@pytest.mark.parametrize("column, line", [("channel_txn_id", "t-1"), ("reference", "r-1")])
def test_an_id_repeated_lines_apart_is_found_in_any_chunk(shop, small_chunks, column, line):
    configure(shop, {"withholding": UNIONPAY_FIRST})
    rows = [f"t-{n},r-{n},recharge,100,0,succeeded,2026-11-25T10:00:00Z" for n in range(1, 40)]
    rows.append(rows[0].replace("t-1,", "t-99,") if column == "reference" else rows[0].replace(",r-1,", ",r-99,"))
    text = "channel_txn_id,reference,kind,amount,fee,status,time\n" + "\n".join(rows) + "\n"
    response = import_(shop, "unionpay", text, "imp")
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == f"line 41: {column} {line} appears twice"
    views = shop.client.app.state.services.views
    for table in ("reconciliation_lines", "reconciliation_statement_blocks", "reconciliation_matched"):
        assert views.query(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"] == 0, table
