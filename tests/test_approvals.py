"""Four-eyes approval through HTTP against the real app: a held command answers 202 and moves
nothing; another holder's key with the permission runs it once; the maker's own key, or another
key of the maker's holder, is 403 four-eyes; rejection, expiry by the injected clock, concurrent
approvals, and each kind the default policy holds."""

import threading
from datetime import timedelta
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import bootstrap
from api.settings import ApprovalPolicy
from tests.api_client import Api, problem_of
from tests.config import BUSINESS_HOURS, DAY, settings_for
from tests.shop import UNIONPAY_FIRST, configure, open_shop

EXPIRES_AFTER_S = 3600
THRESHOLD_CNY = 1_000_000  # 10,000.00: the default policy holds adjustments above it


class SteppingClock:
    def __init__(self):
        self.now = BUSINESS_HOURS()

    def __call__(self):
        return self.now


# (name, role, business, holder): "finance-twin" is another key of finance's holder.
HOLDERS = [
    ("admin", "admin", None, "ann"), ("admin2", "admin", None, "abe"), ("finance", "finance", None, "carol"),
    ("finance2", "finance", None, "dave"), ("finance3", "finance", None, "erin"),
    ("finance-twin", "finance", None, "carol"), ("operator", "operator", None, "olga"),
    ("operator2", "operator", None, "oscar"), ("auditor", "auditor", None, "aud"), ("mall", "business", "mall", "mall"),
]


def keys_with_holders(settings, clock):
    """A key for each of HOLDERS, made through the bootstrap before the app starts: name -> bearer token."""
    with bootstrap(settings, clock=clock) as system:
        return {name: system.ledger.create_api_key(role, business, name=name, holder=holder)[1]
                for name, role, business, holder in HOLDERS}


@pytest.fixture
def clock():
    return SteppingClock()


@pytest.fixture
def held(store_url, clock):
    """The app with the default approval policy (approvals expire after an hour), keys of several holders."""
    settings = settings_for(store_url, approval_policy=ApprovalPolicy(expires_after_s=EXPIRES_AFTER_S))
    keys = keys_with_holders(settings, clock)
    with TestClient(create_app(settings=settings, clock=clock)) as client:
        yield Api(client, keys)


def adjust(api, account, amount, who="finance", key=None, currency="CNY", direction="credit"):
    body = {"account": account, "amount": amount, "currency": currency, "direction": direction, "reason": "correction"}
    return api.post("/v1/admin/adjustments", body, who=who, key=key)


def posted(api, account):
    return api.get(f"/v1/accounts/{account}", who="admin").json()["posted"]


def pending(response):
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "pending" and response.headers["location"] == f"/v1/approvals/{body['approval_id']}"
    return body["approval_id"]


def approval_events(api, approval_id):
    events = api.get("/v1/events?limit=1000", who="auditor").json()["events"]
    return [(e["topic"].rpartition(".")[2], e["data"]) for e in events if e["originator_id"] == approval_id]


