"""Getting a statement in, on SQLite and PostgreSQL: what an import refuses (an unknown channel,
a day not begun, a malformed file, naming the line and value) and what it takes (a byte order
mark, CRLF, blank lines at the end); the statement fetched from the channel's gateway, by the
API and by the CLI, with the same result as the file uploaded; retries of a fetch; the list of
reconciliations, filtered and paged."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

import api.cli
from ledger import FundCenter
from ledger.clock import SteppingClock
from projections import ViewStore
from projections.reconciliation import Reconciler, StatementRejected
from tests.config import BUSINESS_HOURS, DAY
from tests.shop import UNIONPAY_FIRST, configure, open_shop

HEADER = "channel_txn_id,reference,kind,amount,fee,status,time"
LINE = "t{n},r{n},recharge,{amount},0,succeeded,2026-11-25T10:00:00Z"


@pytest.fixture
def shop(store_url):
    clock = SteppingClock(datetime(DAY.year, DAY.month, DAY.day, 10, tzinfo=UTC))
    with open_shop(store_url, clock=clock) as opened:
        opened.clock = clock
        configure(opened, {"withholding": UNIONPAY_FIRST})
        yield opened


def post(shop, path, body, key=None):
    return shop.call("POST", path, body, who="admin", **({"key": key} if key else {}))


def upload(shop, text, day=DAY, channel="unionpay", currency="CNY", key=None):
    return post(shop, "/v1/reconciliations", {"channel": channel, "date": day.isoformat(), "file": text,
                                              "currency": currency}, key)


def problem(response, status, kind):
    assert (response.status_code, response.json()["type"]) == (status, kind), response.text
    return response.json()["detail"]


def test_an_unknown_channel_and_a_day_not_begun_are_refused_and_write_nothing(shop):
    ledger = shop.client.app.state.services.ledger
    text = f"{HEADER}\n{LINE.format(n=1, amount=100)}\n"
    head = ledger.head()
    assert problem(upload(shop, text, channel="unionpya"), 404, "not-found") == "channel unionpya not found"
    detail = problem(upload(shop, text, day=DAY + timedelta(days=1)), 422, "validation-error")
    assert "has not begun yet" in detail
    problem(post(shop, "/v1/reconciliations/fetch", {"channel": "unionpya", "date": DAY.isoformat()}), 404, "not-found")
    problem(post(shop, "/v1/reconciliations/fetch", {"channel": "unionpay", "date": "2026-11-26"}), 422,
            "validation-error")
    assert ledger.head() == head
    # Today has begun: its file (so far) is taken.
    assert upload(shop, text).status_code == 201


def test_a_byte_order_mark_crlf_and_blank_lines_at_the_end_are_taken(shop):
    body = [LINE.format(n=n, amount=100 + n) for n in range(1, 4)]
    plain = upload(shop, "\n".join([HEADER, *body]) + "\n").json()
    dressed = upload(shop, "\ufeff" + "\r\n".join([HEADER, *body]) + "\r\n\r\n\r\n").json()
    assert dressed["id"] != plain["id"]  # another file, the same statement
    assert (dressed["lines"], dressed["summary"]) == (plain["lines"], plain["summary"]) == (3, dressed["summary"])
    lines = shop.ok("GET", f"/v1/reconciliations/{dressed['id']}/lines", who="admin")["items"]
    assert [line["channel_txn_id"] for line in lines] == ["t1", "t2", "t3"]


@pytest.mark.parametrize(
    "rows, where",
    [
        ([LINE.format(n=1, amount=100), "", LINE.format(n=2, amount=100)], "line 3: a blank line inside"),
        ([LINE.format(n=1, amount="12a")], "line 2: amount must be whole minor units in ASCII digits, at most"
                                           " 1000000000000000, got '12a'"),
        ([LINE.format(n=1, amount=100).replace("recharge", "refund")], "line 2: kind must be recharge or payout,"
                                                                       " got 'refund'"),
        ([LINE.format(n=1, amount=100).replace("2026-11-25T10:00:00Z", "2026-11-25T10:00:00")],
         "line 2: time '2026-11-25T10:00:00' must carry a time zone offset"),
        ([LINE.format(n=1, amount=100), LINE.format(n=1, amount=200)], "line 3: channel_txn_id t1 appears twice"),
        ([LINE.format(n=1, amount=100), LINE.format(n=2, amount=200).replace("r2", "r1")],
         "line 3: reference r1 appears twice"),
        ([LINE.format(n=1, amount=100).replace("r1", "r\x071")], "line 2: reference must be 1-128 printable"),
    ],
)
def test_anything_else_is_rejected_naming_the_line_and_the_value(shop, rows, where):
    response = upload(shop, "\n".join([HEADER, *rows]) + "\n")
    assert where in problem(response, 422, "statement-rejected")
    views = shop.client.app.state.services.views
    assert views.query("SELECT COUNT(*) AS n FROM reconciliation_lines")[0]["n"] == 0


def test_the_parser_bounds_amounts_times_and_totals_for_every_caller(tmp_path):
    """The checks that were at the HTTP edge are the import's own: a direct call gets them too."""
    fc = FundCenter(f"sqlite:///{tmp_path}/direct.db", clock=BUSINESS_HOURS)
    fc.register_channel("up", "UnionPay")
    views = ViewStore(fc.database)
    reconciler = Reconciler(fc, views)
    try:
        for rows, why in [
            ([LINE.format(n=1, amount=10**16)], "line 2: amount must be whole minor units"),
            ([LINE.format(n=1, amount=100).replace("2026-11-25T10", "10000-11-25T10")], "line 2: time"),
            ([LINE.format(n=1, amount=100).replace("Z", "-23:59").replace("2026-11-25", "9999-12-31")],
             "must be within 1970-01-01"),
            ([LINE.format(n=n, amount=10**15) for n in range(4_700)], "line 4613: the file's amounts add up to more"),
        ]:
            statement = io.BytesIO(("\n".join([HEADER, *rows]) + "\n").encode())
            with pytest.raises(StatementRejected) as refused:
                reconciler.import_statement("up", DAY, statement, by="test")
            assert why in refused.value.detail
    finally:
        views.close()
        fc.close()


