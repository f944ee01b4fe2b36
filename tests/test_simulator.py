"""The channel simulator: deterministic from its seed, and faithful to the Gateway interface."""

import csv
import io
import json
import secrets
import threading
from datetime import UTC, date, datetime

import pytest

from ledger.channels.gateway import (
    Callback,
    CardVerification,
    ChannelUnavailable,
    ForgedCallback,
    Gateway,
    GatewayRegistry,
    Method,
    Outcome,
    StatementLine,
    Submission,
)
from ledger.channels.simulator import SimulatedChannel, luhn_valid

SECRET = secrets.token_bytes(32)  # each run its own: no secret is a constant

DAY = date(2026, 11, 25)
ID_NUMBER, PHONE = "110101199003077777", "13812345678"
HEADER = "channel_txn_id,reference,kind,amount,fee,status,time"


def luhn_ok(number):
    """An independent Luhn check, to build test cards with."""
    digits = [int(d) for d in reversed(number)]
    return sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits)) % 10 == 0


def with_check_digit(prefix):
    return next(prefix + str(d) for d in range(10) if luhn_ok(prefix + str(d)))


CARD = with_check_digit("622202020011223344")  # 19 digits
OTHER_CARD = with_check_digit("621700000000123")  # 16 digits
BAD_CARD = CARD[:-1] + str((int(CARD[-1]) + 1) % 10)


class Clock:
    """A fixed clock that a test can move."""

    def __init__(self, now=datetime(2026, 11, 25, 10, 0, tzinfo=UTC)):
        self.now = now

    def __call__(self):
        return self.now


