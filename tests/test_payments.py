"""Channels end to end through HTTP, with the simulator playing the channels, on SQLite and PostgreSQL:
binding, recharge by each method, withdrawal, failures, fall-over, timeouts settled by query,
duplicate and forged callbacks, and no full card or ID number anywhere in the event store."""

import pytest

from ledger.domain.ids import system_account_id
from ledger.store import Database
from tests.shop import CARD, FEES, ID_NUMBER, PHONE, UNIONPAY_FIRST, configure, luhn_ok


def test_a_card_is_bound_masked_and_can_be_unbound(shop):
    configure(shop, {"withholding": UNIONPAY_FIRST})
    assert luhn_ok(CARD)
    alice = shop.account("alice")
    binding = shop.bind(alice)
    assert (binding["status"], binding["card_masked"], binding["id_number_masked"], binding["phone_masked"]) == (
        "active", "622202*********3446", "110101********7777", "138****5678")
    assert binding["holder_masked"] == "张*" and "unionpay" in binding["channels"]
    bad = shop.bind(alice, card="6222020200112233445")
    assert bad["status"] == "failed" and bad["channels"] == [] and bad["failures"]
    assert shop.ok("DELETE", f"/v1/bindings/{binding['id']}")["status"] == "unbound"
    refused = shop.recharge(alice, 100, binding_id=binding["id"])
    assert (refused.status_code, refused.json()["type"]) == (409, "binding-inactive")
    assert shop.call("GET", f"/v1/bindings/{binding['id']}", who="other").status_code == 404


def test_withholding_recharge_posts_the_money_and_the_fee(shop):
    configure(shop, {"withholding": UNIONPAY_FIRST})
    alice = shop.account("alice")
    binding = shop.bind(alice)["id"]
    first = shop.recharge(alice, 10_000, binding_id=binding, key="rc-1")
    recharge = first.json()
    assert first.status_code == 201, recharge
    assert (first.status_code, recharge["status"], recharge["channel"], recharge["fee"]) == (201, "succeeded", "unionpay", 60)
    assert recharge["decisions"][0]["reason"].startswith("priority 1, fee 60")
    again = shop.recharge(alice, 10_000, binding_id=binding, key="rc-1")
    assert again.json() == recharge
    assert shop.balance(alice)["posted"] == 10_000
    position = recharge["position"]
    suspense = shop.ok("GET", "/v1/reports/suspense", who="admin", params={"min_position": position})["days"]
    assert [(d["channel"], d["pending"]) for d in suspense] == [("unionpay", 10_000 - 60)]
    fee_account = shop.ok("GET", f"/v1/accounts/{system_account_id('fee_expense', 'CNY')}", who="admin")
    assert fee_account["posted"] == -60  # credit-normal: a debit balance of 60
    rows = shop.ok("GET", "/v1/transactions", params={"min_position": position, "kind": "recharge"})["items"]
    assert [(r["status"], r["channel"], r["amount"]) for r in rows] == [("succeeded", "unionpay", 10_000)]
    trial = shop.ok("GET", "/v1/reports/trial-balance", who="admin", params={"min_position": position})
    assert all(c["balanced"] for c in trial["currencies"])


def test_the_catalog_reads_back_as_configured(shop):
    configure(shop, {"withholding": UNIONPAY_FIRST})
    catalog = shop.ok("GET", "/v1/admin/channels", who="operator")
    assert catalog["banks"] == {"icbc": "ICBC", "ccb": "CCB"}
    unionpay = catalog["channels"]["unionpay"]
    assert (unionpay["status"], unionpay["logo_url"]) == ("open", "https://x/unionpay.png")
    assert unionpay["products"]["withholding"]["fee"] == {"rate_bps": 60, "fixed": 0, "minimum": 0, "maximum": None}
    assert catalog["channels"]["alipay"]["products"]["payout"]["banks"]["ccb"]["enabled"] is False
    assert catalog["routes"]["mall/withholding"] == UNIONPAY_FIRST
    assert shop.call("GET", "/v1/admin/channels").status_code == 403  # a business key
    bad = shop.call("POST", "/v1/admin/channels/unionpay/products/withholding",
                    {"banks": {"nobank": {"enabled": True}}}, who="operator")
    assert (bad.status_code, bad.json()["type"]) == (422, "validation-error")
    missing = shop.call("POST", "/v1/admin/channels/nochannel/status", {"status": "closed"}, who="operator")
    assert (missing.status_code, missing.json()["type"]) == (404, "not-found")


def test_a_declined_recharge_moves_nothing(shop):
    configure(shop, {"withholding": [{"channel": "flaky", "priority": 1}]})
    alice = shop.account("alice")
    recharge = shop.recharge(alice, 500, binding_id=shop.bind(alice)["id"]).json()
    assert (recharge["status"], recharge["transfer_ids"]) == ("failed", [])
    assert shop.balance(alice)["posted"] == 0


