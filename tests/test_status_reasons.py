"""A reason on an account's status change: checked, recorded in the StatusChanged event with the actor,
sent in the `account.status_changed` webhook, accepted by the HTTP API and the Python client; and
changes recorded before reasons existed still load, without one."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from fundcenter.client import FundCenterError
from ledger.domain.accounts import STATUS_REASON_LENGTH_MAX, Account, status_reason
from ledger.domain.errors import ValidationError
from tests.api_client import problem_of
from tests.test_client import client_of, running_app
from tests.test_webhooks import hooks, receiver  # noqa: F401 (fixtures)

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def member():
    return Account(id=uuid4(), kind="member", business_id="mall", external_ref=f"r-{uuid4().hex[:8]}", currency="CNY",
                   name="alice", request_hash="h")


# -- the aggregate ------------------------------------------------------------------------------


def test_the_reason_is_recorded_in_the_event_with_the_actor():
    account = member()
    assert account.change_status("frozen", NOW, "ops-key", "suspected fraud, ticket 4411")
    changed = account.collect_events()[-1]
    assert isinstance(changed, Account.StatusChanged)
    assert (changed.status, changed.by, changed.reason, status_reason(changed)) == (
        "frozen", "ops-key", "suspected fraud, ticket 4411", "suspected fraud, ticket 4411")
    assert account.change_status("active", NOW, "ops-key")  # no reason: optional
    assert status_reason(account.collect_events()[-1]) is None


@pytest.mark.parametrize("reason, why", [
    ("", "must not be empty"),
    ("   ", "must not be empty"),
    ("x" * (STATUS_REASON_LENGTH_MAX + 1), "longer than 200"),
    ("two\nlines", "control characters"),
    ("a\ttab", "control characters"),
    ("bell\x07", "control characters"),
    ("del\x7f", "control characters"),
])
def test_a_bad_reason_is_refused_and_nothing_changes(reason, why):
    account = member()
    with pytest.raises(ValidationError, match=why):
        account.change_status("frozen", NOW, "ops", reason)
    assert account.status == "active" and len(account.collect_events()) == 1  # only Opened


def test_the_longest_reason_and_any_script_are_taken():
    account = member()
    assert account.change_status("frozen", NOW, "ops", "风" * STATUS_REASON_LENGTH_MAX)
    assert account.collect_events()[-1].reason == "风" * STATUS_REASON_LENGTH_MAX


def test_a_status_change_recorded_before_reasons_loads_unchanged_without_one():
    account = member()
    account.change_status("frozen", NOW, "ops", "will be dropped")
    opened, changed = account.collect_events()
    vars(changed).pop("reason")  # as an event stored before the field existed is decoded
    replayed = changed.mutate(opened.mutate(None))
    assert replayed.status == "frozen" and status_reason(changed) is None


def test_the_ledger_records_the_reason_and_checks_it_first(fund_center):
    alice = fund_center.open_account("member", "mall", "alice", "CNY", "alice").id
    with pytest.raises(ValidationError):
        fund_center.set_account_status(alice, "frozen", by="ops", reason="\x00")
    view = fund_center.set_account_status(alice, "frozen", by="ops", reason="court order 7", idempotency_key="f-1")
    assert view.status == "frozen"
    again = fund_center.set_account_status(alice, "frozen", by="ops", reason="court order 7", idempotency_key="f-1")
    assert again == view
    changes = [e for e in fund_center.events.get(alice) if isinstance(e, Account.StatusChanged)]
    assert [(e.status, e.by, e.reason) for e in changes] == [("frozen", "ops", "court order 7")]


# -- over HTTP, on SQLite and PostgreSQL ----------------------------------------------------------


def status_events(api, account):
    events = api.get("/v1/events?limit=1000", who="auditor").json()["events"]
    return [(e["data"]["status"], e["data"].get("reason")) for e in events
            if e["originator_id"] == account and e["topic"].endswith("Account.StatusChanged")]


def test_http_status_changes_with_and_without_a_reason(api):
    alice, bob = api.open("alice"), api.open("bob")
    frozen = api.post(f"/v1/accounts/{alice}/status", {"status": "frozen", "reason": "chargeback dispute"}, who="operator")
    assert frozen.status_code == 200 and frozen.json()["status"] == "frozen"
    assert api.post(f"/v1/accounts/{alice}/status", {"status": "active"}, who="mall").json()["status"] == "active"
    assert api.post(f"/v1/accounts/{bob}/status", {"status": "closed", "reason": "客户要求销户"}).json()["status"] == "closed"
    assert status_events(api, alice) == [("frozen", "chargeback dispute"), ("active", None)]
    assert status_events(api, bob) == [("closed", "客户要求销户")]


@pytest.mark.parametrize("reason", ["", "x" * 201, "line\nbreak", "nul\x00", 7])
def test_http_a_bad_reason_is_a_validation_problem_and_writes_nothing(api, reason):
    alice = api.open("alice")
    problem_of(api.post(f"/v1/accounts/{alice}/status", {"status": "frozen", "reason": reason}), 422, "validation-error")
    assert api.get(f"/v1/accounts/{alice}").json()["status"] == "active" and status_events(api, alice) == []


def test_http_the_reason_is_part_of_what_an_idempotency_key_stands_for(api):
    alice = api.open("alice")
    first = api.post(f"/v1/accounts/{alice}/status", {"status": "frozen", "reason": "risk"}, key="st-r")
    assert api.post(f"/v1/accounts/{alice}/status", {"status": "frozen", "reason": "risk"}, key="st-r").json() == first.json()
    problem_of(api.post(f"/v1/accounts/{alice}/status", {"status": "frozen", "reason": "other"}, key="st-r"),
               409, "idempotency-conflict")
    problem_of(api.post(f"/v1/accounts/{alice}/status", {"status": "frozen"}, key="st-r"), 409, "idempotency-conflict")


# -- the webhook and the client ---------------------------------------------------------------------


def test_the_status_changed_webhook_carries_the_reason(hooks, receiver):  # noqa: F811 (fixtures)
    hooks.ledger.create_webhook_endpoint(receiver.url, ["account.status_changed"], "mall", "status", "test")
    alice = hooks.member("mall", "alice")
    hooks.ledger.set_account_status(alice, "frozen", reason="suspected fraud")
    hooks.ledger.set_account_status(alice, "active")
    hooks.deliver_all()
    assert [e["data"] for e in receiver.events()] == [
        {"account_id": str(alice), "status": "frozen", "reason": "suspected fraud"},
        {"account_id": str(alice), "status": "active", "reason": None},
    ]


def test_the_client_sets_a_status_with_a_reason(sqlite_url):
    with running_app(sqlite_url) as app_client:
        mall = client_of(app_client, app_client.keys["mall"])
        alice = mall.open_account("alice", "CNY")
        frozen = mall.set_account_status(alice["id"], "frozen", reason="customer reported a lost phone",
                                         idempotency_key="freeze-alice")
        assert frozen["status"] == "frozen"
        assert mall.set_account_status(alice["id"], "frozen", reason="customer reported a lost phone",
                                       idempotency_key="freeze-alice") == frozen
        assert mall.set_account_status(alice["id"], "active")["status"] == "active"
        with pytest.raises(FundCenterError) as refused:
            mall.set_account_status(alice["id"], "frozen", reason="")
        assert (refused.value.status, refused.value.type) == (422, "validation-error")