def test_a_big_adjustment_waits_then_another_holders_approval_posts_it_once(held):
    api = held
    alice = api.open("alice")
    approval_id = pending(adjust(api, alice, THRESHOLD_CNY + 1, key="big-1"))
    assert posted(api, alice) == 0  # nothing moved

    head = api.client.app.state.services.ledger.head()
    listed = api.get(f"/v1/approvals?status=pending&min_position={head}", who="operator")
    assert [a["id"] for a in listed.json()["items"]] == [approval_id]
    waiting = api.get(f"/v1/approvals/{approval_id}", who="finance2").json()
    assert (waiting["kind"], waiting["status"], waiting["permission"], waiting["command_type"]) == (
        "adjustment", "pending", "adjustments:create", "Adjust")
    assert waiting["command"]["amount"] == THRESHOLD_CNY + 1 and waiting["requested_by_holder"] == "carol"
    assert pending(adjust(api, alice, THRESHOLD_CNY + 1, key="big-1")) == approval_id  # the maker's retry: the same
    problem_of(adjust(api, alice, THRESHOLD_CNY + 2, key="big-1"), 409, "idempotency-conflict")

    done = api.post(f"/v1/approvals/{approval_id}/approve", who="finance2", key="approve-1")
    assert done.status_code == 200, done.text
    approved = done.json()
    assert (approved["status"], approved["decided_by_holder"], approved["problem"]) == ("executed", "dave", None)
    assert approved["result"]["amount"] == THRESHOLD_CNY + 1 and approved["result"]["kind"] == "adjustment"
    assert posted(api, alice) == THRESHOLD_CNY + 1

    # Once: the approver's retries (with its key, or another), the maker's retry and another approver change nothing.
    head = api.client.app.state.services.ledger.head()
    assert api.post(f"/v1/approvals/{approval_id}/approve", who="finance2", key="approve-1").json() == approved
    assert api.client.app.state.services.ledger.head() == head  # nothing written
    assert api.post(f"/v1/approvals/{approval_id}/approve", who="finance2").json()["result"] == approved["result"]
    again = adjust(api, alice, THRESHOLD_CNY + 1, key="big-1")
    assert again.status_code == 202 and again.json()["status"] == "executed"
    problem_of(api.post(f"/v1/approvals/{approval_id}/approve", who="finance3"), 409, "approval-not-pending")
    assert posted(api, alice) == THRESHOLD_CNY + 1
    head = api.client.app.state.services.ledger.head()
    assert api.get(f"/v1/approvals?status=pending&min_position={head}", who="admin").json()["items"] == []
    executed = api.get("/v1/approvals?status=executed", who="admin").json()["items"]
    assert [a["id"] for a in executed] == [approval_id]

    # Every step is an event with its actor: the maker's key, then the approver's.
    steps = approval_events(api, approval_id)
    assert [name for name, _ in steps] == ["Requested", "Approved", "Executed"]
    assert steps[0][1]["requested_by"] == waiting["requested_by"] and steps[1][1]["by"] == approved["decided_by"]
    assert steps[2][1]["by"] == approved["decided_by"]
    assert steps[0][1]["requested_by"] != steps[1][1]["by"]


def test_the_makers_key_or_holder_may_not_decide_and_a_role_without_the_permission_may_not(held):
    api = held
    alice = api.open("alice")
    approval_id = pending(adjust(api, alice, 5_000_000))
    for who in ("finance", "finance-twin"):  # the maker's key; another key of the maker's holder
        body = problem_of(api.post(f"/v1/approvals/{approval_id}/approve", who=who), 403, "four-eyes")
        assert "another holder" in body["detail"]
        problem_of(api.post(f"/v1/approvals/{approval_id}/reject", {"reason": "no"}, who=who), 403, "four-eyes")
    problem_of(api.post(f"/v1/approvals/{approval_id}/approve", who="operator"), 403, "forbidden")  # no adjustments
    problem_of(api.get(f"/v1/approvals/{approval_id}", who="mall"), 403, "forbidden")  # business keys see none
    assert api.get(f"/v1/approvals/{approval_id}", who="admin").json()["status"] == "pending"
    assert posted(api, alice) == 0


def test_a_rejection_keeps_its_reason_and_nothing_runs(held):
    api = held
    alice = api.open("alice")
    approval_id = pending(adjust(api, alice, 5_000_000))
    problem_of(api.post(f"/v1/approvals/{approval_id}/reject", {"reason": " "}, who="finance2"), 422, "validation-error")
    rejected = api.post(f"/v1/approvals/{approval_id}/reject", {"reason": "no ticket for this"}, who="finance2",
                        key="reject-1")
    assert rejected.status_code == 200, rejected.text
    assert (rejected.json()["status"], rejected.json()["reason"], rejected.json()["result"]) == (
        "rejected", "no ticket for this", None)
    problem_of(api.post(f"/v1/approvals/{approval_id}/approve", who="finance3"), 409, "approval-not-pending")
    problem_of(api.post(f"/v1/approvals/{approval_id}/approve", who="finance2", key="reject-1"), 409, "idempotency-conflict")
    assert posted(api, alice) == 0
    assert [name for name, _ in approval_events(api, approval_id)] == ["Requested", "Rejected"]


