"""Each `fundcenter replay` and `fundcenter audit verify` run is recorded (projections/verify_runs.py),
ok or with its first problem, on SQLite and PostgreSQL; `GET /v1/verifications` lists them for auditors."""

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from api import cli, cli_audit
from ledger.store import Database, migrate
from projections import ViewStore
from projections.verify_runs import Run, record, runs
from tests.api_client import problem_of
from tests.config import BUSINESS_HOURS


class Ticking:
    """The commands' clock: a second later at each reading."""

    def __init__(self) -> None:
        self.now = BUSINESS_HOURS()

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def run_cli(api, store_url, monkeypatch):
    ticking = Ticking()
    monkeypatch.setattr(cli, "clock", lambda: ticking)
    monkeypatch.setattr(cli_audit, "clock", lambda: ticking)
    monkeypatch.setenv("FUNDCENTER_DATABASE_URL", store_url)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli.app, list(args))

    return run


def _tamper(store_url: str, ref: str) -> None:
    views = ViewStore(Database.from_url(store_url))
    try:
        with views.transaction() as cur:
            cur.execute("UPDATE account_balances SET posted = posted + 1 WHERE external_ref = ?", (ref,))
    finally:
        views.close()


def test_replay_records_each_run_ok_then_the_first_problem(api, store_url, run_cli):
    assert api.get("/v1/verifications", who="auditor").json()["runs"] == []
    api.fund(api.open("verify-ann"), 5_000)
    verified = run_cli("replay")
    assert verified.exit_code == 0, verified.output
    listed = api.get("/v1/verifications", who="auditor").json()
    [run] = listed["runs"]
    assert run["kind"] == "replay" and run["ok"] is True and run["first_problem"] is None
    assert run["started_at"] == "2026-11-25T10:00:01Z" and run["finished_at"] == "2026-11-25T10:00:02Z"
    assert run["head_position"] == listed["head"] and run["behind"] == 0
    assert run["summary"].startswith("replayed ") and run["summary"].endswith(": verified")

    api.fund(api.open("verify-ben"), 700)  # the log moves on
    assert api.get("/v1/verifications", who="auditor").json()["runs"][0]["behind"] > 0
    _tamper(store_url, "verify-ann")
    tampered = run_cli("replay", "--verify")
    assert tampered.exit_code == 1
    latest, first = api.get("/v1/verifications?kind=replay", who="auditor").json()["runs"]
    assert first == run | {"behind": first["behind"]}
    assert latest["id"] == run["id"] + 1 and latest["ok"] is False and latest["kind"] == "replay"
    assert latest["first_problem"].startswith("account_balances: row (") and "column posted" in latest["first_problem"]
    assert latest["summary"].endswith("1 mismatch") and latest["head_position"] > run["head_position"]
    assert [r["id"] for r in api.get("/v1/verifications?limit=1", who="auditor").json()["runs"]] == [latest["id"]]


def test_audit_verify_records_its_runs_as_kind_audit(api, run_cli):
    api.fund(api.open("verify-cat"), 300)
    audited = run_cli("audit", "verify")
    assert audited.exit_code == 0, audited.output
    run_cli("replay")
    both = api.get("/v1/verifications", who="auditor").json()["runs"]
    assert [r["kind"] for r in both] == ["replay", "audit"]
    [audit] = api.get("/v1/verifications?kind=audit", who="auditor").json()["runs"]
    assert audit["ok"] is True and audit["summary"].startswith("verified: ") and audit["head_position"] >= 1
    assert (audit["started_at"], audit["finished_at"]) == ("2026-11-25T10:00:01Z", "2026-11-25T10:00:02Z")
    assert audit["summary"] in audited.output


def test_a_run_that_crashes_records_nothing(api, run_cli, monkeypatch):
    import projections.verify

    def crash(*args, **kwargs):
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(projections.verify, "replay_and_verify", crash)
    crashed = run_cli("replay")
    assert crashed.exit_code != 0 and isinstance(crashed.exception, RuntimeError)
    assert api.get("/v1/verifications", who="auditor").json()["runs"] == []


def test_the_route_is_for_auditors_and_refuses_bad_queries(api):
    assert api.get("/v1/verifications", who="admin").status_code == 200
    problem_of(api.get("/v1/verifications", who="finance"), 403, "forbidden")
    problem_of(api.get("/v1/verifications", who="mall"), 403, "forbidden")
    problem_of(api.get("/v1/verifications", who=None), 401, "unauthorized")
    problem_of(api.get("/v1/verifications?kind=nope", who="auditor"), 422, "validation-error")
    problem_of(api.get("/v1/verifications?limit=0", who="auditor"), 422, "validation-error")
    problem_of(api.get("/v1/verifications?limit=101", who="auditor"), 422, "validation-error")
    for value in ("", "%00", "x" * 10_000, str(2**63), "-1", "1.5", "٣", "replay\x00"):
        for name in ("kind", "limit"):  # refused as a validation error, never a 500 (Api.call checks)
            problem_of(api.get("/v1/verifications", who="auditor", params={name: value}), 422, "validation-error")
    operation = api.client.get("/openapi.json").json()["paths"]["/v1/verifications"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"kind", "limit"}
    assert "422" in operation["responses"] and "403" in operation["responses"]


def test_runs_are_numbered_in_order_and_listed_latest_first(store_url):
    views = ViewStore(Database.from_url(store_url))
    try:
        migrate(views.database)
        moment = datetime(2026, 11, 25, 10, tzinfo=UTC)
        first = record(views, Run("audit", moment, moment, 3, True, "fine"))
        second = record(views, Run("replay", moment, moment, 4, False, "bad", "x" * 5000))
        assert (first, second) == (1, 2)
        assert [r["id"] for r in runs(views)] == [2, 1] and len(runs(views, "replay")[0]["first_problem"]) == 2000
        with pytest.raises(ValueError):
            record(views, Run("other", moment, moment, 1, True, "?"))
    finally:
        views.close()


def test_a_broken_chain_is_recorded_with_its_first_problem(api, store_url, run_cli):
    from tests.test_audit_chain import log_rows, set_row

    api.fund(api.open("verify-dan"), 300)
    assert run_cli("audit", "verify").exit_code == 0
    position, *_, state, _ = log_rows(store_url)[-1]
    set_row(store_url, position, state=state + b" ")  # an event altered after it was chained
    broken = run_cli("audit", "verify")
    assert broken.exit_code == 1
    latest, first = api.get("/v1/verifications?kind=audit", who="auditor").json()["runs"]
    assert first["ok"] is True and latest["ok"] is False and latest["id"] == first["id"] + 1
    assert latest["first_problem"].startswith(f"position {position}: ")
    assert latest["summary"] == f"audit verify: BROKEN at {latest['first_problem']}"
    assert latest["summary"] in broken.stderr