def test_a_refusing_channel_falls_over_to_the_next_and_says_why(shop):
    configure(shop, {"withholding": [{"channel": "refusing", "priority": 1}, {"channel": "alipay", "priority": 5},
                                     {"channel": "unionpay", "priority": 5}]})
    alice = shop.account("alice")
    recharge = shop.recharge(alice, 10_000, binding_id=shop.bind(alice)["id"]).json()
    assert (recharge["status"], recharge["channel"]) == ("succeeded", "alipay")  # fee 40 beats 60 at priority 5
    assert [(d["channel"], d["chosen"]) for d in recharge["decisions"]] == [("refusing", True), ("refusing", False), ("alipay", True)]
    assert recharge["decisions"][1]["reason"] == "down for maintenance"


def test_no_channel_available(shop):
    configure(shop, {"withholding": UNIONPAY_FIRST})
    alice = shop.account("alice")
    binding = shop.bind(alice)["id"]
    for code in ("unionpay", "alipay"):
        shop.ok("POST", f"/v1/admin/channels/{code}/status", {"status": "closed"}, who="operator")
    response = shop.recharge(alice, 100, binding_id=binding, key="none")
    assert (response.status_code, response.json()["type"]) == (409, "no-channel-available")
    assert "unionpay: channel closed" in response.json()["detail"]
    assert shop.recharge(alice, 100, binding_id=binding, key="none").json()["type"] == "no-channel-available"


def test_daily_limit_moves_routing_to_the_next_channel(shop):
    configure(shop, {"withholding": UNIONPAY_FIRST})
    shop.ok("POST", "/v1/admin/channels/unionpay/products/withholding",
            {"fee": FEES["unionpay"].as_dict(), "banks": {"icbc": {"enabled": True, "limit_per_day": 15_000}}}, who="operator")
    alice = shop.account("alice")
    binding = shop.bind(alice)["id"]
    first = shop.recharge(alice, 10_000, binding_id=binding).json()
    shop.ok("GET", "/v1/transactions", params={"min_position": first["position"]})
    second = shop.recharge(alice, 10_000, binding_id=binding).json()
    assert (first["channel"], second["channel"]) == ("unionpay", "alipay")
    assert "daily limit 15000 reached" in second["decisions"][0]["skipped"][0]["reason"]


def test_auth_pay_waits_for_the_sms_code(shop):
    configure(shop, {"auth_pay": UNIONPAY_FIRST})
    alice = shop.account("alice")
    recharge = shop.recharge(alice, 2_000, method="auth_pay", binding_id=shop.bind(alice)["id"]).json()
    assert recharge["status"] == "awaiting_confirmation"
    code = shop.channels["unionpay"].sms_code(recharge["id"])
    wrong = shop.call("POST", f"/v1/recharges/{recharge['id']}/confirm", {"sms_code": "000000" if code != "000000" else "111111"})
    assert (wrong.status_code, wrong.json()["type"]) == (409, "wrong-sms-code")
    confirmed = shop.ok("POST", f"/v1/recharges/{recharge['id']}/confirm", {"sms_code": code})
    assert confirmed["status"] == "succeeded" and shop.balance(alice)["posted"] == 2_000
    assert shop.ok("GET", f"/v1/recharges/{recharge['id']}")["status"] == "succeeded"


@pytest.mark.parametrize("method", ["personal_ebank", "enterprise_ebank"])
def test_ebank_redirects_then_a_signed_callback_settles_it_once(shop, method):
    configure(shop, {method: UNIONPAY_FIRST})
    alice = shop.account("alice")
    recharge = shop.recharge(alice, 3_000, method=method, bank="ccb").json()
    assert recharge["status"] == "redirected" and recharge["redirect_url"].startswith("https://")
    shop.channels["unionpay"].complete_redirects()
    callbacks = shop.channels["unionpay"].pending_callbacks()
    assert len(callbacks) == 1
    body, headers = callbacks[0]
    forged = shop.client.post("/v1/channels/unionpay/notifications", content=body.replace(b"3000", b"9000"), headers=headers)
    assert (forged.status_code, forged.json()["type"]) == (401, "callback-rejected")
    unsigned = shop.client.post("/v1/channels/unionpay/notifications", content=body)
    assert unsigned.status_code == 401
    settled = shop.client.post("/v1/channels/unionpay/notifications", content=body, headers=headers)
    assert settled.status_code == 200 and settled.json()["status"] == "succeeded"
    replayed = shop.client.post("/v1/channels/unionpay/notifications", content=body, headers=headers)
    assert replayed.json() == settled.json()
    assert shop.balance(alice)["posted"] == 3_000