def channel(code="sim", clock=None, **kwargs):
    return SimulatedChannel(code, secret=SECRET, clock=clock or Clock(), fee_rule=lambda method, amount: amount // 100, **kwargs)


def verify(sim, card=CARD, id_number=ID_NUMBER, phone=PHONE, bank="icbc"):
    return sim.verify_card(CardVerification("binding-1", bank, "张三", id_number, card, phone))


def pay(sim, reference, method=Method.WITHHOLDING, amount=10_000, bank="icbc"):
    agreement = verify(sim, bank=bank).agreement if method in (Method.WITHHOLDING, Method.AUTH_PAY, Method.PAYOUT) else None
    return sim.submit(Submission(reference, method, amount, "CNY", bank, agreement))


def rows(text):
    return list(csv.DictReader(io.StringIO(text)))


# -- the interface -----------------------------------------------------------------------


def test_it_is_a_gateway():
    sim: Gateway = channel("unionpay")
    registry = GatewayRegistry()
    registry.add(sim)
    assert registry.get("unionpay") is sim
    for name in ("verify_card", "submit", "confirm", "query", "parse_callback", "statement"):
        assert callable(getattr(sim, name))


def test_rates_must_be_probabilities():
    for kwargs in ({"success_rate": 1.5}, {"timeout_rate": -0.1}, {"bank_success_rates": {"icbc": 2.0}}, {"latency_ms": -1}):
        with pytest.raises(ValueError):
            SimulatedChannel("sim", secret=SECRET, **kwargs)


# -- determinism -------------------------------------------------------------------------


def test_outcomes_are_decided_by_the_seed_not_by_call_order():
    references = [f"r{n}" for n in range(200)]
    one, two = channel(seed=1, success_rate=0.5), channel(seed=1, success_rate=0.5)
    first = {r: pay(one, r).outcome for r in references}
    second = {r: pay(two, r).outcome for r in reversed(references)}
    assert first == second
    assert {r: one.sms_code(r) for r in references} == {r: two.sms_code(r) for r in references}
    assert 60 < sum(outcome == Outcome.SUCCEEDED for outcome in first.values()) < 140
    other = channel(seed=2, success_rate=0.5)
    assert {r: pay(other, r).outcome for r in references} != first
    assert {r: other.sms_code(r) for r in references} != {r: one.sms_code(r) for r in references}


def test_the_same_reference_on_another_channel_is_decided_apart():
    references = [f"r{n}" for n in range(200)]
    one, two = channel("one", success_rate=0.5), channel("two", success_rate=0.5)
    assert [pay(one, r).outcome for r in references] != [pay(two, r).outcome for r in references]


def test_success_rates_zero_one_and_per_bank():
    assert all(pay(channel(success_rate=1.0), f"r{n}").outcome == Outcome.SUCCEEDED for n in range(50))
    assert all(pay(channel(success_rate=0.0), f"r{n}").outcome == Outcome.FAILED for n in range(50))
    sim = channel(success_rate=1.0, bank_success_rates={"icbc": 0.0, "ccb": 1.0})
    assert pay(sim, "r1", bank="icbc").outcome == Outcome.FAILED
    assert pay(sim, "r2", bank="ccb").outcome == Outcome.SUCCEEDED
    assert pay(sim, "r3", bank="abc").outcome == Outcome.SUCCEEDED  # no rate of its own: the channel's
    strict = channel(success_rate=0.0, bank_success_rates={"ccb": 1.0})
    assert pay(strict, "r1", bank="ccb").outcome == Outcome.SUCCEEDED
    assert pay(strict, "r2", bank="abc").outcome == Outcome.FAILED


# -- card verification -------------------------------------------------------------------


@pytest.mark.parametrize(
    "card, id_number, phone, message",
    [
        (BAD_CARD, ID_NUMBER, PHONE, "invalid card number"),  # fails Luhn
        ("12345", ID_NUMBER, PHONE, "invalid card number"),  # too short
        (with_check_digit("6" * 19), ID_NUMBER, PHONE, "invalid card number"),  # 20 digits
        ("6222 0202 0011 2233", ID_NUMBER, PHONE, "invalid card number"),
        ("٦٢٢٢٠٢٠٢٠٠١١٢٢٣٣٤٤٦", ID_NUMBER, PHONE, "invalid card number"),  # not ASCII digits
        ("", ID_NUMBER, PHONE, "invalid card number"),
        (CARD, ID_NUMBER[:-1], PHONE, "invalid id number"),
        (CARD, ID_NUMBER + "1", PHONE, "invalid id number"),
        (CARD, ID_NUMBER[:-1] + "Y", PHONE, "invalid id number"),
        (CARD, "X" + ID_NUMBER[1:], PHONE, "invalid id number"),
        (CARD, ID_NUMBER, PHONE[:-1], "invalid phone number"),
        (CARD, ID_NUMBER, PHONE + "0", "invalid phone number"),
        (CARD, ID_NUMBER, "+8613812345", "invalid phone number"),
    ],
)
def test_card_verification_checks(card, id_number, phone, message):
    result = verify(channel(), card, id_number, phone)
    assert (result.outcome, result.message, result.agreement) == (Outcome.FAILED, message, None)


def test_verification_gives_an_agreement_not_the_card():
    sim = channel("unionpay")
    assert luhn_valid(CARD) and luhn_valid(OTHER_CARD) and not luhn_valid(BAD_CARD)
    result = verify(sim, id_number=ID_NUMBER[:-1] + "X")
    assert (result.outcome, result.fee, result.reference) == (Outcome.SUCCEEDED, 0, "binding-1")
    assert result.agreement.startswith("unionpay-agr-") and len(result.agreement) == len("unionpay-agr-") + 12
    assert CARD not in result.agreement and CARD[-4:] not in result.agreement
    assert verify(sim, id_number=ID_NUMBER[:-1] + "x").outcome == Outcome.SUCCEEDED
    assert verify(sim).agreement == result.agreement  # the same card, the same agreement
    assert verify(channel("unionpay")).agreement == result.agreement
    assert verify(sim, OTHER_CARD).agreement != result.agreement
    assert verify(channel("unionpay", seed=9)).agreement != result.agreement


# -- submit ------------------------------------------------------------------------------


def test_submit_is_idempotent():
    sim = channel()
    first = pay(sim, "r1")
    assert (first.outcome, first.fee, first.channel_txn_id, first.message) == (Outcome.SUCCEEDED, 100, sim.channel_txn_id("r1"), "")
    assert pay(sim, "r1") == first
    assert sim.submit(Submission("r1", Method.WITHHOLDING, 99_999, "CNY", "icbc", "whatever")) == first
    assert pay(sim, "r2").channel_txn_id == sim.channel_txn_id("r2") != sim.channel_txn_id("r1")
    assert len(sim.statement_lines(DAY)) == 2


def test_submit_checks_the_amount_and_the_agreement():
    sim = channel()
    for amount in (0, -5):
        result = pay(sim, f"zero{amount}", amount=amount)
        assert (result.outcome, result.channel_txn_id) == (Outcome.FAILED, None)
    for method in (Method.WITHHOLDING, Method.AUTH_PAY, Method.PAYOUT):
        for agreement in ("nope", None, verify(channel("elsewhere")).agreement):
            result = sim.submit(Submission(f"{method}-{agreement}", method, 100, "CNY", "icbc", agreement))
            assert (result.outcome, result.message, result.channel_txn_id) == (Outcome.FAILED, "unknown agreement", None)
    assert sim.statement_lines(DAY) == []  # refused: no transaction at all
    assert pay(sim, "r1").channel_txn_id == sim.channel_txn_id("r1")


def test_withholding_is_final_at_once():
    ok = pay(channel(), "r1", amount=12_345)
    assert (ok.outcome, ok.fee, ok.message) == (Outcome.SUCCEEDED, 123, "")
    declined = pay(channel(success_rate=0.0), "r1", amount=12_345)
    assert (declined.outcome, declined.fee, declined.message) == (Outcome.FAILED, 0, "declined by bank")


def test_no_fee_rule_means_no_fee():
    sim = SimulatedChannel("sim", secret=SECRET, clock=Clock())
    assert pay(sim, "r1").fee == 0


# -- auth_pay ----------------------------------------------------------------------------


def test_auth_pay_waits_for_the_right_sms_code():
    sim = channel()
    waiting = pay(sim, "r1", Method.AUTH_PAY, amount=2_000)
    assert (waiting.outcome, waiting.channel_txn_id) == (Outcome.AWAITING_CONFIRMATION, sim.channel_txn_id("r1"))
    code = sim.sms_code("r1")
    assert len(code) == 6 and code.isdigit() and sim.sms_code("r1") == code
    assert sim.query("r1").outcome == Outcome.AWAITING_CONFIRMATION
    confirmed = sim.confirm("r1", code)
    assert (confirmed.outcome, confirmed.fee) == (Outcome.SUCCEEDED, 20)
    assert sim.confirm("r1", code) == confirmed and sim.query("r1") == confirmed
    assert sim.confirm("r1", "bad") == confirmed  # final: a code changes nothing any more


def test_auth_pay_with_the_right_code_can_still_be_declined():
    sim = channel(success_rate=0.0)
    pay(sim, "r1", Method.AUTH_PAY)
    declined = sim.confirm("r1", sim.sms_code("r1"))
    assert (declined.outcome, declined.message) == (Outcome.FAILED, "declined by bank")


def wrong(sim, reference):
    code = sim.sms_code(reference)
    return "000000" if code != "000000" else "111111"


def test_a_wrong_sms_code_keeps_it_waiting():
    sim = channel()
    pay(sim, "r1", Method.AUTH_PAY)
    for code in (wrong(sim, "r1"), "１２３４５６"):  # a code in full-width digits is just wrong too
        result = sim.confirm("r1", code)
        assert (result.outcome, result.message, result.channel_txn_id) == (Outcome.FAILED, "wrong sms code", sim.channel_txn_id("r1"))
        assert sim.query("r1").outcome == Outcome.AWAITING_CONFIRMATION
    assert sim.confirm("r1", sim.sms_code("r1")).outcome == Outcome.SUCCEEDED  # the third try may be right


def test_three_wrong_sms_codes_fail_it_for_good():
    sim = channel()
    pay(sim, "r1", Method.AUTH_PAY)
    results = [sim.confirm("r1", wrong(sim, "r1")) for _ in range(3)]
    assert [(r.outcome, r.message) for r in results] == [
        (Outcome.FAILED, "wrong sms code"), (Outcome.FAILED, "wrong sms code"), (Outcome.FAILED, "too many wrong sms codes")]
    assert [sim.query("r1").outcome, sim.confirm("r1", sim.sms_code("r1")).outcome] == [Outcome.FAILED, Outcome.FAILED]
    assert sim.query("r1").fee == 0
    [line] = sim.statement_lines(DAY)
    assert (line.status, line.fee) == ("failed", 0)


def test_confirming_what_is_not_awaiting():
    sim = channel()
    assert sim.confirm("never", "123456").outcome == Outcome.UNKNOWN
    done = pay(sim, "r1")
    assert sim.confirm("r1", "123456") == done


# -- e-banking and callbacks -------------------------------------------------------------


@pytest.mark.parametrize("method", [Method.PERSONAL_EBANK, Method.ENTERPRISE_EBANK])
def test_ebank_redirects_and_reports_by_signed_callback(method):
    sim = channel("unionpay")
    result = sim.submit(Submission("r1", method, 5_000, "CNY", "icbc"))
    assert (result.outcome, result.channel_txn_id) == (Outcome.REDIRECT, sim.channel_txn_id("r1"))
    assert result.redirect_url == f"https://sim.unionpay.bank/pay/{sim.channel_txn_id('r1')}"
    assert sim.submit(Submission("r1", method, 5_000, "CNY", "icbc")) == result
    assert sim.pending_callbacks() == [] and sim.statement_lines(DAY) == []
    sim.complete_redirects()
    [(body, headers)] = sim.pending_callbacks()
    assert sim.pending_callbacks() == []  # handed over once
    assert headers == {"X-Sim-Signature": sim.sign(body)}
    data = json.loads(body)
    assert set(data) == {"reference", "channel_txn_id", "outcome", "amount", "fee", "notification_id", "sent_at"}
    assert data["sent_at"] == "2026-11-25T10:00:00Z"
    callback = sim.parse_callback(body, headers)
    assert callback == Callback("r1", sim.channel_txn_id("r1"), Outcome.SUCCEEDED, 5_000, 50, data["notification_id"])
    assert data["notification_id"] == channel("unionpay").notification_id("r1", Outcome.SUCCEEDED)  # the same after a restart
    assert sim.parse_callback(body, {"x-sim-signature": headers["X-Sim-Signature"]}) == callback
    assert sim.parse_callback(body, headers) == callback  # a replay parses the same: the ledger is idempotent
    assert sim.query("r1").outcome == Outcome.SUCCEEDED
    sim.complete_redirects()
    assert sim.pending_callbacks() == []  # nothing new finished


def test_each_finished_ebank_payment_gets_its_own_notification():
    sim = channel(success_rate=0.0, bank_success_rates={"ccb": 1.0})
    for n, bank in enumerate(["icbc", "ccb", "icbc"]):
        sim.submit(Submission(f"r{n}", Method.PERSONAL_EBANK, 1_000 + n, "CNY", bank))
    pay(sim, "w1")  # withholding: no callback
    sim.complete_redirects()
    callbacks = [sim.parse_callback(body, headers) for body, headers in sim.pending_callbacks()]
    assert [(c.reference, c.outcome, c.fee) for c in callbacks] == [
        ("r0", Outcome.FAILED, 0), ("r1", Outcome.SUCCEEDED, 10), ("r2", Outcome.FAILED, 0)]
    assert len({c.notification_id for c in callbacks}) == 3


def test_querying_an_ebank_payment_settles_it_and_the_bank_still_notifies():
    sim = channel()
    sim.submit(Submission("r1", Method.ENTERPRISE_EBANK, 5_000, "CNY", "icbc"))
    assert sim.query("r1").outcome == Outcome.SUCCEEDED
    [(body, headers)] = sim.pending_callbacks()
    assert sim.parse_callback(body, headers).outcome == Outcome.SUCCEEDED
    sim.complete_redirects()
    assert sim.pending_callbacks() == []


def signed(sim, data):
    body = json.dumps(data).encode()
    return body, {"X-Sim-Signature": sim.sign(body)}


GOOD = {"reference": "r1", "channel_txn_id": "sim-00000001", "outcome": "succeeded", "amount": 5000, "fee": 50,
        "notification_id": "sim-n-1", "sent_at": "2026-11-25T10:00:00Z"}


def test_a_well_formed_signed_body_parses():
    sim = channel()
    assert sim.parse_callback(*signed(sim, GOOD)) == Callback("r1", GOOD["channel_txn_id"], Outcome.SUCCEEDED, 5000, 50, "sim-n-1")


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda sim, body, headers: (body.replace(b"5000", b"5001"), headers), id="tampered body"),
        pytest.param(lambda sim, body, headers: (body, {}), id="no signature"),
        pytest.param(lambda sim, body, headers: (body, {"X-Sim-Signature": ""}), id="empty signature"),
        pytest.param(lambda sim, body, headers: (body, {"X-Sim-Signature": "00" * 32}), id="wrong signature"),
        pytest.param(lambda sim, body, headers: (body, {"X-Sim-Signature": headers["X-Sim-Signature"].upper()}), id="upper hex"),
        pytest.param(lambda sim, body, headers: (body, {"X-Sim-Signature": "é" * 64}), id="not ascii"),
        pytest.param(lambda sim, body, headers: (body, {"X-Other": headers["X-Sim-Signature"]}), id="other header"),
        pytest.param(lambda sim, body, headers: (body, {"X-Sim-Signature": SimulatedChannel("sim", secret=b"x").sign(body)}),
                     id="other secret"),
        pytest.param(lambda sim, body, headers: (b"not json", {"X-Sim-Signature": sim.sign(b"not json")}), id="bad json"),
        pytest.param(lambda sim, body, headers: (b"\xff\xfe", {"X-Sim-Signature": sim.sign(b"\xff\xfe")}), id="not utf-8"),
        pytest.param(lambda sim, body, headers: signed(sim, [GOOD]), id="not an object"),
        pytest.param(lambda sim, body, headers: signed(sim, {k: v for k, v in GOOD.items() if k != "fee"}), id="missing key"),
        pytest.param(lambda sim, body, headers: signed(sim, {**GOOD, "outcome": "paid"}), id="unknown outcome"),
        pytest.param(lambda sim, body, headers: signed(sim, {**GOOD, "outcome": "pending"}), id="not a final outcome"),
        pytest.param(lambda sim, body, headers: signed(sim, {**GOOD, "amount": "5000"}), id="amount as text"),
        pytest.param(lambda sim, body, headers: signed(sim, {**GOOD, "amount": 50.5}), id="amount not whole"),
        pytest.param(lambda sim, body, headers: signed(sim, {**GOOD, "fee": -1}), id="negative fee"),
        pytest.param(lambda sim, body, headers: signed(sim, {**GOOD, "reference": None}), id="reference null"),
        pytest.param(lambda sim, body, headers: signed(sim, {**GOOD, "notification_id": 7}), id="id a number"),
    ],
)
def test_forged_or_malformed_callbacks_are_rejected(forge):
    sim = channel()
    body, headers = signed(sim, GOOD)
    forged_body, forged_headers = forge(sim, body, headers)
    with pytest.raises(ForgedCallback):
        sim.parse_callback(forged_body, forged_headers)