def test_an_approval_expires_by_the_injected_clock(held, clock):
    api = held
    alice = api.open("alice")
    approval_id = pending(adjust(api, alice, 5_000_000))
    clock.now += timedelta(seconds=EXPIRES_AFTER_S - 1)
    assert api.get(f"/v1/approvals/{approval_id}", who="admin").json()["status"] == "pending"
    clock.now += timedelta(seconds=1)
    assert api.get(f"/v1/approvals/{approval_id}", who="admin").json()["status"] == "expired"
    head = api.client.app.state.services.ledger.head()
    assert api.get(f"/v1/approvals?status=pending&min_position={head}", who="admin").json()["items"] == []
    assert [a["id"] for a in api.get("/v1/approvals?status=expired", who="admin").json()["items"]] == [approval_id]
    problem_of(api.post(f"/v1/approvals/{approval_id}/approve", who="finance2"), 409, "approval-expired")
    problem_of(api.post(f"/v1/approvals/{approval_id}/approve", who="finance3"), 409, "approval-expired")
    assert posted(api, alice) == 0
    steps = approval_events(api, approval_id)
    assert [name for name, _ in steps] == ["Requested", "Expired"]  # recorded once, by whoever found it past its time


def test_two_concurrent_approvals_run_the_command_exactly_once(held):
    api = held
    alice = api.open("alice")
    approval_id = pending(adjust(api, alice, 7_000_000))
    start = threading.Barrier(2)
    answers = {}

    def approve(who):
        start.wait()
        answers[who] = api.post(f"/v1/approvals/{approval_id}/approve", who=who, key=f"approve-{who}")

    threads = [threading.Thread(target=approve, args=(who,)) for who in ("finance2", "finance3")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers.values()) == [200, 409], {w: a.text for w, a in answers.items()}
    assert posted(api, alice) == 7_000_000
    assert [name for name, _ in approval_events(api, approval_id)] == ["Requested", "Approved", "Executed"]
    statement = api.get(f"/v1/accounts/{alice}/statement?min_position={api.client.app.state.services.ledger.head()}",
                        who="admin").json()
    assert [e["amount"] for e in statement["entries"]] == [7_000_000]


def test_an_approval_whose_run_was_cut_short_runs_on_the_approvers_retry_once(held):
    api = held
    alice = api.open("alice")
    approval_id = pending(adjust(api, alice, 3_000_000))
    ledger = api.client.app.state.services.ledger
    finance2 = str(UUID(hex=api.keys["finance2"].split("_")[1]))
    ledger.approve(UUID(approval_id), finance2, "dave")  # `Approved` saved; then the process died before the run
    assert api.get(f"/v1/approvals/{approval_id}", who="admin").json()["status"] == "approved"
    assert posted(api, alice) == 0
    problem_of(api.post(f"/v1/approvals/{approval_id}/approve", who="finance3"), 409, "approval-not-pending")
    retried = api.post(f"/v1/approvals/{approval_id}/approve", who="finance2").json()
    assert retried["status"] == "executed" and retried["result"]["amount"] == 3_000_000
    assert api.post(f"/v1/approvals/{approval_id}/approve", who="finance2").json()["status"] == "executed"
    assert posted(api, alice) == 3_000_000


def test_below_the_threshold_runs_at_once_compared_exactly_in_minor_units(held):
    api = held
    alice, yen = api.open("alice"), api.open("yen", currency="JPY")
    assert adjust(api, alice, THRESHOLD_CNY).status_code == 201  # 10,000.00 is not above 10,000.00
    assert posted(api, alice) == THRESHOLD_CNY
    assert adjust(api, yen, 10_000, currency="JPY").status_code == 201  # JPY has no minor digits: 10,000 yen
    pending(adjust(api, yen, 10_001, currency="JPY"))
    assert posted(api, yen) == 10_000


