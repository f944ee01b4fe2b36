"""One accounting day everywhere: suspense, routing's daily limits and success rates, and the
payments view all use the day each transfer and each payment's outcome recorded when it was
booked (the ledger's AccountingDay then), never a UTC date, and never today's configuration."""

from datetime import UTC, date, datetime, time

import pytest

from ledger import FundCenter
from ledger.clock import SteppingClock
from ledger.domain.accounting_day import AccountingDay
from projections import ProjectionRunner, ViewStore
from projections.payments import channel_activity
from projections.suspense import suspense
from projections.verify import replay_and_verify
from tests.shop import FEES, UNIONPAY_FIRST, configure, open_shop

SHANGHAI = {"accounting_timezone": "Asia/Shanghai", "accounting_cutoff": "00:00"}
# Midnight in Shanghai, 2026-11-26 00:00 +08:00, is 2026-11-25 16:00 UTC: both sides share one UTC date.
BEFORE_MIDNIGHT = datetime(2026, 11, 25, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai: accounting day 2026-11-25
AFTER_MIDNIGHT = datetime(2026, 11, 25, 16, 1, tzinfo=UTC)  # 00:01 in Shanghai: accounting day 2026-11-26


def _limited(shop, limit):
    configure(shop, {"withholding": UNIONPAY_FIRST})
    shop.ok("POST", "/v1/admin/channels/unionpay/products/withholding",
            {"fee": FEES["unionpay"].as_dict(), "banks": {"icbc": {"enabled": True, "limit_per_day": limit}}},
            who="operator")
    alice = shop.account("alice")
    return alice, shop.bind(alice)["id"]


def _recharge(shop, clock, moment, alice, binding, amount=10_000):
    clock.set(moment)
    recharge = shop.recharge(alice, amount, binding_id=binding).json()
    assert recharge["status"] == "succeeded", recharge
    shop.ok("GET", "/v1/transactions", params={"min_position": recharge["position"]})  # routing reads the view
    return recharge


def test_payments_either_side_of_midnight_in_shanghai_land_on_their_own_accounting_day(store_url):
    clock = SteppingClock(datetime(2026, 11, 25, 15, 0, tzinfo=UTC))
    with open_shop(store_url, clock=clock, **SHANGHAI) as shop:
        alice, binding = _limited(shop, 15_000)
        before = _recharge(shop, clock, BEFORE_MIDNIGHT, alice, binding)
        after = _recharge(shop, clock, AFTER_MIDNIGHT, alice, binding)
        # A new accounting day: unionpay's daily limit starts again, though the UTC date is the same.
        assert (before["channel"], after["channel"]) == ("unionpay", "unionpay")
        third = _recharge(shop, clock, datetime(2026, 11, 25, 16, 2, tzinfo=UTC), alice, binding)
        assert third["channel"] == "alipay"
        assert "daily limit 15000 reached" in third["decisions"][0]["skipped"][0]["reason"]

        days = shop.ok("GET", "/v1/reports/suspense", who="admin", params={"min_position": third["position"]})["days"]
        assert [(d["day"], d["channel"], d["pending"]) for d in days] == [
            ("2026-11-25", "unionpay", 10_000 - 60),
            ("2026-11-26", "alipay", 10_000 - 40),
            ("2026-11-26", "unionpay", 10_000 - 60),
        ]
        one_day = shop.ok("GET", "/v1/reports/suspense", who="admin", params={"day": "2026-11-25"})["days"]
        assert [d["pending"] for d in one_day] == [10_000 - 60]

        events = shop.ok("GET", "/v1/events", who="admin", params={"limit": 1000})["events"]
        booked = {e["data"]["day"] for e in events if e["topic"].endswith("Transfer.Posted")}
        assert booked == {"2026-11-25", "2026-11-26"}
        settled = [e["data"]["day"] for e in events if e["topic"].endswith("Payment.Succeeded")
                   or e["topic"].endswith("Recharge.Succeeded")]
        assert settled == ["2026-11-25", "2026-11-26", "2026-11-26"]


def test_the_daily_limit_does_not_restart_at_utc_midnight_inside_one_accounting_day(store_url):
    # 23:59 and 00:01 UTC are 07:59 and 08:01 in Shanghai: one accounting day, two UTC dates.
    clock = SteppingClock(datetime(2026, 11, 25, 23, 0, tzinfo=UTC))
    with open_shop(store_url, clock=clock, **SHANGHAI) as shop:
        alice, binding = _limited(shop, 15_000)
        first = _recharge(shop, clock, datetime(2026, 11, 25, 23, 59, tzinfo=UTC), alice, binding)
        second = _recharge(shop, clock, datetime(2026, 11, 26, 0, 1, tzinfo=UTC), alice, binding)
        assert (first["channel"], second["channel"]) == ("unionpay", "alipay")
        days = shop.ok("GET", "/v1/reports/suspense", who="admin", params={"min_position": second["position"]})["days"]
        assert {d["day"] for d in days} == {"2026-11-26"}


def test_the_views_read_the_recorded_day_so_a_replay_under_another_configuration_is_identical(store_url):
    clock = SteppingClock(datetime(2026, 11, 25, 15, 0, tzinfo=UTC))
    with open_shop(store_url, clock=clock, **SHANGHAI) as shop:
        alice, binding = _limited(shop, 1_000_000)
        _recharge(shop, clock, BEFORE_MIDNIGHT, alice, binding)
        last = _recharge(shop, clock, AFTER_MIDNIGHT, alice, binding)
        shop.ok("GET", "/v1/transactions", params={"min_position": last["position"]})
    # Reopened under another accounting day (UTC): the log says which day each booking was.
    fc = FundCenter(store_url, clock=clock, accounting_day=AccountingDay("UTC"))
    views = ViewStore(fc.database)
    try:
        ProjectionRunner(fc, views).catch_up()
        report = replay_and_verify(fc, views)
        assert report.ok, report.problems
        assert [d["day"] for d in suspense(views, channel="unionpay")] == ["2026-11-25", "2026-11-26"]
        used, _ = channel_activity(views, "withholding", "icbc", "2026-11-26")
        assert used == {"unionpay": 10_000}
        settled = {r["settled_day"] for r in views.query("SELECT settled_day FROM payments")}
        assert settled == {"2026-11-25", "2026-11-26"}
    finally:
        views.close()
        fc.close()


@pytest.mark.parametrize("cutoff, moment, day", [
    (time(0, 0), datetime(2026, 11, 25, 15, 59, tzinfo=UTC), date(2026, 11, 25)),
    (time(0, 0), datetime(2026, 11, 25, 16, 0, tzinfo=UTC), date(2026, 11, 26)),
    # A day runs from its cut-off to the next day's: 22:59 on the 25th is still the 24th's day.
    (time(23, 0), datetime(2026, 11, 25, 14, 59, tzinfo=UTC), date(2026, 11, 24)),  # 22:59 local
    (time(23, 0), datetime(2026, 11, 25, 15, 0, tzinfo=UTC), date(2026, 11, 25)),  # 23:00 local
])
def test_a_transfer_records_the_accounting_day_of_its_own_time_stamp(store_url, cutoff, moment, day):
    now = [moment]
    fc = FundCenter(store_url, clock=lambda: now[0], accounting_day=AccountingDay("Asia/Shanghai", cutoff))
    try:
        alice = fc.open_account("member", "mall", "alice", "CNY")
        adjustment = fc.adjust(alice.id, 100, "CNY", "credit", "seed", idempotency_key="a-1")
        posted = [e for _, e in fc.read_log() if type(e).__qualname__ == "Transfer.Posted"]
        assert [(e.day, e.timestamp) for e in posted] == [(day.isoformat(), moment)]
        assert fc.get_transfer(adjustment.id) is not None and fc.today() == day.isoformat()
    finally:
        fc.close()
