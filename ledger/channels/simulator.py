"""A simulated bank / payment channel: the built-in stand-in for real channels.

Deterministic from a seed: every random decision about a transaction is drawn
from a hash of (seed, channel, reference, purpose), never from a shared random
generator, so a reference's outcome does not depend on the order of calls.
It plays: card verification (鉴权) with Luhn, ID and phone checks; withholding
and payouts that settle at once; auth_pay with SMS codes; e-banking redirects
whose result arrives by signed callback; simulated timeouts, settled later by
query; bank returns (退票) of payouts; and the day's statement file, optionally
with injected differences for reconciliation tests.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime


from .gateway import (
    Callback, CardVerification, ChannelUnavailable, ForgedCallback, Method, Outcome, Result, StatementLine, Submission,
)

SIGNATURE_HEADER = "X-Sim-Signature"
CARD_METHODS = (Method.WITHHOLDING, Method.AUTH_PAY, Method.PAYOUT)
EBANK_METHODS = (Method.PERSONAL_EBANK, Method.ENTERPRISE_EBANK)
SMS_TRIES_MAX = 3


@dataclass
class _Txn:
    reference: str
    channel_txn_id: str
    method: Method
    amount: int
    bank: str
    fee: int
    decided: Outcome  # what it will end as
    outcome: Outcome  # what it is now
    final_at: datetime | None = None
    wrong_codes: int = 0
    message: str = ""


def luhn_valid(number: str) -> bool:
    total = 0
    for i, digit in enumerate(int(d) for d in reversed(number)):
        doubled = digit * 2 if i % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


class SimulatedChannel:
    def __init__(
        self, code: str, *, seed: int = 0, secret: bytes = b"simulator-secret", success_rate: float = 1.0,
        bank_success_rates: dict[str, float] | None = None, latency_ms: int = 0, timeout_rate: float = 0.0,
        fee_rule: Callable[[Method, int], int] | None = None, clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.code, self.seed, self.secret = code, seed, secret
        self.success_rate, self.bank_success_rates = success_rate, bank_success_rates or {}
        self.latency_ms, self.timeout_rate = latency_ms, timeout_rate
        self.fee_rule = fee_rule or (lambda method, amount: 0)
        self.clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._txns: dict[str, _Txn] = {}
        self._agreements: dict[str, str] = {}  # agreement -> bank
        self._callbacks: list[tuple[bytes, dict[str, str]]] = []
        self._notifications = 0

    # -- chance, from a hash ---------------------------------------------------------------

    def _draw(self, reference: str, purpose: str) -> float:
        digest = hashlib.sha256(f"{self.seed}|{self.code}|{reference}|{purpose}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def sms_code(self, reference: str) -> str:
        """The code the payer would read in the SMS (auth_pay)."""
        return f"{int(self._draw(reference, 'sms') * 1_000_000):06d}"

    def _wait(self) -> None:
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000)

    # -- the Gateway interface ----------------------------------------------------------------

    def verify_card(self, request: CardVerification) -> Result:
        self._wait()
        reason = None
        if not re.fullmatch(r"\d{12,19}", request.card_number) or not luhn_valid(request.card_number):
            reason = "invalid card number"
        elif not re.fullmatch(r"\d{17}[\dX]", request.id_number.upper()):
            reason = "invalid id number"
        elif not re.fullmatch(r"\d{11}", request.phone):
            reason = "invalid phone number"
        if reason:
            return Result(Outcome.FAILED, request.reference, message=reason)
        digest = hashlib.sha256(f"{self.seed}|{self.code}|{request.card_number}".encode()).hexdigest()[:12]
        agreement = f"{self.code}-agr-{digest}"
        with self._lock:
            self._agreements[agreement] = request.bank
        return Result(Outcome.SUCCEEDED, request.reference, agreement=agreement)

    def submit(self, request: Submission) -> Result:
        self._wait()
        with self._lock:
            known = self._txns.get(request.reference)
            if known is not None:
                return self._result(known)
            if request.amount <= 0:
                return Result(Outcome.FAILED, request.reference, message="invalid amount")
            if request.method in CARD_METHODS and request.agreement not in self._agreements:
                return Result(Outcome.FAILED, request.reference, message="unknown agreement")
            rate = self.bank_success_rates.get(request.bank, self.success_rate)
            decided = Outcome.SUCCEEDED if self._draw(request.reference, "success") < rate else Outcome.FAILED
            txn = _Txn(
                request.reference, f"{self.code}-{len(self._txns) + 1:08d}", request.method, request.amount,
                request.bank, self.fee_rule(request.method, request.amount) if decided == Outcome.SUCCEEDED else 0,
                decided, Outcome.PENDING, message="" if decided == Outcome.SUCCEEDED else "declined by bank",
            )
            self._txns[request.reference] = txn
            if self._draw(request.reference, "timeout") < self.timeout_rate:
                raise ChannelUnavailable(f"{self.code} did not answer in time")
            if request.method == Method.AUTH_PAY:
                txn.outcome = Outcome.AWAITING_CONFIRMATION
            elif request.method not in EBANK_METHODS:
                self._finish(txn)
            return self._result(txn)

    def confirm(self, reference: str, sms_code: str) -> Result:
        self._wait()
        with self._lock:
            txn = self._txns.get(reference)
            if txn is None:
                return Result(Outcome.UNKNOWN, reference)
            if txn.outcome != Outcome.AWAITING_CONFIRMATION:
                return self._result(txn)
            if not hmac.compare_digest(sms_code, self.sms_code(reference)):
                txn.wrong_codes += 1
                if txn.wrong_codes >= SMS_TRIES_MAX:
                    txn.decided, txn.fee, txn.message = Outcome.FAILED, 0, "too many wrong sms codes"
                    self._finish(txn)
                    return self._result(txn)
                return Result(Outcome.FAILED, reference, txn.channel_txn_id, message="wrong sms code")
            self._finish(txn)
            return self._result(txn)

    def query(self, reference: str) -> Result:
        self._wait()
        with self._lock:
            txn = self._txns.get(reference)
            if txn is None:
                return Result(Outcome.UNKNOWN, reference)
            if txn.outcome == Outcome.PENDING:  # a timeout or an e-banking payment: it has an end by now
                self._finish(txn)
            return self._result(txn)

    def parse_callback(self, body: bytes, headers: dict[str, str]) -> Callback:
        signature = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), "")
        if not signature or not hmac.compare_digest(signature, self.sign(body)):
            raise ForgedCallback("bad or missing signature")
        try:
            data = json.loads(body)
            return Callback(str(data["reference"]), str(data["channel_txn_id"]), Outcome(data["outcome"]),
                            int(data["amount"]), int(data["fee"]), str(data["notification_id"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ForgedCallback(f"malformed callback: {error}") from None

    def statement(self, day: date, *, drop: int = 0, extra: int = 0, change_amount: int = 0,
                  change_status: int = 0, change_fee: int = 0) -> str:
        lines = self.statement_lines(day)
        chosen = sorted(lines, key=lambda line: self._draw(line.reference, f"diff-{day}"))
        dropped = {line.reference for line in chosen[:drop]}
        changes = chosen[drop:]
        amounts = {line.reference for line in changes[:change_amount]}
        statuses = {line.reference for line in changes[change_amount:change_amount + change_status]}
        fees = {line.reference for line in changes[change_amount + change_status:change_amount + change_status + change_fee]}
        out = []
        for line in lines:
            if line.reference in dropped:
                continue
            if line.reference in amounts:
                line = replace(line, amount=line.amount + 1)
            if line.reference in statuses:
                line = replace(line, status="failed" if line.status == "succeeded" else "succeeded")
            if line.reference in fees:
                line = replace(line, fee=line.fee + 1)
            out.append(line)
        when = datetime(day.year, day.month, day.day, 23, 0, tzinfo=UTC)
        out += [StatementLine(f"{self.code}-x{k:07d}", f"sim-extra-{k}", "recharge", 1_000 + k, 0, "succeeded", when)
                for k in range(1, extra + 1)]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["channel_txn_id", "reference", "kind", "amount", "fee", "status", "time"])
        for line in out:
            writer.writerow([line.channel_txn_id, line.reference, line.kind, line.amount, line.fee, line.status,
                             line.time.astimezone(UTC).isoformat().replace("+00:00", "Z")])
        return buffer.getvalue()

    # -- what the simulation offers besides ---------------------------------------------------

    def statement_lines(self, day: date) -> list[StatementLine]:
        with self._lock:
            txns = sorted((t for t in self._txns.values() if t.final_at and t.final_at.date() == day),
                          key=lambda t: t.channel_txn_id)
        return [
            StatementLine(t.channel_txn_id, t.reference, "payout" if t.method == Method.PAYOUT else "recharge",
                          t.amount, t.fee, t.outcome.value, t.final_at)  # type: ignore[arg-type]
            for t in txns
        ]

    def complete_redirects(self) -> None:
        """Every payer sent to the bank's site finishes paying: results go out by callback."""
        with self._lock:
            for txn in self._txns.values():
                if txn.method in EBANK_METHODS and txn.outcome == Outcome.PENDING:
                    self._finish(txn)
                    self._queue(txn, txn.outcome)

    def return_payout(self, reference: str) -> None:
        """The receiving bank sends a succeeded payout back (退票)."""
        with self._lock:
            txn = self._txns.get(reference)
            if txn is None or txn.method != Method.PAYOUT or txn.outcome != Outcome.SUCCEEDED:
                raise ValueError(f"no succeeded payout {reference!r} to return")
            txn.outcome, txn.final_at = Outcome.RETURNED, self.clock()
            self._queue(txn, Outcome.RETURNED)

    def pending_callbacks(self) -> list[tuple[bytes, dict[str, str]]]:
        """The signed notifications the channel would POST to us now (and forgets)."""
        with self._lock:
            callbacks, self._callbacks = self._callbacks, []
        return callbacks

    def sign(self, body: bytes) -> str:
        return hmac.new(self.secret, body, hashlib.sha256).hexdigest()

    # -- inside -------------------------------------------------------------------------------

    def _finish(self, txn: _Txn) -> None:
        txn.outcome, txn.final_at = txn.decided, self.clock()

    def _queue(self, txn: _Txn, outcome: Outcome) -> None:
        self._notifications += 1
        body = json.dumps({
            "reference": txn.reference, "channel_txn_id": txn.channel_txn_id, "outcome": outcome.value,
            "amount": txn.amount, "fee": txn.fee, "notification_id": f"{self.code}-n-{self._notifications}",
            "sent_at": self.clock().isoformat(),
        }).encode()
        self._callbacks.append((body, {SIGNATURE_HEADER: self.sign(body)}))

    def _result(self, txn: _Txn) -> Result:
        redirect = f"https://sim.{self.code}.bank/pay/{txn.channel_txn_id}" if txn.method in EBANK_METHODS else None
        if txn.outcome == Outcome.PENDING and txn.method in EBANK_METHODS:
            return Result(Outcome.REDIRECT, txn.reference, txn.channel_txn_id, redirect_url=redirect)
        fee = txn.fee if txn.outcome in (Outcome.SUCCEEDED, Outcome.RETURNED) else 0
        return Result(txn.outcome, txn.reference, txn.channel_txn_id, fee, txn.message if txn.outcome == Outcome.FAILED else "")


