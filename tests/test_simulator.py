"""The channel simulator: deterministic, and faithful to the Gateway interface."""

import csv
import io
from datetime import UTC, date, datetime

import pytest

from ledger.channels.gateway import CardVerification, ChannelUnavailable, ForgedCallback, Method, Outcome, Submission
from ledger.channels.simulator import SimulatedChannel, luhn_valid

CARD = "6222020200112233446"
DAY = date(2026, 11, 25)
clock = lambda: datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # noqa: E731


def channel(**kwargs):
    return SimulatedChannel("sim", clock=clock, fee_rule=lambda method, amount: amount // 100, **kwargs)


def agreement(sim, card=CARD):
    result = sim.verify_card(CardVerification("b", "icbc", "Li", "110101199003077777", card, "13812345678"))
    return result.agreement


def pay(sim, reference, method=Method.WITHHOLDING, amount=10_000):
    return sim.submit(Submission(reference, method, amount, "CNY", "icbc", agreement(sim)))


def test_outcomes_are_decided_by_the_seed_not_by_call_order():
    references = [f"r{n}" for n in range(200)]
    one, two = channel(seed=1, success_rate=0.5), channel(seed=1, success_rate=0.5)
    first = {r: pay(one, r).outcome for r in references}
    second = {r: pay(two, r).outcome for r in reversed(references)}
    assert first == second
    assert 60 < sum(o == Outcome.SUCCEEDED for o in first.values()) < 140
    other = channel(seed=2, success_rate=0.5)
    assert {r: pay(other, r).outcome for r in references} != first


def test_success_rates_per_bank():
    sim = channel(success_rate=1.0, bank_success_rates={"icbc": 0.0})
    assert pay(sim, "r1").outcome == Outcome.FAILED
    assert pay(channel(success_rate=1.0), "r1").outcome == Outcome.SUCCEEDED


@pytest.mark.parametrize(
    "card, id_number, phone, message",
    [
        ("6222020200112233445", "110101199003077777", "13812345678", "invalid card number"),
        ("12345", "110101199003077777", "13812345678", "invalid card number"),
        (CARD, "11010119900307777", "13812345678", "invalid id number"),
        (CARD, "110101199003077777", "1381234567", "invalid phone number"),
    ],
)
def test_card_verification_checks(card, id_number, phone, message):
    result = channel().verify_card(CardVerification("b", "icbc", "Li", id_number, card, phone))
    assert (result.outcome, result.message, result.agreement) == (Outcome.FAILED, message, None)


def test_verification_gives_an_agreement_not_the_card():
    result = channel().verify_card(CardVerification("b", "icbc", "Li", "11010119900307777X", CARD, "13812345678"))
    assert result.outcome == Outcome.SUCCEEDED and result.agreement.startswith("sim-agr-")
    assert CARD not in result.agreement and luhn_valid(CARD)


def test_submit_is_idempotent_and_needs_a_known_agreement():
    sim = channel()
    first = pay(sim, "r1")
    assert (first.outcome, first.fee) == (Outcome.SUCCEEDED, 100)
    assert pay(sim, "r1") == first
    unknown = sim.submit(Submission("r2", Method.WITHHOLDING, 100, "CNY", "icbc", "nope"))
    assert (unknown.outcome, unknown.message) == (Outcome.FAILED, "unknown agreement")


def test_auth_pay_takes_the_right_code_and_fails_after_three_wrong_ones():
    sim = channel()
    assert pay(sim, "r1", Method.AUTH_PAY).outcome == Outcome.AWAITING_CONFIRMATION
    assert sim.confirm("r1", "bad").message == "wrong sms code"
    assert sim.query("r1").outcome == Outcome.AWAITING_CONFIRMATION
    assert sim.confirm("r1", sim.sms_code("r1")).outcome == Outcome.SUCCEEDED
    pay(sim, "r2", Method.AUTH_PAY)
    for _ in range(3):
        last = sim.confirm("r2", "bad")
    assert last.outcome == Outcome.FAILED and sim.query("r2").outcome == Outcome.FAILED


def test_ebank_redirects_and_reports_by_signed_callback():
    sim = channel()
    result = sim.submit(Submission("r1", Method.PERSONAL_EBANK, 5_000, "CNY", "icbc"))
    assert result.outcome == Outcome.REDIRECT and result.redirect_url.endswith(result.channel_txn_id)
    assert sim.pending_callbacks() == []
    sim.complete_redirects()
    [(body, headers)] = sim.pending_callbacks()
    callback = sim.parse_callback(body, {k.lower(): v for k, v in headers.items()})
    assert (callback.reference, callback.outcome, callback.amount, callback.fee) == ("r1", Outcome.SUCCEEDED, 5_000, 50)
    assert sim.parse_callback(body, headers) == callback
    for bad_body, bad_headers in [(body.replace(b"5000", b"5001"), headers), (body, {}), (body, {"X-Sim-Signature": "00"}),
                                  (b"not json", {"X-Sim-Signature": sim.sign(b"not json")})]:
        with pytest.raises(ForgedCallback):
            sim.parse_callback(bad_body, bad_headers)


def test_payout_and_its_return():
    sim = channel()
    assert pay(sim, "p1", Method.PAYOUT).outcome == Outcome.SUCCEEDED
    sim.return_payout("p1")
    [(body, headers)] = sim.pending_callbacks()
    assert sim.parse_callback(body, headers).outcome == Outcome.RETURNED
    with pytest.raises(ValueError):
        sim.return_payout("p1")


def test_a_timeout_is_answered_later_by_query():
    sim = channel(timeout_rate=1.0)
    with pytest.raises(ChannelUnavailable):
        pay(sim, "r1")
    assert sim.query("r1").outcome == Outcome.SUCCEEDED
    assert sim.query("nobody").outcome == Outcome.UNKNOWN


def test_the_statement_and_its_injected_differences():
    sim = channel()
    for n in range(10):
        pay(sim, f"r{n}")
    pay(sim, "p1", Method.PAYOUT)
    clean = list(csv.DictReader(io.StringIO(sim.statement(DAY))))
    assert len(clean) == 11 and clean[0] == {
        "channel_txn_id": "sim-00000001", "reference": "r0", "kind": "recharge", "amount": "10000", "fee": "100",
        "status": "succeeded", "time": "2026-11-25T10:00:00Z",
    }
    assert clean[-1]["kind"] == "payout"
    assert sim.statement(date(2026, 11, 24)).count("\n") == 1  # the header only
    dirty = {r["reference"]: r for r in csv.DictReader(io.StringIO(
        sim.statement(DAY, drop=2, extra=1, change_amount=1, change_status=1, change_fee=1)))}
    by_ref = {r["reference"]: r for r in clean}
    assert len(dirty) == 11 - 2 + 1 and "sim-extra-1" in dirty
    changed = [ref for ref, row in dirty.items() if ref in by_ref and row != by_ref[ref]]
    assert len(changed) == 3
    assert sim.statement(DAY, drop=2, change_fee=1) == sim.statement(DAY, drop=2, change_fee=1)