# -- payouts -----------------------------------------------------------------------------


def test_payout_and_its_return():
    clock = Clock()
    sim = channel(clock=clock)
    paid = pay(sim, "p1", Method.PAYOUT, amount=4_000)
    assert (paid.outcome, paid.fee) == (Outcome.SUCCEEDED, 40)
    assert sim.pending_callbacks() == []  # a payout's result came with the answer
    clock.now = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    sim.return_payout("p1")
    [(body, headers)] = sim.pending_callbacks()
    assert sim.parse_callback(body, headers) == Callback(
        "p1", sim.channel_txn_id("p1"), Outcome.RETURNED, 4_000, 40, sim.notification_id("p1", Outcome.RETURNED))
    assert sim.query("p1").outcome == Outcome.RETURNED
    assert sim.submit(Submission("p1", Method.PAYOUT, 4_000, "CNY", "icbc", verify(sim).agreement)).outcome == Outcome.RETURNED
    with pytest.raises(ValueError):
        sim.return_payout("p1")  # once only
    assert [(line.status, line.kind) for line in sim.statement_lines(date(2026, 11, 26))] == [("returned", "payout")]


def test_only_a_succeeded_payout_can_be_returned():
    sim = channel(bank_success_rates={"ccb": 0.0})
    pay(sim, "failed", Method.PAYOUT, bank="ccb")
    pay(sim, "recharge", Method.WITHHOLDING)
    for reference in ("failed", "recharge", "never"):
        with pytest.raises(ValueError):
            sim.return_payout(reference)
    assert sim.pending_callbacks() == []