def test_a_timeout_is_settled_by_query(shop):
    configure(shop, {"withholding": [{"channel": "slow", "priority": 1}, {"channel": "unionpay", "priority": 2}]})
    alice = shop.account("alice")
    recharge = shop.recharge(alice, 700, binding_id=shop.bind(alice)["id"]).json()
    assert (recharge["status"], recharge["channel"]) == ("pending", "slow")  # no fall-over: it may have gone through
    assert shop.balance(alice)["posted"] == 0
    shop.ok("GET", "/v1/transactions", params={"min_position": recharge["position"]})
    swept = shop.ok("POST", "/v1/admin/payments/sweep", {"older_than_s": 0}, who="operator")
    assert [(p["id"], p["status"]) for p in swept] == [(recharge["id"], "succeeded")]
    assert shop.balance(alice)["posted"] == 700


def test_withdrawal_holds_captures_fails_and_returns(shop):
    configure(shop, {"withholding": UNIONPAY_FIRST, "payout": UNIONPAY_FIRST})
    alice = shop.account("alice")
    binding = shop.bind(alice)["id"]
    shop.recharge(alice, 10_000, binding_id=binding)
    withdrawal = shop.ok("POST", "/v1/withdrawals", {"account": alice, "amount": 4_000, "currency": "CNY", "binding_id": binding})
    assert (withdrawal["status"], withdrawal["fee"]) == ("succeeded", 24)
    view = shop.balance(alice)
    assert (view["posted"], view["pending_debits"], view["available"]) == (6_000, 0, 6_000)
    too_much = shop.call("POST", "/v1/withdrawals", {"account": alice, "amount": 6_001, "currency": "CNY", "binding_id": binding})
    assert (too_much.status_code, too_much.json()["type"]) == (409, "insufficient-funds")
    shop.channels["unionpay"].return_payout(withdrawal["id"])
    [returned] = shop.deliver("unionpay")
    assert returned.json()["status"] == "returned"
    assert shop.balance(alice)["posted"] == 10_000
    assert shop.ok("GET", f"/v1/withdrawals/{withdrawal['id']}")["status"] == "returned"
    configure(shop, {"payout": [{"channel": "flaky", "priority": 1}]})
    failed = shop.ok("POST", "/v1/withdrawals", {"account": alice, "amount": 1_000, "currency": "CNY", "binding_id": binding})
    assert failed["status"] == "failed"
    view = shop.balance(alice)
    assert (view["posted"], view["available"]) == (10_000, 10_000)


def test_no_full_card_or_id_number_anywhere_in_the_event_store(shop):
    configure(shop, {"withholding": UNIONPAY_FIRST, "payout": UNIONPAY_FIRST})
    alice = shop.account("alice")
    binding = shop.bind(alice)["id"]
    shop.recharge(alice, 1_000, binding_id=binding)
    shop.ok("POST", "/v1/withdrawals", {"account": alice, "amount": 100, "currency": "CNY", "binding_id": binding})
    database = Database.from_url(shop.url)
    with database.connect() as conn:
        table = "stored_events" if database.kind == "sqlite" else "fundcenter_events"
        states = [bytes(row[0]) for row in conn.execute(f"SELECT state FROM {table}").fetchall()]
    assert states
    for secret in (CARD, ID_NUMBER, PHONE, CARD[-10:]):
        assert not any(secret.encode() in state for state in states), secret


def test_payments_of_another_business_do_not_exist(shop):
    configure(shop, {"withholding": UNIONPAY_FIRST})
    alice = shop.account("alice")
    binding = shop.bind(alice)["id"]
    recharge = shop.recharge(alice, 100, binding_id=binding).json()
    assert shop.call("GET", f"/v1/recharges/{recharge['id']}", who="other").status_code == 404
    assert shop.call("POST", "/v1/recharges", {"account": alice, "amount": 1, "currency": "CNY", "method": "withholding",
                                               "binding_id": binding}, who="other").status_code == 404


def test_recent_success_rates_break_routing_ties(shop):
    tied = [{"channel": "flaky", "priority": 1}, {"channel": "unionpay", "priority": 1}]
    configure(shop, {"withholding": tied})
    # flaky (fee 10 bps) is cheaper than unionpay (60 bps), so it goes first... until its failures show.
    for code in ("flaky", "unionpay"):
        shop.ok("POST", f"/v1/admin/channels/{code}/products/withholding",
                {"fee": {"rate_bps": 30}, "banks": {"icbc": {"enabled": True}}}, who="operator")
    alice = shop.account("alice")
    binding = shop.bind(alice)["id"]
    first = shop.recharge(alice, 1_000, binding_id=binding).json()
    assert (first["channel"], first["status"]) == ("flaky", "failed")  # same priority and fee: by code
    shop.ok("GET", "/v1/transactions", params={"min_position": first["position"]})
    second = shop.recharge(alice, 1_000, binding_id=binding).json()
    assert (second["channel"], second["status"]) == ("unionpay", "succeeded")
    assert "success rate 100.00%" in second["decisions"][0]["reason"]