def test_a_fetch_imports_the_channels_file_as_if_uploaded_and_answers_its_retries_once(shop):
    member = shop.account("fetcher")
    card = shop.bind(member)["id"]
    shop.recharge(member, 10_000, binding_id=card)
    ledger = shop.client.app.state.services.ledger
    fetched = post(shop, "/v1/reconciliations/fetch", {"channel": "unionpay", "date": DAY.isoformat()}, "fetch-1")
    assert fetched.status_code == 201, fetched.text
    first = fetched.json()
    assert (first["lines"], first["ours"], first["open_differences"], first["currency"]) == (1, 1, 0, "CNY")
    uploaded = upload(shop, shop.channels["unionpay"].statement(DAY), key="upload-1").json()
    assert uploaded == first  # the same file: the same reconciliation
    head = ledger.head()
    assert post(shop, "/v1/reconciliations/fetch", {"channel": "unionpay", "date": DAY.isoformat()},
                "fetch-1").json() == first
    assert ledger.head() == head
    # The channel's file has changed since: a retry still answers with the first import; a new key fetches anew.
    shop.recharge(member, 20_000, binding_id=card)
    assert post(shop, "/v1/reconciliations/fetch", {"channel": "unionpay", "date": DAY.isoformat()},
                "fetch-1").json() == first
    second = post(shop, "/v1/reconciliations/fetch", {"channel": "unionpay", "date": DAY.isoformat()}, "fetch-2").json()
    assert second["id"] != first["id"] and second["lines"] == 2
    conflict = post(shop, "/v1/reconciliations/fetch", {"channel": "alipay", "date": DAY.isoformat()}, "fetch-1")
    problem(conflict, 409, "idempotency-conflict")