# -- timeouts and latency ----------------------------------------------------------------


def test_a_timeout_is_answered_later_by_query():
    sim = channel(timeout_rate=1.0)
    with pytest.raises(ChannelUnavailable):
        pay(sim, "r1")
    assert sim.statement_lines(DAY) == []  # not final yet on the channel's side either
    assert pay(sim, "r1").outcome == Outcome.PENDING  # the same reference again: no second transaction
    settled = sim.query("r1")
    assert (settled.outcome, settled.fee, settled.channel_txn_id) == (Outcome.SUCCEEDED, 100, sim.channel_txn_id("r1"))
    assert sim.query("r1") == settled
    assert sim.query("nobody").outcome == Outcome.UNKNOWN


def test_a_timed_out_failure_and_a_timed_out_redirect():
    sim = channel(timeout_rate=1.0, success_rate=0.0)
    with pytest.raises(ChannelUnavailable):
        pay(sim, "r1", Method.PAYOUT)
    assert (sim.query("r1").outcome, sim.query("r1").message) == (Outcome.FAILED, "declined by bank")
    with pytest.raises(ChannelUnavailable):
        pay(sim, "r2", Method.PERSONAL_EBANK)
    sim.complete_redirects()
    [(body, headers)] = sim.pending_callbacks()
    assert sim.parse_callback(body, headers).outcome == Outcome.FAILED