def test_a_refused_command_is_recorded_as_problem_details(held):
    api = held
    alice = api.open("alice")
    approval_id = pending(adjust(api, alice, 2_000_000, direction="debit"))  # alice has nothing to take
    failed = api.post(f"/v1/approvals/{approval_id}/approve", who="finance2").json()
    assert failed["status"] == "failed" and failed["result"] is None
    assert (failed["problem"]["type"], failed["problem"]["status"]) == ("insufficient-funds", 409)
    assert api.get(f"/v1/approvals?status=failed&min_position={failed['position']}", who="admin").json()["items"][0]["id"] == approval_id


def test_channel_close_route_limit_and_role_changes_wait(held):
    api = held
    op = "operator"
    assert api.post("/v1/admin/banks", {"code": "icbc", "name": "ICBC"}, who=op).status_code == 201
    assert api.post("/v1/admin/channels", {"code": "unionpay", "name": "UnionPay"}, who=op).status_code == 201
    product = {"fee": {"rate_bps": 60}, "banks": {"icbc": {"enabled": True}}}
    assert api.post("/v1/admin/channels/unionpay/products/withholding", product, who=op).status_code == 200  # no limit
    limited = {"fee": {"rate_bps": 60}, "banks": {"icbc": {"enabled": True, "limit_per_day": 5_000_000}}}
    limit_change = pending(api.post("/v1/admin/channels/unionpay/products/withholding", limited, who=op))
    route = {"business_id": "mall", "method": "withholding", "channels": [{"channel": "unionpay", "priority": 1}]}
    route_change = pending(api.post("/v1/admin/routes", route, who=op))
    assert api.post("/v1/admin/channels/unionpay/status", {"status": "open"}, who=op).status_code == 200  # opening: at once
    close = pending(api.post("/v1/admin/channels/unionpay/status", {"status": "closed"}, who=op))
    auditor_id = api.get(f"/v1/admin/api-keys?min_position={api.client.app.state.services.ledger.head()}",
                         who="admin").json()["items"]
    auditor_id = next(k["id"] for k in auditor_id if k["name"] == "auditor")
    grant = pending(api.post(f"/v1/admin/api-keys/{auditor_id}/role", {"role": "finance"}, who="admin"))
    head = api.client.app.state.services.ledger.head()
    kinds = {a["id"]: a["kind"] for a in api.get(f"/v1/approvals?status=pending&min_position={head}", who="admin").json()["items"]}
    assert kinds == {limit_change: "limit_change", route_change: "route_change", close: "channel_close",
                     grant: "role_grant"}
    first = api.get("/v1/approvals?status=pending&limit=3", who="admin").json()
    rest = api.get(f"/v1/approvals?status=pending&limit=3&cursor={first['next_cursor']}", who="admin").json()
    assert [a["id"] for a in first["items"] + rest["items"]] == [limit_change, route_change, close, grant]
    assert rest["next_cursor"] is None
    assert [a["id"] for a in api.get("/v1/approvals?kind=route_change", who="admin").json()["items"]] == [route_change]
    catalog = api.get("/v1/admin/channels", who=op).json()
    assert catalog["channels"]["unionpay"]["status"] == "open" and catalog["routes"] == {}

    problem_of(api.post(f"/v1/approvals/{close}/approve", who="finance2"), 403, "forbidden")  # needs channels:manage
    assert api.post(f"/v1/approvals/{close}/approve", who="operator2").json()["status"] == "executed"
    assert api.post(f"/v1/approvals/{route_change}/approve", who="operator2").json()["status"] == "executed"
    assert api.post(f"/v1/approvals/{limit_change}/approve", who="admin").json()["status"] == "executed"
    catalog = api.get("/v1/admin/channels", who=op).json()
    assert catalog["channels"]["unionpay"]["status"] == "closed"
    assert catalog["channels"]["unionpay"]["products"]["withholding"]["banks"]["icbc"]["limit_per_day"] == 5_000_000
    assert catalog["routes"]["mall/withholding"][0]["channel"] == "unionpay"

    problem_of(api.post(f"/v1/approvals/{grant}/approve", who="admin"), 403, "four-eyes")  # the maker
    granted = api.post(f"/v1/approvals/{grant}/approve", who="admin2").json()
    assert granted["status"] == "executed" and granted["result"]["role"] == "finance"


