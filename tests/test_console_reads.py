"""The reads the console's Channels and Reports pages add to the API's services, on SQLite and
PostgreSQL: today's outcomes per channel and bank, and suspense over days for a chart."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from api.service.channels import Channels
from api.service.reports import Reports
from ledger.domain.access import Principal, Role
from ledger.domain.errors import ValidationError
from tests.config import DAY
from tests.shop import configure

TIED = [{"channel": "flaky", "priority": 1}, {"channel": "unionpay", "priority": 1}]


def staff(shop, service, role):
    services = shop.client.app.state.services
    return services, service(services, Principal(uuid4(), role, None))


def recharges(shop):
    """flaky declines the first (cheaper, same priority), unionpay takes the next ones: two banks."""
    configure(shop, {"withholding": TIED})
    for code in ("flaky", "unionpay"):
        shop.ok("POST", f"/v1/admin/channels/{code}/products/withholding",
                {"fee": {"rate_bps": 30}, "banks": {"icbc": {"enabled": True}, "ccb": {"enabled": True}}}, who="operator")
    alice, bob = shop.account("alice"), shop.account("bob")
    alice_card, bob_card = shop.bind(alice)["id"], shop.bind(bob, bank="ccb")["id"]
    done = [shop.recharge(alice, 1_000, binding_id=alice_card).json()]
    shop.ok("GET", "/v1/transactions", params={"min_position": done[0]["position"]})
    done.append(shop.recharge(alice, 2_000, binding_id=alice_card).json())
    done.append(shop.recharge(bob, 5_000, binding_id=bob_card).json())
    assert [(p["channel"], p["status"]) for p in done] == [
        ("flaky", "failed"), ("unionpay", "succeeded"), ("unionpay", "succeeded")]
    return done


def test_todays_outcomes_per_channel_and_bank(shop):
    done = recharges(shop)
    services, operator = staff(shop, Channels, Role.OPERATOR)
    services.wait_for(done[-1]["position"])
    activity = operator.activity()
    assert activity["day"] == DAY.isoformat()
    assert [(r["channel"], r["bank"], r["succeeded"], r["failed"], r["amount_succeeded"], r["success_rate_bps"])
            for r in activity["rows"]] == [("flaky", "icbc", 0, 1, 0, 0), ("unionpay", "ccb", 1, 0, 5_000, 10_000),
                                           ("unionpay", "icbc", 1, 0, 2_000, 10_000)]
    assert [(c["channel"], c["currency"], c["succeeded"], c["failed"], c["amount_succeeded"], c["success_rate_bps"])
            for c in activity["channels"]] == [("flaky", "CNY", 0, 1, 0, 0), ("unionpay", "CNY", 2, 0, 7_000, 10_000)]
    assert [(b["bank"], b["succeeded"], b["failed"], b["amount_succeeded"], b["success_rate_bps"])
            for b in activity["banks"]] == [("ccb", 1, 0, 5_000, 10_000), ("icbc", 1, 1, 2_000, 5_000)]
    yesterday = operator.activity((DAY - timedelta(days=1)).isoformat())
    assert (yesterday["rows"], yesterday["channels"], yesterday["banks"]) == ([], [], [])


def test_suspense_over_days_has_every_day_and_each_channels_series(shop):
    done = recharges(shop)
    services, finance = staff(shop, Reports, Role.FINANCE)
    services.wait_for(done[-1]["position"])
    over = finance.suspense_over(days=3)
    assert over["days"] == [(DAY - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    fee = done[1]["fee"] + done[2]["fee"]  # as the channel charged them
    assert fee > 0
    assert [(s["channel"], s["currency"], s["pending"], s["reconciled"]) for s in over["series"]] == [
        ("unionpay", "CNY", [0, 0, 7_000 - fee], [0, 0, 0])]
    assert [(r["day"], r["channel"], r["pending"]) for r in over["rows"]] == [(DAY.isoformat(), "unionpay", 7_000 - fee)]
    before = finance.suspense_over(days=2, last=(DAY - timedelta(days=1)).isoformat())
    assert (before["series"], before["rows"]) == ([], [])
    assert finance.suspense_over(days=1, channel="alipay")["series"] == []
    for days in (0, 367):
        with pytest.raises(ValidationError):
            finance.suspense_over(days=days)
    for last in ("yesterday", "0001-01-01", "9999-12-31"):
        with pytest.raises(ValidationError):
            finance.suspense_over(last=last)


def test_a_route_preview_says_where_a_payment_would_go_and_records_nothing(shop):
    configure(shop, {"withholding": [{"channel": "unionpay", "priority": 1}, {"channel": "alipay", "priority": 2}]})
    services, operator = staff(shop, Channels, Role.OPERATOR)
    preview = operator.route_preview("mall", "withholding", "icbc", 10_000)
    assert [(c["channel"], c["priority"], c["fee"]) for c in preview["choices"]] == [("unionpay", 1, 60), ("alipay", 2, 40)]
    assert preview["choices"][0]["reason"].startswith("priority 1, fee 60")
    shop.ok("POST", "/v1/admin/channels/unionpay/status", {"status": "closed"}, who="operator")
    head = services.ledger.head()
    closed = operator.route_preview("mall", "withholding", "icbc", 10_000)
    assert [c["channel"] for c in closed["choices"]] == ["alipay"]
    assert closed["skipped"] == [{"channel": "unionpay", "reason": "channel closed"}]
    assert operator.route_preview("mall", "withholding", "ccb", 10_000)["skipped"][-1] == {
        "channel": "alipay", "reason": "bank switched off for this product"}
    assert services.ledger.head() == head  # a preview records nothing
    for wrong in (("mall", "barter", "icbc", 1), ("mall", "withholding", "icbc", 0), ("m all", "withholding", "icbc", 1)):
        with pytest.raises(ValidationError):
            operator.route_preview(*wrong)


def test_the_trial_balance_summary_sums_customers_per_kind_and_lists_system_accounts(shop):
    done = recharges(shop)
    services, finance = staff(shop, Reports, Role.FINANCE)
    services.wait_for(done[-1]["position"])
    summary = finance.trial_balance_summary(None)
    full = finance.trial_balance(None, False, None)
    assert summary["currencies"] == full["currencies"] and all(c["balanced"] for c in summary["currencies"])
    assert [(k["kind"], k["accounts"], k["debit"], k["credit"]) for k in summary["kinds"]] == [("member", 2, 0, 7_000)]
    system = {(a["role"], a["channel"]): (a["debit"], a["credit"]) for a in summary["system"]}
    fee = done[1]["fee"] + done[2]["fee"]
    assert system == {("pending_reconciliation", "unionpay"): (7_000 - fee, 0), ("fee_expense", None): (fee, 0)}
    before = finance.trial_balance_summary(datetime(2000, 1, 1, tzinfo=UTC))
    assert (before["kinds"], before["system"], before["currencies"]) == ([], [], [])