def test_timeouts_follow_the_rate_and_the_seed():
    sim = channel(timeout_rate=0.3)
    timed_out = set()
    for n in range(300):
        try:
            pay(sim, f"r{n}")
        except ChannelUnavailable:
            timed_out.add(f"r{n}")
    assert 50 < len(timed_out) < 130
    assert all(sim.query(reference).outcome == Outcome.SUCCEEDED for reference in timed_out)
    again = channel(timeout_rate=0.3)
    for n in reversed(range(300)):
        try:
            pay(again, f"r{n}")
            assert f"r{n}" not in timed_out
        except ChannelUnavailable:
            assert f"r{n}" in timed_out


def test_latency_sleeps_in_submit_confirm_and_query(monkeypatch):
    slept = []
    monkeypatch.setattr("ledger.channels.simulator.time.sleep", slept.append)
    sim = channel(latency_ms=250)
    agreement = verify(sim).agreement
    slept.clear()
    sim.submit(Submission("r1", Method.AUTH_PAY, 100, "CNY", "icbc", agreement))
    sim.confirm("r1", sim.sms_code("r1"))
    sim.query("r1")
    assert slept == [0.25, 0.25, 0.25]
    slept.clear()
    pay(channel(), "r1")
    assert slept == []


# -- the statement -----------------------------------------------------------------------