def test_a_key_is_made_with_its_holder(held):
    api = held
    made = api.post("/v1/admin/api-keys", {"role": "finance", "name": "carol's laptop", "holder": "carol"}, who="admin")
    assert made.status_code == 201 and made.json()["holder"] == "carol"
    anonymous = api.post("/v1/admin/api-keys", {"role": "finance"}, who="admin").json()
    assert anonymous["holder"] == anonymous["id"]  # without a holder, the key is its own
    api.keys["laptop"] = made.json()["key"]
    approval_id = pending(adjust(api, api.open("alice"), 5_000_000))  # by finance, held by carol
    problem_of(api.post(f"/v1/approvals/{approval_id}/approve", who="laptop"), 403, "four-eyes")


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_write_off_and_book_difference_wait(store_url):
    only_reconciliation = ApprovalPolicy(adjustment_above=None, channel_close=False, route_change=False,
                                         limit_change=False, role_grant=False)
    with open_shop(store_url, approval_policy=only_reconciliation) as shop:
        configure(shop, {"withholding": UNIONPAY_FIRST})
        member = shop.account("m1")
        binding = shop.bind(member)["id"]
        for n in range(3):
            assert shop.recharge(member, 10_000 + n, binding_id=binding).status_code == 201
        text = shop.channels["unionpay"].statement(DAY, extra=1, change_amount=1)
        rec = shop.ok("POST", "/v1/reconciliations", {"channel": "unionpay", "date": DAY.isoformat(), "file": text},
                      who="admin")
        differences = shop.ok("GET", f"/v1/reconciliations/{rec['id']}/differences", who="admin")["items"]
        actions = {"missing_in_ledger": "write_off", "amount_mismatch": "book_difference"}
        waiting = {}
        for d in differences:
            answer = shop.call("POST", f"/v1/reconciliations/{rec['id']}/differences/{d['seq']}/resolve",
                               {"action": actions[d["class"]], "reason": "checked"}, who="admin")
            waiting[actions[d["class"]]] = pending(answer)
        assert shop.ok("GET", f"/v1/reconciliations/{rec['id']}", who="admin")["open_differences"] == 2

        second = shop.ok("POST", "/v1/admin/api-keys", {"role": "finance", "holder": "second"}, who="admin")
        shop.keys["second"] = second["key"]
        for action, approval_id in waiting.items():
            done = shop.ok("POST", f"/v1/approvals/{approval_id}/approve", who="second")
            assert (done["kind"], done["status"]) == (action, "executed")
            assert done["result"]["resolution"]["action"] == action
        assert shop.ok("GET", f"/v1/reconciliations/{rec['id']}", who="admin")["open_differences"] == 0


# -- the domain and the policy, without I/O ---------------------------------------------------------


def new_approval(expires_at):
    from uuid import uuid4

    from ledger.domain.approvals import Approval

    return Approval(id=uuid4(), kind="adjustment", permission="adjustments:create", command={"type": "t", "fields": {}},
                    request_hash="h", requested_by="maker-key", requested_by_holder="carol", expires_at=expires_at)


def test_an_approval_is_decided_once_by_another_holder_and_keeps_one_outcome():
    from ledger.domain.approvals import ApprovalNotPending, FourEyes

    now = BUSINESS_HOURS()
    approval = new_approval(now + timedelta(hours=1))
    with pytest.raises(FourEyes):
        approval.approve("maker-key", "someone")
    with pytest.raises(FourEyes):
        approval.approve("other-key", "carol")
    approval.approve("checker-key", "dave")
    with pytest.raises(ApprovalNotPending):
        approval.reject("third-key", "erin", "late")
    assert approval.record_execution({"id": "t1"}, None, "checker-key")
    assert not approval.record_execution({"id": "t2"}, None, "checker-key")
    assert (approval.status, approval.result) == ("executed", {"id": "t1"})
    assert not approval.expire("anyone", now + timedelta(days=2))  # decided: it never expires


