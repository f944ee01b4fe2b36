"""A simulated bank / payment channel: the built-in stand-in for real channels.

`SimulatedChannel` implements the `Gateway` protocol for tests and the demo.

Deterministic from a seed: every random decision about a transaction (does it
succeed, does the channel time out, which SMS code is sent) is drawn from
sha256(f"{seed}|{code}|{reference}|{purpose}"), never from a shared random
generator, so a reference's outcome does not depend on the order of calls.

What it plays:

- card verification (鉴权): Luhn, ID number and phone checks, then an agreement
  reference that stands for the card (the card number never comes back);
- withholding and payouts, final at once;
- auth_pay: an SMS code (`sms_code(reference)`) the payer confirms, at most
  3 wrong tries;
- personal and enterprise e-banking: a redirect, then a signed callback once the
  payer finished on the bank's site (`complete_redirects()`, `pending_callbacks()`);
- simulated timeouts: the transaction happened, the caller never heard; `query`
  tells the final outcome later;
- bank returns of payouts (退票, `return_payout(reference)`), by callback;
- the day's statement file, optionally with injected differences for
  reconciliation tests.

It keeps everything in memory, behind one lock: the API calls it from a thread pool.
The only I/O is the optional `time.sleep` that simulates the channel's latency.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ..domain import methods
from ..domain.instants import rfc3339
from ..domain.methods import Method
from . import wire
from .gateway import (
    Callback,
    CardVerification,
    ChannelUnavailable,
    Outcome,
    Result,
    StatementLine,
    Submission,
)
from .wire import luhn_valid as luhn_valid  # re-exported: the card check the simulated banks run

CARD_METHODS = frozenset(Method(method) for method in methods.CARD_METHODS)
EBANK_METHODS = frozenset(Method(method) for method in methods.EBANK_METHODS)
SMS_TRIES_MAX = 3


@dataclass
class _Txn:
    """One transaction as the channel sees it."""

    reference: str
    channel_txn_id: str
    method: Method
    amount: int
    bank: str
    fee: int  # charged only if it succeeds
    decided: Outcome  # what it will end as (SUCCEEDED or FAILED)
    outcome: Outcome  # what it is now
    message: str = ""  # why it failed
    final_at: datetime | None = None  # when it reached its (latest) final outcome
    wrong_codes: int = 0  # auth_pay: wrong SMS codes so far
    currency: str = "CNY"


def _utc(moment: datetime) -> datetime:
    """A clock reading in UTC (a naive one is taken as UTC already)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class SimulatedChannel:
    """An in-memory bank / payment channel satisfying `Gateway`, deterministic from `seed`."""

    def __init__(
        self,
        code: str,
        *,
        secret: bytes,
        seed: int = 0,
        success_rate: float = 1.0,
        bank_success_rates: dict[str, float] | None = None,
        latency_ms: int = 0,
        timeout_rate: float = 0.0,
        fee_rule: Callable[[Method, int], int] | None = None,
        clock: Callable[[], datetime] | None = None,
        statement_day: Callable[[datetime], date] | None = None,
    ) -> None:
        rates = {"success_rate": success_rate, "timeout_rate": timeout_rate, **(bank_success_rates or {})}
        for name, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name}: a rate is between 0 and 1, got {rate}")
        if latency_ms < 0:
            raise ValueError(f"latency_ms cannot be negative, got {latency_ms}")
        self.code = code
        self.seed = seed
        self.secret = secret
        self.success_rate = success_rate
        self.bank_success_rates = dict(bank_success_rates or {})
        self.latency_ms = latency_ms
        self.timeout_rate = timeout_rate
        self.fee_rule = fee_rule or (lambda method, amount: 0)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.statement_day = statement_day or (lambda moment: _utc(moment).date())  # the channel's business day
        self._lock = threading.Lock()
        self._txns: dict[str, _Txn] = {}  # reference -> transaction
        self._agreements: dict[str, str] = {}  # agreement -> bank
        self._callbacks: list[tuple[bytes, dict[str, str]]] = []

    # -- chance, from a hash -------------------------------------------------------------

    def _digest(self, reference: str, purpose: str) -> bytes:
        return hashlib.sha256(f"{self.seed}|{self.code}|{reference}|{purpose}".encode()).digest()

    def _draw(self, reference: str, purpose: str) -> float:
        """A number in [0, 1) fixed by (seed, code, reference, purpose)."""
        return int.from_bytes(self._digest(reference, purpose)[:8], "big") / 2**64

    def channel_txn_id(self, reference: str) -> str:
        """The channel's id of the transaction for our `reference`: the same in every process, for ever
        (a count from 1 would repeat after a restart and pair a statement line with the wrong payment)."""
        return f"{self.code}-{self._digest(reference, 'txn-id')[:8].hex()}"

    def notification_id(self, reference: str, outcome: Outcome) -> str:
        """One id per transaction and outcome, the same in every process: a repeat is recognisably one."""
        return f"{self.code}-n-{self._digest(reference, f'notify:{outcome.value}')[:8].hex()}"

    def sms_code(self, reference: str) -> str:
        """The 6-digit code the payer reads in the SMS (auth_pay)."""
        return f"{int.from_bytes(self._digest(reference, 'sms')[:8], 'big') % 1_000_000:06d}"

    def _wait(self) -> None:
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000)

    # -- the Gateway interface -------------------------------------------------------------

    def verify_card(self, request: CardVerification) -> Result:
        """鉴权: check the card, ID number and phone; on success, an agreement for the card."""
        self._wait()
        problem = wire.card_problem(request)
        if problem is not None:
            return Result(Outcome.FAILED, request.reference, message=problem)
        tag = hashlib.sha256(f"{self.seed}|{self.code}|card|{request.card_number}".encode()).hexdigest()[:12]
        agreement = f"{self.code}-agr-{tag}"
        with self._lock:
            self._agreements[agreement] = request.bank
        return Result(Outcome.SUCCEEDED, request.reference, agreement=agreement)

    def submit(self, request: Submission) -> Result:
        """Take a recharge or payout; a reference seen before gets that transaction's state."""
        self._wait()
        with self._lock:
            known = self._txns.get(request.reference)
            if known is not None:
                return self._result(known)
            if request.amount <= 0:
                return Result(Outcome.FAILED, request.reference, message="amount must be positive")
            if request.method in CARD_METHODS and request.agreement not in self._agreements:
                return Result(Outcome.FAILED, request.reference, message="unknown agreement")
            txn = self._new_txn(request)
            if self._draw(request.reference, "timeout") < self.timeout_rate:
                # It happened on the channel's side, but the answer is lost: PENDING until queried.
                raise ChannelUnavailable(f"{self.code} did not answer in time")
            if request.method == Method.AUTH_PAY:
                txn.outcome = Outcome.AWAITING_CONFIRMATION
            elif request.method not in EBANK_METHODS:  # withholding, payout: final at once
                self._finish(txn)
            return self._result(txn)  # e-banking stays PENDING: the payer is redirected

    def confirm(self, reference: str, sms_code: str) -> Result:
        """auth_pay: the payer's SMS code. A wrong one keeps it waiting, 3 wrong ones fail it."""
        self._wait()
        with self._lock:
            txn = self._txns.get(reference)
            if txn is None:
                return Result(Outcome.UNKNOWN, reference)
            if txn.outcome != Outcome.AWAITING_CONFIRMATION:
                return self._result(txn)
            if hmac.compare_digest(sms_code.encode(), self.sms_code(reference).encode()):
                self._finish(txn)
                return self._result(txn)
            txn.wrong_codes += 1
            if txn.wrong_codes >= SMS_TRIES_MAX:
                txn.decided, txn.fee, txn.message = Outcome.FAILED, 0, "too many wrong sms codes"
                self._finish(txn)
                return self._result(txn)
            return Result(Outcome.FAILED, reference, txn.channel_txn_id, message="wrong sms code")

    def query(self, reference: str) -> Result:
        """The transaction's state now; a timed-out or e-banking one has reached its end by now."""
        self._wait()
        with self._lock:
            txn = self._txns.get(reference)
            if txn is None:
                return Result(Outcome.UNKNOWN, reference)
            if txn.outcome == Outcome.PENDING:
                self._finish(txn)
                if txn.method in EBANK_METHODS:
                    self._queue_callback(txn)  # the bank notifies us anyway
            return self._result(txn)

    def parse_callback(self, body: bytes, headers: dict[str, str]) -> Callback:
        """Verify the signature and read the notification; anything wrong is a ForgedCallback."""
        return wire.parse_callback(body, headers, self.sign(body))

    def statement(
        self,
        day: date,
        *,
        currency: str | None = None,
        drop: int = 0,
        extra: int = 0,
        change_amount: int = 0,
        change_status: int = 0,
        change_fee: int = 0,
        late: int = 0,
    ) -> str:
        """The day's statement CSV (of one currency, or all), optionally with differences for
        reconciliation to find: `drop` rows left out, `extra` rows for transactions we never
        heard of, and `change_amount` / `change_status` / `change_fee` rows altered (amount +1,
        succeeded <-> failed, fee +1). `late` rows of the day come a day late: left out of this
        file, they are on the next day's (so this file also has the `late` rows the day before
        sent late, when the channel knows that day). Which rows is fixed by the seed; each row
        gets at most one difference."""
        lines = self.statement_lines(day, currency)
        held = self._late(day, late, currency)
        remaining = sorted((line for line in lines if line.channel_txn_id not in held),
                           key=lambda line: self._draw(line.channel_txn_id, f"statement|{day.isoformat()}"))

        rows = wire.with_differences(lines, held, remaining, drop=drop, change_status=change_status,
                                     change_amount=change_amount, change_fee=change_fee)
        previous = day - timedelta(days=1)
        if late and day > date.min:
            rows += [line for line in self.statement_lines(previous, currency)
                     if line.channel_txn_id in self._late(previous, late, currency)]
        noon = datetime(day.year, day.month, day.day, 12, 0, tzinfo=UTC)
        for k in range(1, extra + 1):
            # The channel's own id differs by day: an extra row is a new transaction each day.
            rows.append(StatementLine(f"{self.code}-x{day:%Y%m%d}-{k:04d}", f"sim-extra-{k}", "recharge", 1_000 + k, 0,
                                      "succeeded", noon))
        return wire.statement_csv(rows)

    def _late(self, day: date, count: int, currency: str | None) -> set[str]:
        """The channel txn ids of the `count` rows of `day` that come a day late."""
        if count <= 0:
            return set()
        lines = sorted(self.statement_lines(day, currency),
                       key=lambda line: self._draw(line.channel_txn_id, f"late|{day.isoformat()}"))
        return {line.channel_txn_id for line in lines[:count]}

    # -- what the simulation offers besides -------------------------------------------------

    def statement_lines(self, day: date, currency: str | None = None) -> list[StatementLine]:
        """Every transaction (in `currency`, or any) whose final outcome happened on business `day`,
        by channel_txn_id."""
        with self._lock:
            finished = [txn for txn in self._txns.values()
                        if txn.final_at is not None and self.statement_day(txn.final_at) == day
                        and currency in (None, txn.currency)]
        finished.sort(key=lambda txn: txn.channel_txn_id)
        return [
            StatementLine(
                channel_txn_id=txn.channel_txn_id,
                reference=txn.reference,
                kind="payout" if txn.method == Method.PAYOUT else "recharge",
                amount=txn.amount,
                fee=txn.fee if txn.outcome != Outcome.FAILED else 0,
                status=txn.outcome.value,
                time=_utc(txn.final_at),  # type: ignore[arg-type]  # not None: `finished` kept only those with one
            )
            for txn in finished
        ]

    def restore(self, reference: str, method: Method | str, amount: int, fee: int, outcome: str, final_at: datetime,
                *, currency: str = "CNY", bank: str = "") -> None:
        """Take back a transaction this channel finished in an earlier process (the simulator keeps
        nothing on disk): the demo restores yesterday's, so that yesterday's late rows reach today's file."""
        with self._lock:
            if reference in self._txns:
                return
            final = Outcome(outcome)
            self._txns[reference] = _Txn(
                reference=reference, channel_txn_id=self.channel_txn_id(reference), method=Method(method),
                amount=amount, bank=bank, fee=fee, decided=Outcome.FAILED if final == Outcome.FAILED else Outcome.SUCCEEDED,
                outcome=final, final_at=final_at, currency=currency,
            )

    def complete_redirects(self) -> None:
        """Every payer sent to the bank's site finishes: each result goes out by callback."""
        with self._lock:
            for txn in self._txns.values():
                if txn.method in EBANK_METHODS and txn.outcome == Outcome.PENDING:
                    self._finish(txn)
                    self._queue_callback(txn)

    def return_payout(self, reference: str) -> None:
        """The receiving bank sends a succeeded payout back (退票); a callback says so."""
        with self._lock:
            txn = self._txns.get(reference)
            if txn is None or txn.method != Method.PAYOUT or txn.outcome != Outcome.SUCCEEDED:
                raise ValueError(f"{self.code}: no succeeded payout {reference!r} to return")
            txn.outcome, txn.final_at = Outcome.RETURNED, self.clock()
            self._queue_callback(txn)

    def pending_callbacks(self) -> list[tuple[bytes, dict[str, str]]]:
        """The signed notifications (body, headers) the channel would POST to us now; then forgets them."""
        with self._lock:
            callbacks, self._callbacks = self._callbacks, []
        return callbacks

    def sign(self, body: bytes) -> str:
        """The hex HMAC-SHA256 of `body` under the channel's secret."""
        return hmac.new(self.secret, body, hashlib.sha256).hexdigest()

    # -- inside (the caller holds the lock) -------------------------------------------------

    def _new_txn(self, request: Submission) -> _Txn:
        rate = self.bank_success_rates.get(request.bank, self.success_rate)
        succeeds = self._draw(request.reference, "success") < rate
        txn = _Txn(
            reference=request.reference,
            channel_txn_id=self.channel_txn_id(request.reference),
            method=request.method,
            amount=request.amount,
            bank=request.bank,
            fee=self.fee_rule(request.method, request.amount) if succeeds else 0,
            decided=Outcome.SUCCEEDED if succeeds else Outcome.FAILED,
            outcome=Outcome.PENDING,
            message="" if succeeds else "declined by bank",
            currency=request.currency,
        )
        self._txns[request.reference] = txn
        return txn

    def _finish(self, txn: _Txn) -> None:
        txn.outcome, txn.final_at = txn.decided, self.clock()

    def _queue_callback(self, txn: _Txn) -> None:
        body = json.dumps({
            "reference": txn.reference,
            "channel_txn_id": txn.channel_txn_id,
            "outcome": txn.outcome.value,
            "amount": txn.amount,
            "fee": txn.fee if txn.outcome != Outcome.FAILED else 0,
            "notification_id": self.notification_id(txn.reference, txn.outcome),
            "sent_at": rfc3339(self.clock()),
        }).encode()
        self._callbacks.append((body, {wire.SIGNATURE_HEADER: self.sign(body)}))

    def _result(self, txn: _Txn) -> Result:
        if txn.method in EBANK_METHODS and txn.outcome == Outcome.PENDING:
            redirect_url = f"https://sim.{self.code}.bank/pay/{txn.channel_txn_id}"
            return Result(Outcome.REDIRECT, txn.reference, txn.channel_txn_id, redirect_url=redirect_url)
        return Result(
            outcome=txn.outcome,
            reference=txn.reference,
            channel_txn_id=txn.channel_txn_id,
            fee=txn.fee if txn.outcome in (Outcome.SUCCEEDED, Outcome.RETURNED) else 0,
            message=txn.message if txn.outcome == Outcome.FAILED else "",
        )