def day_of_business():
    """Succeeded, failed, waiting, redirected and returned transactions, over two days."""
    clock = Clock()
    sim = channel("unionpay", clock=clock, bank_success_rates={"ccb": 0.0})
    pay(sim, "r1", amount=10_000)  # 00000001 succeeded
    pay(sim, "r2", amount=2_000, bank="ccb")  # 00000002 failed
    pay(sim, "r3", Method.AUTH_PAY)  # 00000003 still waiting for its code
    sim.submit(Submission("r4", Method.PERSONAL_EBANK, 3_000, "CNY", "icbc"))  # 00000004 redirected
    pay(sim, "p1", Method.PAYOUT, amount=4_000)  # 00000005 succeeded, returned the next day
    clock.now = datetime(2026, 11, 25, 23, 59, 59, 500_000, tzinfo=UTC)
    pay(sim, "r6", amount=600)  # 00000006
    clock.now = datetime(2026, 11, 26, 0, 0, 1, tzinfo=UTC)
    sim.return_payout("p1")
    sim.complete_redirects()
    return sim


def test_the_statement_lists_the_day_final_outcomes():
    sim = day_of_business()
    assert sim.statement(DAY).endswith("Z\n")
    assert sim.statement(DAY).splitlines() == [HEADER, *sorted([
        f"{sim.channel_txn_id('r1')},r1,recharge,10000,100,succeeded,2026-11-25T10:00:00Z",
        f"{sim.channel_txn_id('r2')},r2,recharge,2000,0,failed,2026-11-25T10:00:00Z",
        f"{sim.channel_txn_id('r6')},r6,recharge,600,6,succeeded,2026-11-25T23:59:59.500000Z",
    ])]
    assert sim.statement(date(2026, 11, 26)).splitlines() == [HEADER, *sorted([
        f"{sim.channel_txn_id('r4')},r4,recharge,3000,30,succeeded,2026-11-26T00:00:01Z",
        f"{sim.channel_txn_id('p1')},p1,payout,4000,40,returned,2026-11-26T00:00:01Z",
    ])]
    assert sim.statement(date(2026, 11, 24)) == HEADER + "\n"
    assert StatementLine(sim.channel_txn_id("r1"), "r1", "recharge", 10_000, 100, "succeeded",
                         datetime(2026, 11, 25, 10, 0, tzinfo=UTC)) in sim.statement_lines(DAY)
    assert sorted(line.reference for line in sim.statement_lines(DAY)) == ["r1", "r2", "r6"]


