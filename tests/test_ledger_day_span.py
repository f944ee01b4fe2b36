"""The accounting day a posting records, found once per day: the ledger keeps the open day's bounds
and answers the next postings from them, and the answers are those of `AccountingDay.day_of`."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from ledger import FundCenter
from ledger.clock import SteppingClock
from ledger.domain.accounting_day import AccountingDay
from ledger.domain.transfers import Transfer

MICROSECOND = timedelta(microseconds=1)


@pytest.mark.parametrize("zone, cutoff", [("UTC", time(0, 0)), ("Asia/Shanghai", time(0, 0)),
                                          ("America/New_York", time(17, 30))])
def test_a_steady_days_bounds_hold_its_instants_and_no_others(zone, cutoff):
    accounting_day = AccountingDay(zone, cutoff)
    day = date(2026, 11, 25)
    start, end = accounting_day.steady_bounds(day)
    assert accounting_day.day_of(start) == day == accounting_day.day_of(end - MICROSECOND)
    assert accounting_day.day_of(start - MICROSECOND) == day - timedelta(days=1)
    assert accounting_day.day_of(end) == day + timedelta(days=1)


def test_a_day_the_clocks_change_has_no_steady_bounds():
    new_york = AccountingDay("America/New_York", time(0, 0))
    assert new_york.steady_bounds(date(2026, 3, 8)) is None  # summer time starts
    assert new_york.steady_bounds(date(2026, 11, 1)) is None  # and ends
    assert new_york.steady_bounds(date(2026, 11, 2)) is not None


def test_postings_across_a_cutoff_record_each_their_own_day(fund_center_on_a_clock):
    fc, clock = fund_center_on_a_clock
    a = fc.open_account("member", "mall", "a", "CNY")
    b = fc.open_account("member", "mall", "b", "CNY")
    fc.book_recharge(a.id, 1_000, "CNY", "alipay", "rc")
    ids = []
    for n, moment in enumerate([datetime(2026, 11, 25, 15, 59, 59, 999_999, tzinfo=UTC),  # 23:59:59.999999 Shanghai
                                datetime(2026, 11, 25, 16, 0, tzinfo=UTC),  # midnight in Shanghai
                                datetime(2026, 11, 26, 15, 59, tzinfo=UTC)]):
        clock.set(moment)
        ids.append(fc.transfer(a.id, b.id, 1, "CNY", f"t-{n}").id)
    posted = {event.originator_id: event.day for _, event in fc.read_log() if isinstance(event, Transfer.Posted)}
    assert [posted[i] for i in ids] == ["2026-11-25", "2026-11-26", "2026-11-26"]
    assert fc.day_of(datetime(2026, 11, 25, 15, 0, tzinfo=UTC)) == "2026-11-25"  # an earlier day still answers


@pytest.fixture
def fund_center_on_a_clock(store_url):
    clock = SteppingClock(datetime(2026, 11, 25, 10, 0, tzinfo=UTC), step=timedelta(0))
    fc = FundCenter(store_url, clock=clock, accounting_day=AccountingDay("Asia/Shanghai", time(0, 0)))
    try:
        yield fc, clock
    finally:
        fc.close()