def test_the_command_line_gives_what_the_api_gives_for_the_same_file(shop, tmp_path, monkeypatch):
    member = shop.account("cli")
    shop.recharge(member, 10_000, binding_id=shop.bind(member)["id"])
    registry = shop.client.app.state.services.payments.gateways
    monkeypatch.setattr(api.cli, "clock", lambda: shop.clock)  # the test's clock, the app's channels
    monkeypatch.setattr(api.cli, "gateways_for", lambda fc, settings: registry)
    monkeypatch.setenv("FUNDCENTER_DATABASE_URL", shop.url)
    runner = CliRunner()
    statement = tmp_path / "unionpay.csv"
    statement.write_text(shop.channels["unionpay"].statement(DAY, change_fee=1))
    by_api = upload(shop, statement.read_text()).json()
    by_cli = runner.invoke(api.cli.app, ["reconcile", "import", str(statement), "--channel", "unionpay",
                                         "--date", DAY.isoformat()])
    assert by_cli.exit_code == 0, by_cli.output
    assert f"reconciliation {by_api['id']}: unionpay {DAY} CNY, 1 lines, 1 of ours" in by_cli.output
    assert "fee_mismatch" in by_cli.output and "1 differences to resolve" in by_cli.output

    fetched_cli = runner.invoke(api.cli.app, ["reconcile", "fetch", "--channel", "unionpay", "--date", DAY.isoformat()])
    assert fetched_cli.exit_code == 0, fetched_cli.output
    fetched_api = post(shop, "/v1/reconciliations/fetch", {"channel": "unionpay", "date": DAY.isoformat()}).json()
    assert f"reconciliation {fetched_api['id']}: unionpay {DAY} CNY, 1 lines, 1 of ours" in fetched_cli.output
    assert "0 differences to resolve" in fetched_cli.output


def test_reconciliations_are_listed_filtered_and_paged(shop):
    made = {}
    for days_ago in range(3):
        day = DAY - timedelta(days=days_ago)
        for channel in ("unionpay", "alipay"):
            text = f"{HEADER}\n{LINE.format(n=f'{channel}{days_ago}', amount=100 + days_ago)}\n"
            made[(channel, day)] = upload(shop, text, day=day, channel=channel).json()
    usd = upload(shop, f"{HEADER}\n{LINE.format(n='usd', amount=5)}\n", currency="USD").json()
    [unknown] = shop.ok("GET", f"/v1/reconciliations/{made[('unionpay', DAY)]['id']}/differences", who="admin")["items"]
    shop.ok("POST", f"/v1/reconciliations/{made[('unionpay', DAY)]['id']}/differences/{unknown['seq']}/resolve",
            {"action": "write_off", "reason": "ok"}, who="admin")
    closed = shop.ok("POST", f"/v1/reconciliations/{made[('unionpay', DAY)]['id']}/close", who="admin")

    def listed(**params):
        return shop.ok("GET", "/v1/reconciliations", who="admin", params={"min_position": closed["position"], **params})

    everything = listed()["items"]
    assert len(everything) == 7 and [r["day"] for r in everything] == sorted(r["day"] for r in everything)
    unionpay = listed(channel="unionpay", currency="CNY")["items"]
    assert [r["day"] for r in unionpay] == [(DAY - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    assert {r["id"] for r in listed(status="closed")["items"]} == {closed["id"]}
    assert [r["id"] for r in listed(currency="USD")["items"]] == [usd["id"]]
    window = listed(**{"from": (DAY - timedelta(days=1)).isoformat(), "to": (DAY - timedelta(days=1)).isoformat()})
    assert {(r["channel"], r["day"]) for r in window["items"]} == {("unionpay", "2026-11-24"), ("alipay", "2026-11-24")}
    pages, cursor = [], None
    while True:
        page = listed(limit=2, **({"cursor": cursor} if cursor else {}))
        pages.append([r["id"] for r in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 2, 1] and [i for page in pages for i in page] == [r["id"] for r in everything]
    problem(shop.call("GET", "/v1/reconciliations", who="admin", params={"status": "half"}), 422, "validation-error")
    problem(shop.call("GET", "/v1/reconciliations", who="admin", params={"cursor": "nonsense"}), 422,
            "validation-error")
    assert shop.call("GET", "/v1/reconciliations", who="mall").status_code == 403