def test_the_statement_day_is_the_utc_day():
    from datetime import timedelta, timezone

    beijing = timezone(timedelta(hours=8))
    sim = channel(clock=Clock(datetime(2026, 11, 26, 7, 0, tzinfo=beijing)))  # 2026-11-25 23:00 UTC
    pay(sim, "r1")
    assert [row["time"] for row in rows(sim.statement(DAY))] == ["2026-11-25T23:00:00Z"]
    assert rows(sim.statement(date(2026, 11, 26))) == []


def busy_day(count=20):
    sim = channel(success_rate=0.7)
    for n in range(count):
        pay(sim, f"r{n:02d}", amount=1_000 + n)
    return sim, {row["channel_txn_id"]: row for row in rows(sim.statement(DAY))}


def differences(clean, dirty):
    changed = {key: [field for field in row if row[field] != dirty[key][field]] for key, row in clean.items() if key in dirty}
    return {key: fields for key, fields in changed.items() if fields}


def test_injected_drops():
    sim, clean = busy_day()
    dirty = {row["channel_txn_id"]: row for row in rows(sim.statement(DAY, drop=3))}
    assert len(dirty) == 17 and set(dirty) < set(clean) and differences(clean, dirty) == {}


def test_injected_extras():
    sim, clean = busy_day()
    dirty = rows(sim.statement(DAY, extra=2))
    extras = [row for row in dirty if row["channel_txn_id"] not in clean]
    assert [(row["reference"], row["kind"], row["status"]) for row in extras] == [
        ("sim-extra-1", "recharge", "succeeded"), ("sim-extra-2", "recharge", "succeeded")]
    assert all(row["time"].startswith("2026-11-25T") and int(row["amount"]) > 0 for row in extras)
    assert [row["channel_txn_id"] for row in dirty] == sorted(row["channel_txn_id"] for row in dirty)


