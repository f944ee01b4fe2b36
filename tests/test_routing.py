"""Routing and fee tables: each rule on its own, then together."""

import pytest

from ledger.domain.errors import ValidationError
from ledger.domain.fees import FeeRule
from ledger.domain.routing import Candidate, rank

FREE = FeeRule()


def c(channel, priority=1, fee=FREE, **kwargs):
    return Candidate(channel=channel, priority=priority, channel_open=kwargs.pop("open", True),
                     bank_enabled=kwargs.pop("bank", True), fee_rule=fee, **kwargs)


def order(candidates, amount=10_000):
    choices, skipped = rank(candidates, amount)
    return [x.channel for x in choices], {s.channel: s.reason for s in skipped}


@pytest.mark.parametrize(
    "rule, amount, fee",
    [
        (FeeRule(rate_bps=60), 10_000, 60),  # 0.6% of 100.00
        (FeeRule(rate_bps=60), 83, 0),  # 0.498 rounds down
        (FeeRule(rate_bps=60), 84, 1),  # 0.504 rounds up
        (FeeRule(rate_bps=50), 100, 1),  # 0.5 exactly: half up
        (FeeRule(rate_bps=10, fixed=30), 10_000, 40),
        (FeeRule(rate_bps=10, minimum=200), 10_000, 200),
        (FeeRule(rate_bps=100, maximum=500), 1_000_000, 500),
        (FeeRule(), 10**15, 0),
    ],
)
def test_fees(rule, amount, fee):
    assert rule.fee(amount) == fee


@pytest.mark.parametrize("bad", [{"rate_bps": -1}, {"rate_bps": 10_001}, {"fixed": 1.5}, {"minimum": 5, "maximum": 4}])
def test_bad_fee_rules_are_refused(bad):
    with pytest.raises(ValidationError):
        FeeRule(**bad)


def test_priority_first():
    assert order([c("b", 2), c("a", 1), c("c", 3)])[0] == ["a", "b", "c"]


def test_lower_fee_breaks_a_priority_tie():
    assert order([c("dear", fee=FeeRule(rate_bps=80)), c("cheap", fee=FeeRule(rate_bps=20))])[0] == ["cheap", "dear"]


def test_higher_success_rate_breaks_a_fee_tie():
    assert order([c("flaky", success_rate_bps=9_000), c("solid", success_rate_bps=9_900)])[0] == ["solid", "flaky"]


def test_closed_channels_and_switched_off_banks_are_skipped():
    chosen, skipped = order([c("shut", open=False), c("nobank", bank=False), c("ok")])
    assert chosen == ["ok"]
    assert skipped == {"shut": "channel closed", "nobank": "bank switched off for this product"}


def test_single_and_daily_limits():
    chosen, skipped = order([
        c("small", limit_per_transaction=9_999),
        c("exact", limit_per_transaction=10_000, priority=2),
        c("spent", limit_per_day=50_000, used_today=40_001),
        c("room", limit_per_day=50_000, used_today=40_000, priority=3),
    ])
    assert chosen == ["exact", "room"]
    assert skipped["small"] == "amount 10000 above the single limit 9999"
    assert skipped["spent"] == "daily limit 50000 reached (40001 used today)"


def test_nothing_can_take_it():
    assert order([c("shut", open=False)])[0] == []