def test_an_approval_expires_at_its_time_by_the_clock_given():
    from ledger.domain.approvals import ApprovalExpired

    now = BUSINESS_HOURS()
    approval = new_approval(now + timedelta(hours=1))
    assert approval.status_at(now + timedelta(minutes=59)) == "pending" and not approval.expire("k", now)
    assert approval.status_at(now + timedelta(hours=1)) == "expired" and approval.status == "pending"
    assert approval.expire("k", now + timedelta(hours=1)) and approval.status == "expired"
    with pytest.raises(ApprovalExpired):
        approval.approve("checker-key", "dave")


def test_every_command_an_approval_holds_reads_back_as_it_was_asked():
    from uuid import uuid4

    from ledger import commands as c
    from ledger.approval_commands import ResolveDifference, decode_command, encode_command
    from ledger.domain.errors import ValidationError
    from ledger.domain.fees import FeeRule

    held = [c.Adjust(uuid4(), 1_000_001, "CNY", "credit", "why", "staff/k", "by"),
            c.SetChannelStatus("up", "closed", idempotency_key="staff/k", by="by"),
            c.SetRoute("mall", "withholding", [{"channel": "up", "priority": 1}], idempotency_key="staff/k", by="by"),
            c.ConfigureProduct("up", "payout", FeeRule(rate_bps=5, maximum=100), {"icbc": {"limit_per_day": 9}},
                               idempotency_key="staff/k", by="by"),
            c.GrantRole(uuid4(), "finance", None, "by", "staff/k"),
            ResolveDifference(uuid4(), 3, "write_off", "why", "staff/k", "by")]
    for command in held:
        assert decode_command(encode_command(command)) == command
    with pytest.raises(ValidationError):
        decode_command({"type": "ledger.commands:PostTransfer", "fields": {}})  # not one an approval may hold


def test_the_policy_compares_amounts_exactly_and_holds_only_limit_changes():
    from uuid import uuid4

    from api.service.approvals import held_kind
    from ledger import commands as c
    from ledger.domain.channels import Catalog
    from ledger.domain.fees import FeeRule

    policy = ApprovalPolicy(adjustment_above="0.015")  # kept exactly: 1.5 minor units of CNY, 15 of KWD
    account = uuid4()
    assert held_kind(policy, c.Adjust(account, 1, "CNY", "credit", "r", "k")) is None
    assert held_kind(policy, c.Adjust(account, 2, "CNY", "credit", "r", "k")) == "adjustment"
    assert held_kind(policy, c.Adjust(account, 15, "KWD", "credit", "r", "k")) is None
    assert held_kind(policy, c.Adjust(account, 16, "KWD", "credit", "r", "k")) == "adjustment"
    assert held_kind(ApprovalPolicy.off(), c.Adjust(account, 10**15, "CNY", "credit", "r", "k")) is None

    catalog = Catalog(id=uuid4())
    catalog.register_bank("icbc", "ICBC")
    catalog.register_channel("up", "UnionPay", "")
    catalog.configure_product("up", "payout", FeeRule(), {"icbc": {"enabled": True, "limit_per_day": 500}})

    def product(banks, fee=None):
        return held_kind(ApprovalPolicy(), c.ConfigureProduct("up", "payout", fee or FeeRule(), banks), catalog)

    assert product({"icbc": {"enabled": True, "limit_per_day": 500}}, FeeRule(rate_bps=9)) is None  # the fee only
    assert product({"icbc": {"enabled": True, "limit_per_day": 600}}) == "limit_change"
    assert product({"icbc": {"enabled": False, "limit_per_day": 500}}) == "limit_change"  # a bank switched off
    assert product({}) == "limit_change"  # its limit dropped
    assert product({"icbc": {"limit_per_day": 500}, "ccb": {"enabled": True}}) is None  # a new bank, on, no limit