def test_injected_amount_changes():
    sim, clean = busy_day()
    dirty = {row["channel_txn_id"]: row for row in rows(sim.statement(DAY, change_amount=2))}
    changed = differences(clean, dirty)
    assert list(changed.values()) == [["amount"], ["amount"]]
    assert all(int(dirty[key]["amount"]) == int(clean[key]["amount"]) + 1 for key in changed)


def test_injected_status_changes():
    sim, clean = busy_day()
    dirty = {row["channel_txn_id"]: row for row in rows(sim.statement(DAY, change_status=4))}
    changed = differences(clean, dirty)
    assert list(changed.values()) == [["status"]] * 4
    flip = {"succeeded": "failed", "failed": "succeeded"}
    assert all(dirty[key]["status"] == flip[clean[key]["status"]] for key in changed)


def test_a_returned_row_is_not_flipped():
    sim = channel()
    pay(sim, "p1", Method.PAYOUT)
    sim.return_payout("p1")
    assert sim.statement(DAY, change_status=1) == sim.statement(DAY)


def test_injected_fee_changes():
    sim, clean = busy_day()
    dirty = {row["channel_txn_id"]: row for row in rows(sim.statement(DAY, change_fee=3))}
    changed = differences(clean, dirty)
    assert list(changed.values()) == [["fee"]] * 3
    assert all(int(dirty[key]["fee"]) == int(clean[key]["fee"]) + 1 for key in changed)


def test_injected_differences_together_are_deterministic_and_apart():
    sim, clean = busy_day()
    kwargs = {"drop": 2, "extra": 1, "change_amount": 1, "change_status": 1, "change_fee": 1}
    text = sim.statement(DAY, **kwargs)
    assert text == sim.statement(DAY, **kwargs)
    assert text == busy_day()[0].statement(DAY, **kwargs)
    dirty = {row["channel_txn_id"]: row for row in rows(text)}
    assert len(dirty) == 20 - 2 + 1
    assert sorted(differences(clean, dirty).values()) == [["amount"], ["fee"], ["status"]]  # three rows, one each
    assert sim.statement(DAY) == "\n".join([HEADER, *(",".join(row.values()) for row in clean.values()), ""])  # unchanged


def test_another_seed_injects_differences_elsewhere():
    sim, _ = busy_day()
    other = channel(seed=5, success_rate=0.7)
    for n in range(20):
        pay(other, f"r{n:02d}", amount=1_000 + n)

    def dropped(channel_):
        kept = {row["channel_txn_id"] for row in rows(channel_.statement(DAY, drop=5))}
        return {row["channel_txn_id"] for row in rows(channel_.statement(DAY))} - kept

    assert len(dropped(sim)) == len(dropped(other)) == 5 and dropped(sim) != dropped(other)


def test_more_differences_than_rows_is_fine():
    sim = channel()
    pay(sim, "r1")
    assert rows(sim.statement(DAY, drop=5, change_amount=5)) == []
    assert len(rows(sim.statement(DAY, change_amount=5, change_fee=5))) == 1


# -- threads -----------------------------------------------------------------------------


def test_concurrent_submits_make_one_transaction_per_reference():
    sim = channel(success_rate=0.5)
    agreement = verify(sim).agreement
    results = []

    def work(worker):
        for n in range(100):
            reference = f"r{(n + worker * 37) % 150}"  # overlapping references across threads
            results.append((reference, sim.submit(Submission(reference, Method.WITHHOLDING, 100, "CNY", "icbc", agreement))))

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    by_reference = {}
    for reference, result in results:
        assert by_reference.setdefault(reference, result) == result  # every answer for a reference the same
    ids = {result.channel_txn_id for result in by_reference.values()}
    assert ids == {sim.channel_txn_id(reference) for reference in by_reference}  # one each, none shared
    assert len(sim.statement_lines(DAY)) == len(by_reference)


def test_channel_transaction_ids_never_repeat_across_processes():
    """A restarted channel (a new process) gives the same id for the same reference, never an old one for a new one."""
    before, after = channel(), channel()
    assert pay(before, "r1").channel_txn_id == pay(after, "r1").channel_txn_id
    assert len({pay(after, f"r{n}").channel_txn_id for n in range(1, 200)}) == 199
